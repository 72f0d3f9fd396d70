"""Protocol tests for manifest validation: missing references, invalid bodies and subjects."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MANIFEST_SIZE_LIMIT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Manifest,
    assert_error,
    describe,
    descriptor,
    digest_of,
    encode_json,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    put_manifest,
    random_bytes,
    unique_repository,
)


def padded_manifest(client: httpx.Client, repository: str, size: int) -> Manifest:
    """Build an image manifest of exactly `size` bytes by padding an annotation."""
    document = image_manifest(client, repository).document
    document["annotations"] = {"test.padding": ""}
    padding = size - len(encode_json(document))
    document["annotations"]["test.padding"] = "x" * padding
    manifest = Manifest(encode_json(document), OCI_MANIFEST)
    assert len(manifest.body) == size
    return manifest


# Referenced content must exist


def test_manifest_missing_layer(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    document["layers"].append(descriptor(OCI_LAYER, random_bytes()))

    response = put_manifest(
        admin_client, repository, "v1", Manifest(encode_json(document), OCI_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert admin_client.get(f"/v2/{repository}/manifests/v1").status_code == 404


def test_manifest_missing_config(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    document["config"] = descriptor(OCI_CONFIG, random_bytes())

    response = put_manifest(
        admin_client, repository, "v1", Manifest(encode_json(document), OCI_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


def test_manifest_layer_in_other_repository(admin_client: httpx.Client) -> None:
    """A manifest cannot claim a blob that was pushed only to another repository."""
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    foreign = random_bytes()
    push_blob(admin_client, unique_repository(), foreign)
    document["layers"].append(descriptor(OCI_LAYER, foreign))

    response = put_manifest(
        admin_client, repository, "v1", Manifest(encode_json(document), OCI_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert (
        admin_client.head(f"/v2/{repository}/blobs/{digest_of(foreign)}").status_code
        == 404
    )


def test_manifest_deleted_layer(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)
    layer_digest = manifest.document["layers"][0]["digest"]
    deleted = admin_client.delete(f"/v2/{repository}/blobs/{layer_digest}")

    response = put_manifest(admin_client, repository, "v1", manifest)

    assert deleted.status_code == 202, describe(deleted)
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


def test_docker_manifest_missing_layer(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    document = image_manifest(
        admin_client, repository, media_type=DOCKER_MANIFEST
    ).document
    document["layers"].append(descriptor(DOCKER_LAYER, random_bytes()))

    response = put_manifest(
        admin_client, repository, "v1", Manifest(encode_json(document), DOCKER_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


def test_oci_index_missing_child(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    present = push_image(admin_client, repository)
    missing = image_manifest(admin_client, repository)
    index = index_manifest([present, missing])

    response = put_manifest(admin_client, repository, "multi", index)

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert admin_client.get(f"/v2/{repository}/manifests/multi").status_code == 404


def test_oci_index_child_in_other_repository(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    elsewhere = push_image(admin_client, unique_repository())
    index = index_manifest([elsewhere])

    response = put_manifest(admin_client, repository, "multi", index)

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


def test_oci_index_child_is_blob(admin_client: httpx.Client) -> None:
    """An index entry must name a manifest, not a layer that happens to exist."""
    repository = unique_repository()
    layer = random_bytes()
    push_blob(admin_client, repository, layer)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, layer)],
    }

    response = put_manifest(
        admin_client, repository, "multi", Manifest(encode_json(document), OCI_INDEX)
    )

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


def test_docker_manifest_list_missing_child(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    missing = image_manifest(admin_client, repository, media_type=DOCKER_MANIFEST)

    response = put_manifest(
        admin_client,
        repository,
        "multi",
        index_manifest([missing], DOCKER_MANIFEST_LIST),
    )

    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


# Invalid manifests


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ],
)
def test_schema1_rejected(admin_client: httpx.Client, media_type: str) -> None:
    repository = unique_repository()
    layer = push_blob(admin_client, repository, random_bytes())
    document = {
        "schemaVersion": 1,
        "name": repository,
        "tag": "old",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": layer}],
        "history": [{"v1Compatibility": '{"id":"0"}'}],
    }

    response = put_manifest(
        admin_client, repository, "old", Manifest(encode_json(document), media_type)
    )

    assert_error(response, 400, "MANIFEST_INVALID")
    assert admin_client.get(f"/v2/{repository}/manifests/old").status_code == 404


def test_manifest_at_size_limit(admin_client: httpx.Client) -> None:
    """Registries should accept manifests of at least 4 MiB."""
    repository = unique_repository()
    manifest = padded_manifest(admin_client, repository, MANIFEST_SIZE_LIMIT)

    response = put_manifest(admin_client, repository, "big", manifest)

    assert response.status_code == 201, describe(response)


def test_manifest_too_large(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = padded_manifest(admin_client, repository, MANIFEST_SIZE_LIMIT + 1)

    response = put_manifest(admin_client, repository, "huge", manifest)

    assert_error(response, 413, "MANIFEST_INVALID")
    assert admin_client.get(f"/v2/{repository}/manifests/huge").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[]",
        b'"a string"',
        b"{",
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
        b'{"schemaVersion": 3, "mediaType": "application/vnd.oci.image.manifest.v1+json",'
        b' "config": {}, "layers": []}',
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",'
        b' "config": "nope", "layers": {}}',
        b"\xff\xfe\x00{",
    ],
    ids=[
        "text",
        "empty",
        "array",
        "string",
        "truncated",
        "no-config",
        "schema-3",
        "wrong-types",
        "not-utf8",
    ],
)
def test_manifest_invalid(admin_client: httpx.Client, body: bytes) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = put_manifest(
        admin_client, repository, "bad", Manifest(body, OCI_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_INVALID")


def test_manifest_deeply_nested(admin_client: httpx.Client) -> None:
    """Deeply nested JSON under the size limit is rejected, not a crash of the parser."""
    repository = unique_repository()
    push_image(admin_client, repository, "v1")
    body = b'{"schemaVersion":2,"annotations":' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response = put_manifest(
        admin_client, repository, "deep", Manifest(body, OCI_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_INVALID")


def test_manifest_media_type_mismatch(admin_client: httpx.Client) -> None:
    """The `mediaType` field and the Content-Type header must name the same type."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = put_manifest(
        admin_client, repository, "v1", Manifest(manifest.body, OCI_INDEX)
    )

    assert_error(response, 400, "MANIFEST_INVALID")


def test_manifest_descriptor_digest_invalid(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    document["layers"][0]["digest"] = "sha256:../../../../etc/passwd"

    response = put_manifest(
        admin_client, repository, "v1", Manifest(encode_json(document), OCI_MANIFEST)
    )

    assert response.status_code == 400, describe(response)


def test_manifest_descriptor_size_negative(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    document = image_manifest(admin_client, repository).document
    document["layers"][0]["size"] = -1

    response = put_manifest(
        admin_client, repository, "v1", Manifest(encode_json(document), OCI_MANIFEST)
    )

    assert_error(response, 400, "MANIFEST_INVALID")


def test_manifest_put_wrong_digest(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)
    claimed = digest_of(random_bytes())

    response = put_manifest(admin_client, repository, claimed, manifest)

    assert_error(response, 400, "DIGEST_INVALID")
    assert admin_client.get(f"/v2/{repository}/manifests/{claimed}").status_code == 404
    assert (
        admin_client.get(f"/v2/{repository}/manifests/{manifest.digest}").status_code
        == 404
    )


# Subjects


def test_manifest_subject_header(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    manifest = image_manifest(admin_client, repository, subject=subject.descriptor())

    response = put_manifest(admin_client, repository, manifest.digest, manifest)

    assert response.status_code == 201, describe(response)
    assert response.headers.get("OCI-Subject") == subject.digest


def test_manifest_subject_missing_accepted(admin_client: httpx.Client) -> None:
    """A registry must accept a manifest whose subject has not been pushed yet."""
    repository = unique_repository()
    absent = Manifest(
        encode_json({"schemaVersion": 2, "nonce": random_bytes(8).hex()}), OCI_MANIFEST
    )
    manifest = image_manifest(admin_client, repository, subject=absent.descriptor())

    response = put_manifest(admin_client, repository, manifest.digest, manifest)

    assert response.status_code == 201, describe(response)
    assert response.headers.get("OCI-Subject") == absent.digest


def test_manifest_without_subject_header(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = put_manifest(admin_client, repository, "v1", manifest)

    assert response.status_code == 201, describe(response)
    assert "OCI-Subject" not in response.headers
