"""Protocol tests for listing tags (`/v2/<name>/tags/list`) with `n`/`last` pagination."""

from __future__ import annotations

import httpx

from tests.e2e.protocol_helpers import (
    assert_error,
    collect_pages,
    describe,
    image_manifest,
    next_link,
    push_image,
    push_manifest,
    unique_repository,
)

# Deliberately unsorted, mixing case and digits, so that the order returned
# by the registry is its own. Sorted in byte order (Go's `sort.Strings`):
# "1.0", "10", "2", "B", "a", "a-1", "latest".
TAGS = ["latest", "B", "a", "2", "10", "1.0", "a-1"]


def tagged_repository(client: httpx.Client, tags: list[str]) -> str:
    """Push one manifest to a new repository under every tag in `tags`."""
    repository = unique_repository()
    manifest = image_manifest(client, repository)
    for tag in tags:
        push_manifest(client, repository, manifest, tag)
    return repository


def link_target(response: httpx.Response) -> httpx.URL:
    link = next_link(response)
    assert link is not None, describe(response)
    return httpx.URL(link)


def test_tags_list(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert response.status_code == 200, describe(response)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"name": repository, "tags": sorted(TAGS)}


def test_tags_list_byte_order(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert response.json()["tags"] == ["1.0", "10", "2", "B", "a", "a-1", "latest"]


def test_tags_list_distinct_manifests(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "one")
    push_image(admin_client, repository, "two")

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert response.json()["tags"] == ["one", "two"]


def test_tags_first_page(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"n": "2"})

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["1.0", "10"]


def test_tags_link_header(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"n": "2"})

    target = link_target(response)
    assert target.path == f"/v2/{repository}/tags/list"
    assert target.params.get("n") == "2"
    assert target.params.get("last") == "10"


def test_tags_next_page(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(
        f"/v2/{repository}/tags/list", params={"n": "2", "last": "10"}
    )

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["2", "B"]


def test_tags_last_page(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(
        f"/v2/{repository}/tags/list", params={"n": "5", "last": "a"}
    )

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["a-1", "latest"]
    assert "Link" not in response.headers


def test_tags_follow_links(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    tags = collect_pages(
        admin_client, f"/v2/{repository}/tags/list", "tags", {"n": "3"}
    )

    assert tags == sorted(TAGS)


def test_tags_last_without_n(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"last": "B"})

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["a", "a-1", "latest"]


def test_tags_last_not_a_tag(admin_client: httpx.Client) -> None:
    """`last` is a position in the sort order, so it need not name an existing tag."""
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"last": "3"})

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["B", "a", "a-1", "latest"]


def test_tags_last_after_all(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"last": "zzz"})

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == []


def test_tags_n_zero(admin_client: httpx.Client) -> None:
    """With `n=0` the registry must return an empty list and no Link header."""
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"n": "0"})

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == []
    assert "Link" not in response.headers


def test_tags_n_exceeds_count(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"n": "100"})

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == sorted(TAGS)
    assert "Link" not in response.headers


def test_tags_n_equals_count(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, TAGS)

    response = admin_client.get(
        f"/v2/{repository}/tags/list", params={"n": str(len(TAGS))}
    )

    assert response.json()["tags"] == sorted(TAGS)


def test_tags_untagged_repository(admin_client: httpx.Client) -> None:
    """A repository that holds only untagged manifests exists and has an empty tag list."""
    repository = unique_repository()
    push_image(admin_client, repository)

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert response.status_code == 200, describe(response)
    assert response.json() == {"name": repository, "tags": []}


def test_tags_after_tag_delete(admin_client: httpx.Client) -> None:
    repository = tagged_repository(admin_client, ["keep", "drop"])
    deleted = admin_client.delete(f"/v2/{repository}/manifests/drop")

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert deleted.status_code == 202, describe(deleted)
    assert response.json()["tags"] == ["keep"]


def test_tags_after_manifest_delete(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    remaining = push_image(admin_client, repository, "kept")
    dropped = push_image(admin_client, repository, "dropped")
    push_manifest(admin_client, repository, dropped, "dropped-too")
    deleted = admin_client.delete(f"/v2/{repository}/manifests/{dropped.digest}")

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert deleted.status_code == 202, describe(deleted)
    assert response.json()["tags"] == ["kept"]
    assert (
        admin_client.get(f"/v2/{repository}/manifests/{remaining.digest}").status_code
        == 200
    )


def test_tags_nested_repository(admin_client: httpx.Client) -> None:
    repository = f"{unique_repository()}/team/app"
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert response.status_code == 200, describe(response)
    assert response.json() == {"name": repository, "tags": ["v1"]}


def test_tags_unknown_repository(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"/v2/{unique_repository()}/tags/list")

    assert_error(response, 404, "NAME_UNKNOWN")


def test_tags_anonymous_public(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = tagged_repository(admin_client, ["v1"])

    response = anonymous_client.get(f"/v2/{repository}/tags/list")

    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["v1"]


def test_tags_max_length_tag(admin_client: httpx.Client) -> None:
    """A tag may be up to 128 characters long."""
    tag = "t" + "0123456789abcdef" * 7 + "x" * 15
    repository = tagged_repository(admin_client, [tag])

    response = admin_client.get(f"/v2/{repository}/tags/list")

    assert len(tag) == 128
    assert response.json()["tags"] == [tag]


def test_tags_parent_not_repository(admin_client: httpx.Client) -> None:
    """Pushing `a/b/c` creates that repository only, not its parent path `a/b`."""
    parent = unique_repository()
    push_image(admin_client, f"{parent}/child", "v1")

    response = admin_client.get(f"/v2/{parent}/tags/list")

    assert_error(response, 404, "NAME_UNKNOWN")
