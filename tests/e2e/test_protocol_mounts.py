"""Protocol tests for cross-repository blob mounts (`POST .../blobs/uploads/?mount=&from=`)."""

from __future__ import annotations

import httpx

from tests.e2e.protocol_helpers import (
    assert_blob_absent,
    assert_blob_stored,
    assert_error,
    describe,
    digest_of,
    push_blob,
    random_bytes,
    unique_name,
    unique_repository,
)


def test_mount_existing(admin_client: httpx.Client) -> None:
    source = unique_repository()
    target = unique_repository()
    data = random_bytes()
    digest = push_blob(admin_client, source, data)

    response = admin_client.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source}
    )

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == digest
    assert admin_client.get(response.headers["Location"]).content == data
    assert_blob_stored(admin_client, target, data)


def test_mount_same_repository(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    digest = push_blob(admin_client, repository, random_bytes())

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/", params={"mount": digest, "from": repository}
    )

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == digest


def test_mount_nested_source(admin_client: httpx.Client) -> None:
    source = f"{unique_repository()}/team/app"
    target = unique_repository()
    data = random_bytes()
    digest = push_blob(admin_client, source, data)

    response = admin_client.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source}
    )

    assert response.status_code == 201, describe(response)
    assert_blob_stored(admin_client, target, data)


def test_mount_missing_in_source(admin_client: httpx.Client) -> None:
    """When the source lacks the blob, the registry opens a normal upload session."""
    source = unique_repository()
    target = unique_repository()
    push_blob(admin_client, source, random_bytes())
    data = random_bytes()

    response = admin_client.post(
        f"/v2/{target}/blobs/uploads/",
        params={"mount": digest_of(data), "from": source},
    )
    done = admin_client.put(
        response.headers["Location"], params={"digest": digest_of(data)}, content=data
    )

    assert response.status_code == 202, describe(response)
    assert done.status_code == 201, describe(done)
    assert_blob_stored(admin_client, target, data)


def test_mount_unknown_source(admin_client: httpx.Client) -> None:
    target = unique_repository()
    data = random_bytes()

    response = admin_client.post(
        f"/v2/{target}/blobs/uploads/",
        params={"mount": digest_of(data), "from": unique_repository()},
    )

    assert response.status_code == 202, describe(response)
    assert "Location" in response.headers, describe(response)
    assert_blob_absent(admin_client, target, digest_of(data))


def test_mount_unknown_source_project(admin_client: httpx.Client) -> None:
    target = unique_repository()
    data = random_bytes()

    response = admin_client.post(
        f"/v2/{target}/blobs/uploads/",
        params={
            "mount": digest_of(data),
            "from": unique_repository(unique_name("missing")),
        },
    )

    assert response.status_code == 202, describe(response)
    assert_blob_absent(admin_client, target, digest_of(data))


def test_mount_malformed_digest(admin_client: httpx.Client) -> None:
    source = unique_repository()
    push_blob(admin_client, source, random_bytes())

    response = admin_client.post(
        f"/v2/{unique_repository()}/blobs/uploads/",
        params={"mount": "sha256:../../etc", "from": source},
    )

    assert_error(response, 400, "DIGEST_INVALID")
