"""Protocol tests for unusual input: names, references, digests, paths and parameters.

A malformed request must end in a 4xx reply with an OCI error body, never in
a server error and never in a success. The unusual but valid names near the
top must work like any other name.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    OCI_MANIFEST,
    Manifest,
    assert_error,
    describe,
    digest_of,
    error_codes,
    error_messages,
    image_manifest,
    push_image,
    put_manifest,
    random_bytes,
    unique_name,
    unique_repository,
)

INVALID_NAMES = [
    "library/Alpine",
    "LIBRARY/alpine",
    "library/a..b",
    "library/a//b",
    "library/a/",
    "library/-a",
    "library/a-",
    "library/.a",
    "library/a_",
    "library/a___b",
    "library/a.-b",
    "library/_catalog",
    "library/a%20b",
    "library/a%00b",
    "library/caf%C3%A9",
    "library/a%2e%2e",
    "library/%2e%2e/x",
    "library/..%2fprivate/x",
]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_name_invalid_tags(admin_client: httpx.Client, name: str) -> None:
    response = admin_client.get(f"/v2/{name}/tags/list")

    assert_error(response, 400, "NAME_INVALID")


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_name_invalid_upload(admin_client: httpx.Client, name: str) -> None:
    response = admin_client.post(f"/v2/{name}/blobs/uploads/")

    assert_error(response, 400, "NAME_INVALID")


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_name_invalid_manifest(admin_client: httpx.Client, name: str) -> None:
    response = admin_client.get(f"/v2/{name}/manifests/latest")

    assert_error(response, 400, "NAME_INVALID")


@pytest.mark.parametrize(
    "path",
    [
        "/v2/library/../x/tags/list",
        "/v2/library/../../x/blobs/uploads/",
        "/v2/library/x/../../etc/manifests/latest",
        "/v2/library/./x/tags/list",
    ],
)
def test_name_dot_segments(admin_client: httpx.Client, path: str) -> None:
    """Dot segments sent as they are, which httpx would otherwise collapse, are invalid names."""
    method = "POST" if path.endswith("/uploads/") else "GET"

    response = admin_client.request(method, path, extensions={"target": path.encode()})

    assert_error(response, 400, "NAME_INVALID")


def test_name_too_long(admin_client: httpx.Client) -> None:
    name = "library/" + "a" * 248

    response = admin_client.post(f"/v2/{name}/blobs/uploads/")

    assert len(name) == 256
    assert_error(response, 400, "NAME_INVALID")


def test_name_far_too_long(admin_client: httpx.Client) -> None:
    name = "library/" + "a" * 2000

    response = admin_client.get(f"/v2/{name}/tags/list")

    assert_error(response, 400, "NAME_INVALID")


def test_name_max_length(admin_client: httpx.Client) -> None:
    """A name of 255 characters is the longest accepted, one short of the 256 limit."""
    prefix = f"library/{unique_name('n')}/"
    name = prefix + "a" * (255 - len(prefix))

    response = admin_client.post(f"/v2/{name}/blobs/uploads/")

    assert len(name) == 255
    assert response.status_code == 202, describe(response)


@pytest.mark.parametrize("component", ["a__b", "a--b", "a---b", "a.b_c-d", "0", "a1.2"])
def test_name_valid_separators(admin_client: httpx.Client, component: str) -> None:
    """The name grammar allows `.`, `_`, `__` and runs of `-` between alphanumerics."""
    repository = f"{unique_repository()}/{component}"

    manifest = push_image(admin_client, repository, "v1")
    response = admin_client.get(f"/v2/{repository}/manifests/v1")

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


@pytest.mark.parametrize(
    "last_components",
    ["blobs", "manifests/v2", "tags/list", "blobs/uploads", "referrers", "tags"],
)
def test_name_like_endpoint(admin_client: httpx.Client, last_components: str) -> None:
    """Repository names may contain the words that the URL layout uses for endpoints."""
    repository = f"{unique_repository()}/{last_components}"
    manifest = push_image(admin_client, repository, "v1")

    fetched = admin_client.get(f"/v2/{repository}/manifests/v1")
    tags = admin_client.get(f"/v2/{repository}/tags/list")

    assert fetched.status_code == 200, describe(fetched)
    assert fetched.content == manifest.body
    assert tags.status_code == 200, describe(tags)
    assert tags.json() == {"name": repository, "tags": ["v1"]}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "manifests/latest"),
        ("GET", "tags/list"),
        ("POST", "blobs/uploads/"),
        ("GET", f"blobs/{digest_of(b'x')}"),
    ],
)
def test_name_without_project(
    admin_client: httpx.Client, method: str, suffix: str
) -> None:
    response = admin_client.request(method, f"/v2/alpine/{suffix}")

    assert_error(response, 400, "NAME_INVALID")


def test_project_unknown_upload(admin_client: httpx.Client) -> None:
    project = unique_name("missing")

    response = admin_client.post(f"/v2/{project}/app/blobs/uploads/")

    assert_error(response, 404, "NAME_UNKNOWN")
    assert project in error_messages(response), describe(response)


def test_project_unknown_monolithic(admin_client: httpx.Client) -> None:
    project = unique_name("missing")
    data = random_bytes()

    response = admin_client.post(
        f"/v2/{project}/app/blobs/uploads/",
        params={"digest": digest_of(data)},
        content=data,
    )

    assert_error(response, 404, "NAME_UNKNOWN")
    assert project in error_messages(response), describe(response)


def test_project_unknown_manifest_put(admin_client: httpx.Client) -> None:
    project = unique_name("missing")
    manifest = image_manifest(admin_client, unique_repository())

    response = put_manifest(admin_client, f"{project}/app", "v1", manifest)

    assert_error(response, 404, "NAME_UNKNOWN")
    assert project in error_messages(response), describe(response)


def test_project_unknown_pull(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"/v2/{unique_name('missing')}/app/manifests/latest")

    assert response.status_code == 404, describe(response)


# References and digests


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:xyz",
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:..",
        "sha256:%2e%2e",
        "SHA256:" + "a" * 64,
    ],
)
def test_blob_digest_malformed(admin_client: httpx.Client, digest: str) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert_error(response, 400, "DIGEST_INVALID")


def test_blob_digest_unknown_algorithm(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/blobs/md5:{'0' * 32}")

    assert response.status_code == 400, describe(response)
    assert {"UNSUPPORTED", "DIGEST_INVALID"} & set(error_codes(response)), describe(
        response
    )


def test_blob_delete_digest_malformed(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.delete(f"/v2/{repository}/blobs/sha256:xyz")

    assert_error(response, 400, "DIGEST_INVALID")


def test_manifest_digest_malformed(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/manifests/sha256:xyz")

    assert_error(response, 400, "DIGEST_INVALID")


@pytest.mark.parametrize(
    "tag",
    ["-leading-dash", ".leading-dot", "a" * 129, "plus+sign", "tab%09tag", "nul%00tag"],
)
def test_manifest_tag_invalid(admin_client: httpx.Client, tag: str) -> None:
    """A reference must be a digest or a tag matching `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = put_manifest(admin_client, repository, tag, manifest)

    assert response.status_code == 400, describe(response)
    assert error_codes(response), describe(response)


@pytest.mark.parametrize(
    "suffix",
    [
        "blobs/uploads/..%2F..%2F..%2Fetc%2Fpasswd",
        "blobs/sha256:..%2F..%2F..%2Fetc%2Fpasswd",
        "manifests/..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_encoded_slash_traversal(admin_client: httpx.Client, suffix: str) -> None:
    """An encoded `/` that turns an id or digest into a path is rejected.

    Once decoded, the path may no longer match the route it was aimed at, so
    the registry may return 404 (no such endpoint) as well as 400 (invalid id).
    """
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/{suffix}")

    assert response.status_code in {400, 404}, describe(response)
    assert error_codes(response), describe(response)


# Methods and query parameters


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("PATCH", "manifests/latest"),
        ("POST", "manifests/latest"),
        ("POST", "tags/list"),
        ("DELETE", "tags/list"),
        ("PUT", f"blobs/{digest_of(b'x')}"),
        ("POST", f"referrers/{digest_of(b'x')}"),
    ],
)
def test_method_unsupported(
    admin_client: httpx.Client, method: str, suffix: str
) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "latest")

    response = admin_client.request(method, f"/v2/{repository}/{suffix}")

    assert_error(response, 405, "UNSUPPORTED")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", ""])
def test_tags_n_invalid(admin_client: httpx.Client, value: str) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/tags/list", params={"n": value})

    assert response.status_code == 400, describe(response)
    assert error_codes(response), describe(response)


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_catalog_n_invalid(admin_client: httpx.Client, value: str) -> None:
    response = admin_client.get("/v2/_catalog", params={"n": value})

    assert response.status_code == 400, describe(response)
    assert error_codes(response), describe(response)


@pytest.mark.parametrize("path", ["/v2/_catalog", "/v2/{repository}/tags/list"])
def test_page_size_huge(admin_client: httpx.Client, path: str) -> None:
    """A page size beyond 64-bit integers is either capped (200) or rejected (400)."""
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(
        path.format(repository=repository), params={"n": "99999999999999999999999"}
    )

    assert response.status_code in {200, 400}, describe(response)


def test_chunk_range_huge(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    location = admin_client.post(f"/v2/{repository}/blobs/uploads/").headers["Location"]

    response = admin_client.patch(
        location,
        content=random_bytes(10),
        headers={"Content-Range": "0-99999999999999999999999999"},
    )

    assert_error(response, 400, "BLOB_UPLOAD_INVALID")


def test_manifest_put_content_type_unknown(admin_client: httpx.Client) -> None:
    """A manifest pushed with a media type the registry does not store is rejected."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = put_manifest(
        admin_client,
        repository,
        "v1",
        Manifest(manifest.body, "application/x-unknown+json"),
    )

    assert response.status_code == 400, describe(response)
    assert admin_client.get(f"/v2/{repository}/manifests/v1").status_code == 404


def test_manifest_put_to_digest_of_other_type(admin_client: httpx.Client) -> None:
    """The digest reference of a PUT is checked against the body, whatever the media type."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)
    other = Manifest(manifest.body + b" ", OCI_MANIFEST)

    response = put_manifest(admin_client, repository, manifest.digest, other)

    assert_error(response, 400, "DIGEST_INVALID")
