"""Protocol tests for the repository catalog (`/v2/_catalog`) and its visibility rules.

The registry is shared by the whole session, so these tests page from a
`last` marker just before repositories they create, or walk the full catalog
and look for their own names.
"""

from __future__ import annotations

import httpx

from tests.e2e.protocol_helpers import (
    collect_pages,
    describe,
    next_link,
    push_image,
    unique_name,
    unique_repository,
)
from tests.support.seed import create_project
from tests.support.server import RunningRegistry


def repositories_with_prefix(
    client: httpx.Client, prefix: str, count: int
) -> list[str]:
    """Push one image to each of `count` repositories named `prefix-0`, `prefix-1`, ..."""
    names = [f"{prefix}-{number}" for number in range(count)]
    for name in names:
        push_image(client, name, "v1")
    return names


def full_catalog(client: httpx.Client) -> list[str]:
    return collect_pages(client, "/v2/_catalog", "repositories", {"n": "100"})


def test_catalog_lists_repository(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get("/v2/_catalog")

    assert response.status_code == 200, describe(response)
    assert response.headers["Content-Type"].startswith("application/json")
    assert repository in full_catalog(admin_client)


def test_catalog_sorted(admin_client: httpx.Client) -> None:
    repositories_with_prefix(admin_client, unique_repository(), 3)

    names = full_catalog(admin_client)

    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_catalog_page_size(admin_client: httpx.Client) -> None:
    prefix = unique_repository()
    names = repositories_with_prefix(admin_client, prefix, 3)

    response = admin_client.get("/v2/_catalog", params={"n": "2", "last": prefix})

    assert response.status_code == 200, describe(response)
    assert response.json()["repositories"] == names[:2]


def test_catalog_link_header(admin_client: httpx.Client) -> None:
    prefix = unique_repository()
    names = repositories_with_prefix(admin_client, prefix, 3)

    response = admin_client.get("/v2/_catalog", params={"n": "2", "last": prefix})

    link = next_link(response)
    assert link is not None, describe(response)
    target = httpx.URL(link)
    assert target.path == "/v2/_catalog"
    assert target.params.get("n") == "2"
    assert target.params.get("last") == names[1]


def test_catalog_follow_link(admin_client: httpx.Client) -> None:
    prefix = unique_repository()
    names = repositories_with_prefix(admin_client, prefix, 3)
    first = admin_client.get("/v2/_catalog", params={"n": "2", "last": prefix})
    link = next_link(first)
    assert link is not None, describe(first)

    response = admin_client.get(link)

    assert response.status_code == 200, describe(response)
    assert response.json()["repositories"][0] == names[2]


def test_catalog_last(admin_client: httpx.Client) -> None:
    prefix = unique_repository()
    names = repositories_with_prefix(admin_client, prefix, 3)

    response = admin_client.get("/v2/_catalog", params={"n": "5", "last": names[0]})

    assert response.status_code == 200, describe(response)
    assert response.json()["repositories"][:2] == names[1:]


def test_catalog_nested_repository(admin_client: httpx.Client) -> None:
    repository = f"{unique_repository()}/team/app"
    push_image(admin_client, repository, "v1")

    assert repository in full_catalog(admin_client)


def test_catalog_anonymous_lists_public(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = anonymous_client.get("/v2/_catalog", params={"n": "1"})

    assert response.status_code == 200, describe(response)
    assert repository in full_catalog(anonymous_client)


def test_catalog_admin_sees_private(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = unique_name("private")
    create_project(registry, project, public=False)
    repository = unique_repository(project)
    push_image(admin_client, repository, "v1")

    assert repository in full_catalog(admin_client)


def test_catalog_anonymous_public_only(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = unique_name("private")
    create_project(registry, project, public=False)
    private = unique_repository(project)
    push_image(admin_client, private, "v1")
    public = unique_repository()
    push_image(admin_client, public, "v1")

    names = full_catalog(anonymous_client)

    assert public in names
    assert private not in names
    assert all(not name.startswith(f"{project}/") for name in names)


def test_catalog_anonymous_link_stays_public(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    """Pages after a private repository's name still list only public repositories."""
    project = unique_name("private")
    create_project(registry, project, public=False)
    private = unique_repository(project)
    push_image(admin_client, private, "v1")

    names = collect_pages(
        anonymous_client, "/v2/_catalog", "repositories", {"n": "1", "last": project}
    )

    assert private not in names
    assert names == sorted(names)


def test_catalog_deleted_manifest_keeps_repository(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")
    remaining = push_image(admin_client, repository, "v2")
    admin_client.delete(f"/v2/{repository}/manifests/v1")

    assert repository in full_catalog(admin_client)
    assert (
        admin_client.get(f"/v2/{repository}/manifests/{remaining.digest}").status_code
        == 200
    )
