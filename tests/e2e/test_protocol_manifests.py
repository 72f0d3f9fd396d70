"""Protocol tests for pushing, pulling and deleting manifests (`/v2/<name>/manifests/<ref>`)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    assert_error,
    describe,
    digest_of,
    encode_json,
    image_manifest,
    index_manifest,
    push_artifact,
    push_image,
    push_manifest,
    put_manifest,
    random_bytes,
    unique_repository,
)

# Push and pull


def test_manifest_put_by_tag(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = put_manifest(admin_client, repository, "v1", manifest)

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == manifest.digest
    assert "Location" in response.headers, describe(response)


def test_manifest_put_location(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    put = put_manifest(admin_client, repository, "v1", manifest)
    response = admin_client.get(
        put.headers["Location"], headers={"Accept": OCI_MANIFEST}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_manifest_get_by_tag(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.get(
        f"/v2/{repository}/manifests/v1", headers={"Accept": OCI_MANIFEST}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body
    assert response.headers.get("Content-Type") == OCI_MANIFEST
    assert response.headers.get("Docker-Content-Digest") == manifest.digest
    assert response.headers.get("Content-Length") == str(len(manifest.body))


def test_manifest_get_by_digest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.get(
        f"/v2/{repository}/manifests/{manifest.digest}",
        headers={"Accept": OCI_MANIFEST},
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body
    assert response.headers.get("Docker-Content-Digest") == manifest.digest


def test_manifest_head(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.head(
        f"/v2/{repository}/manifests/v1", headers={"Accept": OCI_MANIFEST}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == b""
    assert response.headers.get("Content-Type") == OCI_MANIFEST
    assert response.headers.get("Docker-Content-Digest") == manifest.digest
    assert response.headers.get("Content-Length") == str(len(manifest.body))


def test_manifest_put_by_digest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = put_manifest(admin_client, repository, manifest.digest, manifest)
    fetched = admin_client.get(f"/v2/{repository}/manifests/{manifest.digest}")

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == manifest.digest
    assert fetched.content == manifest.body


def test_manifest_put_by_sha512(admin_client: httpx.Client) -> None:
    """A manifest pushed by a sha512 digest is stored and served under that digest."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)
    digest = digest_of(manifest.body, "sha512")

    response = put_manifest(admin_client, repository, digest, manifest)
    fetched = admin_client.get(f"/v2/{repository}/manifests/{digest}")

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == digest
    assert fetched.status_code == 200, describe(fetched)
    assert fetched.content == manifest.body


def test_manifest_bytes_preserved(admin_client: httpx.Client) -> None:
    """The registry stores and serves the pushed bytes, not a re-encoding of them."""
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    body = (
        b'{\n\t"layers" :  '
        + json.dumps(document["layers"], indent=3).encode()
        + b',\r\n  "schemaVersion":   2 ,"config":'
        + json.dumps(document["config"], separators=(" , ", " :  ")).encode()
        + b',"annotations": {"z.last": "caf\\u00e9", "a.first": "caf\xc3\xa9"},'
        + b'  "mediaType":"'
        + OCI_MANIFEST.encode()
        + b'"\n}\n\n'
    )
    manifest = Manifest(body, OCI_MANIFEST)

    put = put_manifest(admin_client, repository, "odd", manifest)
    response = admin_client.get(f"/v2/{repository}/manifests/odd")

    assert put.status_code == 201, describe(put)
    assert put.headers.get("Docker-Content-Digest") == digest_of(body)
    assert response.content == body
    assert response.headers.get("Docker-Content-Digest") == digest_of(body)


def test_manifest_without_media_type_field(admin_client: httpx.Client) -> None:
    """An OCI manifest may omit `mediaType`, and the Content-Type it was pushed with is kept."""
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    del document["mediaType"]
    manifest = Manifest(encode_json(document), OCI_MANIFEST)

    put = put_manifest(admin_client, repository, "v1", manifest)
    response = admin_client.get(f"/v2/{repository}/manifests/v1")

    assert put.status_code == 201, describe(put)
    assert response.headers.get("Content-Type") == OCI_MANIFEST


def test_manifest_content_type_parameters(admin_client: httpx.Client) -> None:
    """Registries ignore Content-Type parameters on push and do not return any."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    put = admin_client.put(
        f"/v2/{repository}/manifests/v1",
        content=manifest.body,
        headers={"Content-Type": f"{OCI_MANIFEST}; charset=utf-8"},
    )
    response = admin_client.get(f"/v2/{repository}/manifests/v1")

    assert put.status_code == 201, describe(put)
    assert response.headers.get("Content-Type") == OCI_MANIFEST


def test_manifest_tag_moves(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    first = push_image(admin_client, repository, "latest")
    second = push_image(admin_client, repository, "latest")

    by_tag = admin_client.get(f"/v2/{repository}/manifests/latest")
    by_digest = admin_client.get(f"/v2/{repository}/manifests/{first.digest}")

    assert by_tag.content == second.body
    assert by_digest.status_code == 200, describe(by_digest)
    assert by_digest.content == first.body


def test_manifest_put_twice(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = put_manifest(admin_client, repository, "v1", manifest)

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == manifest.digest


def test_manifest_nested_repository(admin_client: httpx.Client) -> None:
    repository = f"{unique_repository()}/team/app"
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.get(f"/v2/{repository}/manifests/v1")

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


# Manifest kinds


def test_oci_index(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    children = [push_image(admin_client, repository) for _ in range(2)]
    index = index_manifest(children)

    put = put_manifest(admin_client, repository, "multi", index)
    response = admin_client.get(
        f"/v2/{repository}/manifests/multi", headers={"Accept": OCI_INDEX}
    )

    assert put.status_code == 201, describe(put)
    assert put.headers.get("Docker-Content-Digest") == index.digest
    assert response.content == index.body
    assert response.headers.get("Content-Type") == OCI_INDEX


def test_docker_manifest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1", media_type=DOCKER_MANIFEST)

    response = admin_client.get(
        f"/v2/{repository}/manifests/v1", headers={"Accept": DOCKER_MANIFEST}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body
    assert response.headers.get("Content-Type") == DOCKER_MANIFEST
    assert response.headers.get("Docker-Content-Digest") == manifest.digest


def test_docker_manifest_list(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    children = [
        push_image(admin_client, repository, media_type=DOCKER_MANIFEST)
        for _ in range(2)
    ]
    manifest_list = push_manifest(
        admin_client,
        repository,
        index_manifest(children, DOCKER_MANIFEST_LIST),
        "multi",
    )

    response = admin_client.get(
        f"/v2/{repository}/manifests/multi", headers={"Accept": DOCKER_MANIFEST_LIST}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest_list.body
    assert response.headers.get("Content-Type") == DOCKER_MANIFEST_LIST


# Unknown manifests and Accept negotiation


def test_manifest_unknown_tag(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    assert_error(
        admin_client.get(f"/v2/{repository}/manifests/v2"), 404, "MANIFEST_UNKNOWN"
    )
    assert admin_client.head(f"/v2/{repository}/manifests/v2").status_code == 404


def test_manifest_unknown_digest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")
    digest = digest_of(random_bytes())

    assert_error(
        admin_client.get(f"/v2/{repository}/manifests/{digest}"),
        404,
        "MANIFEST_UNKNOWN",
    )
    assert admin_client.head(f"/v2/{repository}/manifests/{digest}").status_code == 404


def test_manifest_unknown_repository(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"/v2/{unique_repository()}/manifests/latest")

    assert response.status_code == 404, describe(response)


def test_manifest_other_repository(admin_client: httpx.Client) -> None:
    manifest = push_image(admin_client, unique_repository(), "v1")
    other = unique_repository()
    push_image(admin_client, other, "v1")

    response = admin_client.get(f"/v2/{other}/manifests/{manifest.digest}")

    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_manifest_get_blob_digest(admin_client: httpx.Client) -> None:
    """A layer's digest does not name a manifest, even in the layer's own repository."""
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")
    layer_digest = manifest.document["layers"][0]["digest"]

    response = admin_client.get(f"/v2/{repository}/manifests/{layer_digest}")

    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_manifest_accept_mismatch(admin_client: httpx.Client) -> None:
    """A GET whose Accept admits none of the stored manifest's type gets 404 MANIFEST_UNKNOWN.

    The spec leaves this case to content negotiation. Seawall behaves like
    distribution, which reports the manifest as not found in any accepted format.
    """
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.get(
        f"/v2/{repository}/manifests/v1", headers={"Accept": DOCKER_MANIFEST}
    )

    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_manifest_accept_mismatch_head(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.head(
        f"/v2/{repository}/manifests/v1", headers={"Accept": DOCKER_MANIFEST_LIST}
    )

    assert response.status_code == 404, describe(response)


@pytest.mark.parametrize(
    "accept",
    [
        f"{DOCKER_MANIFEST}, {OCI_MANIFEST}",
        f"{DOCKER_MANIFEST},{OCI_INDEX},{OCI_MANIFEST};q=0.5",
        "*/*",
        "application/*",
    ],
)
def test_manifest_accept_match(admin_client: httpx.Client, accept: str) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.get(
        f"/v2/{repository}/manifests/v1", headers={"Accept": accept}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_manifest_accept_index_by_digest(admin_client: httpx.Client) -> None:
    """Accept negotiation applies to digest references too."""
    repository = unique_repository()
    manifest = push_image(admin_client, repository)

    response = admin_client.get(
        f"/v2/{repository}/manifests/{manifest.digest}", headers={"Accept": OCI_INDEX}
    )

    assert_error(response, 404, "MANIFEST_UNKNOWN")


# Deletion


def test_manifest_delete_by_digest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.delete(f"/v2/{repository}/manifests/{manifest.digest}")

    assert response.status_code == 202, describe(response)
    by_digest = admin_client.get(f"/v2/{repository}/manifests/{manifest.digest}")
    assert_error(by_digest, 404, "MANIFEST_UNKNOWN")
    assert_error(
        admin_client.get(f"/v2/{repository}/manifests/v1"), 404, "MANIFEST_UNKNOWN"
    )
    assert admin_client.head(f"/v2/{repository}/manifests/v1").status_code == 404


def test_manifest_delete_by_tag(admin_client: httpx.Client) -> None:
    """Deleting by tag removes only the tag: the manifest stays reachable by digest."""
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")

    response = admin_client.delete(f"/v2/{repository}/manifests/v1")

    assert response.status_code == 202, describe(response)
    assert_error(
        admin_client.get(f"/v2/{repository}/manifests/v1"), 404, "MANIFEST_UNKNOWN"
    )
    by_digest = admin_client.get(f"/v2/{repository}/manifests/{manifest.digest}")
    assert by_digest.status_code == 200, describe(by_digest)


def test_manifest_delete_tag_keeps_other_tags(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")
    push_manifest(admin_client, repository, manifest, "stable")

    response = admin_client.delete(f"/v2/{repository}/manifests/v1")

    assert response.status_code == 202, describe(response)
    assert admin_client.get(f"/v2/{repository}/manifests/stable").status_code == 200


def test_manifest_delete_unknown_digest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.delete(
        f"/v2/{repository}/manifests/{digest_of(random_bytes())}"
    )

    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_manifest_delete_unknown_tag(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = admin_client.delete(f"/v2/{repository}/manifests/nope")

    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_manifest_delete_unknown_repository(admin_client: httpx.Client) -> None:
    response = admin_client.delete(
        f"/v2/{unique_repository()}/manifests/{digest_of(random_bytes())}"
    )

    assert response.status_code == 404, describe(response)


def test_manifest_repush_after_delete(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = push_image(admin_client, repository, "v1")
    admin_client.delete(f"/v2/{repository}/manifests/{manifest.digest}")

    response = put_manifest(admin_client, repository, "v1", manifest)

    assert response.status_code == 201, describe(response)
    assert admin_client.get(f"/v2/{repository}/manifests/v1").content == manifest.body


def test_manifest_delete_referrer(admin_client: httpx.Client) -> None:
    """A manifest with a subject can be deleted like any other."""
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    artifact = push_artifact(
        admin_client, repository, subject, artifact_type="application/x.t"
    )

    response = admin_client.delete(f"/v2/{repository}/manifests/{artifact.digest}")

    assert response.status_code == 202, describe(response)
    assert (
        admin_client.get(f"/v2/{repository}/manifests/{artifact.digest}").status_code
        == 404
    )
    assert admin_client.get(f"/v2/{repository}/manifests/v1").status_code == 200
