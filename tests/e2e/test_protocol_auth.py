"""Protocol tests for the version check, authentication and the error envelope."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    assert_error,
    describe,
    digest_of,
    push_image,
    random_bytes,
    unique_name,
    unique_repository,
)
from tests.support.seed import create_project
from tests.support.server import RunningRegistry


def test_base_admin(admin_client: httpx.Client) -> None:
    response = admin_client.get("/v2/")

    assert response.status_code == 200, describe(response)
    assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0"


def test_base_anonymous_challenged(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get("/v2/")

    assert_error(response, 401, "UNAUTHORIZED")
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.lower().startswith("bearer "), challenge
    assert 'realm="http://' in challenge, challenge
    assert "/service/token" in challenge, challenge
    assert 'service="harbor-registry"' in challenge, challenge


def test_base_challenge_has_version_header(anonymous_client: httpx.Client) -> None:
    """The spec recommends the version header on 401 replies to `/v2/` as well."""
    response = anonymous_client.get("/v2/")

    assert response.status_code == 401, describe(response)
    assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0"


def test_base_wrong_password(registry: RunningRegistry) -> None:
    with httpx.Client(
        base_url=registry.url, auth=("admin", "not-the-password")
    ) as client:
        response = client.get("/v2/")

    assert_error(response, 401, "UNAUTHORIZED")


def test_base_unknown_user(registry: RunningRegistry) -> None:
    with httpx.Client(
        base_url=registry.url, auth=(unique_name("nobody"), "x")
    ) as client:
        response = client.get("/v2/")

    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!not-base64!!!",
        "Basic YWRtaW4=",  # "admin" with no colon and no password
        "Basic",
        "Bearer not-a-token",
        "Negotiate abc",
    ],
)
def test_base_malformed_authorization(
    anonymous_client: httpx.Client, authorization: str
) -> None:
    response = anonymous_client.get("/v2/", headers={"Authorization": authorization})

    assert_error(response, 401, "UNAUTHORIZED")


def test_error_envelope_shape(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/blobs/{digest_of(random_bytes())}")

    assert response.status_code == 404, describe(response)
    assert response.headers["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    assert set(errors[0]) == {"code", "message", "detail"}, errors
    assert errors[0]["code"] == "BLOB_UNKNOWN", errors
    assert isinstance(errors[0]["message"], str), errors
    assert errors[0]["message"], errors


def test_anonymous_pull_public(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = anonymous_client.get(
        f"/v2/{repository}/manifests/v1", headers={"Accept": manifest.media_type}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_anonymous_blob_public(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")
    layer_digest = manifest.document["layers"][0]["digest"]

    response = anonymous_client.get(f"/v2/{repository}/blobs/{layer_digest}")

    assert response.status_code == 200, describe(response)
    assert digest_of(response.content) == layer_digest


def test_anonymous_push_rejected(anonymous_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()

    response = anonymous_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest_of(data)},
        content=data,
    )

    assert_error(response, 401, "UNAUTHORIZED")
    assert "WWW-Authenticate" in response.headers, describe(response)


def test_anonymous_upload_session_rejected(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.post(f"/v2/{unique_repository()}/blobs/uploads/")

    assert_error(response, 401, "UNAUTHORIZED")


def test_anonymous_manifest_put_rejected(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = anonymous_client.put(
        f"/v2/{repository}/manifests/v2",
        content=manifest.body,
        headers={"Content-Type": manifest.media_type},
    )

    assert_error(response, 401, "UNAUTHORIZED")
    assert admin_client.get(f"/v2/{repository}/manifests/v2").status_code == 404


def test_anonymous_manifest_delete_rejected(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = anonymous_client.delete(f"/v2/{repository}/manifests/{manifest.digest}")

    assert_error(response, 401, "UNAUTHORIZED")
    assert admin_client.get(f"/v2/{repository}/manifests/v1").status_code == 200


def test_anonymous_blob_delete_rejected(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")
    config_digest = manifest.document["config"]["digest"]

    response = anonymous_client.delete(f"/v2/{repository}/blobs/{config_digest}")

    assert_error(response, 401, "UNAUTHORIZED")
    assert (
        admin_client.head(f"/v2/{repository}/blobs/{config_digest}").status_code == 200
    )


def test_wrong_password_public_pull(
    admin_client: httpx.Client, registry: RunningRegistry
) -> None:
    """Wrong credentials are rejected even where anonymous pulls are allowed."""
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    with httpx.Client(
        base_url=registry.url, auth=("admin", "not-the-password")
    ) as client:
        response = client.get(f"/v2/{repository}/manifests/v1")

    assert_error(response, 401, "UNAUTHORIZED")


def test_anonymous_pull_private(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = unique_name("private")
    create_project(registry, project, public=False)
    repository = unique_repository(project)
    push_image(admin_client, repository, "v1")

    response = anonymous_client.get(f"/v2/{repository}/manifests/v1")

    assert_error(response, 401, "UNAUTHORIZED")
    assert "WWW-Authenticate" in response.headers, describe(response)


def test_anonymous_tags_private(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = unique_name("private")
    create_project(registry, project, public=False)
    repository = unique_repository(project)
    push_image(admin_client, repository, "v1")

    response = anonymous_client.get(f"/v2/{repository}/tags/list")

    assert_error(response, 401, "UNAUTHORIZED")


def test_anonymous_push_private(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = unique_name("private")
    create_project(registry, project, public=False)

    response = anonymous_client.post(f"/v2/{unique_repository(project)}/blobs/uploads/")

    assert_error(response, 401, "UNAUTHORIZED")
