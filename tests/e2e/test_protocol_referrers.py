"""Protocol tests for the referrers API (`/v2/<name>/referrers/<digest>`)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    Json,
    describe,
    digest_of,
    error_codes,
    image_manifest,
    index_manifest,
    push_artifact,
    push_image,
    push_manifest,
    random_bytes,
    unique_repository,
)

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"
CUSTOM_CONFIG = "application/vnd.example.config.v1+json"


def get_referrers(
    client: httpx.Client, repository: str, digest: str, artifact_type: str | None = None
) -> httpx.Response:
    params = {"artifactType": artifact_type} if artifact_type is not None else None
    return client.get(f"/v2/{repository}/referrers/{digest}", params=params)


def listed(response: httpx.Response) -> dict[str, Json]:
    """Map each digest in a referrers response to its descriptor."""
    assert response.status_code == 200, describe(response)
    return {entry["digest"]: entry for entry in response.json()["manifests"]}


def test_referrers_response_shape(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    push_artifact(admin_client, repository, subject, artifact_type=SBOM)

    response = get_referrers(admin_client, repository, subject.digest)

    assert response.status_code == 200, describe(response)
    assert response.headers.get("Content-Type") == OCI_INDEX
    document = response.json()
    assert document["schemaVersion"] == 2
    assert document["mediaType"] == OCI_INDEX
    assert isinstance(document["manifests"], list)


def test_referrers_descriptor(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    annotations = {
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        "x.y": "z",
    }
    artifact = push_artifact(
        admin_client, repository, subject, artifact_type=SBOM, annotations=annotations
    )

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert entries == {
        artifact.digest: artifact.descriptor(artifactType=SBOM, annotations=annotations)
    }


def test_referrers_several(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    sbom = push_artifact(admin_client, repository, subject, artifact_type=SBOM)
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=SIGNATURE
    )

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert set(entries) == {sbom.digest, signature.digest}
    assert entries[sbom.digest]["artifactType"] == SBOM
    assert entries[signature.digest]["artifactType"] == SIGNATURE


def test_referrers_config_media_type(admin_client: httpx.Client) -> None:
    """Without `artifactType`, a manifest is listed with its config's media type."""
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    artifact = push_artifact(
        admin_client, repository, subject, config_media_type=CUSTOM_CONFIG
    )

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert entries[artifact.digest]["artifactType"] == CUSTOM_CONFIG


def test_referrers_no_annotations(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    artifact = push_artifact(admin_client, repository, subject, artifact_type=SBOM)

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert entries[artifact.digest].get("annotations", {}) == {}
    assert entries[artifact.digest]["size"] == len(artifact.body)
    assert entries[artifact.digest]["mediaType"] == OCI_MANIFEST


def test_referrers_index_without_artifact_type(admin_client: httpx.Client) -> None:
    """An index referrer without `artifactType` is listed without one."""
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    child = push_image(admin_client, repository)
    index = push_manifest(
        admin_client,
        repository,
        index_manifest([child], subject=subject.descriptor(), annotations={"k": "v"}),
    )

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert entries == {index.digest: index.descriptor(annotations={"k": "v"})}


def test_referrers_index_with_artifact_type(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    child = push_image(admin_client, repository)
    index = push_manifest(
        admin_client,
        repository,
        index_manifest([child], subject=subject.descriptor(), artifactType=SBOM),
    )

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert entries[index.digest]["artifactType"] == SBOM
    assert entries[index.digest]["mediaType"] == OCI_INDEX


def test_referrers_filter(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    sbom = push_artifact(admin_client, repository, subject, artifact_type=SBOM)
    push_artifact(admin_client, repository, subject, artifact_type=SIGNATURE)

    response = get_referrers(admin_client, repository, subject.digest, SBOM)

    assert set(listed(response)) == {sbom.digest}
    assert response.headers.get("OCI-Filters-Applied") == "artifactType"


def test_referrers_filter_no_match(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    push_artifact(admin_client, repository, subject, artifact_type=SBOM)

    response = get_referrers(
        admin_client, repository, subject.digest, "application/x.none"
    )

    assert listed(response) == {}
    assert response.headers.get("OCI-Filters-Applied") == "artifactType"


def test_referrers_unfiltered_header(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")

    response = get_referrers(admin_client, repository, subject.digest)

    assert response.status_code == 200, describe(response)
    assert "OCI-Filters-Applied" not in response.headers


def test_referrers_none(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")

    response = get_referrers(admin_client, repository, subject.digest)

    assert response.status_code == 200, describe(response)
    assert response.json()["manifests"] == []


def test_referrers_unknown_subject(admin_client: httpx.Client) -> None:
    """A digest that names nothing in an existing repository has an empty list, not 404."""
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = get_referrers(admin_client, repository, digest_of(random_bytes()))

    assert response.status_code == 200, describe(response)
    assert response.headers.get("Content-Type") == OCI_INDEX
    assert response.json()["manifests"] == []


def test_referrers_before_subject(admin_client: httpx.Client) -> None:
    """A referrer pushed before its subject is listed both before and after the subject arrives."""
    repository = unique_repository()
    subject = image_manifest(admin_client, repository)
    artifact = push_artifact(admin_client, repository, subject, artifact_type=SBOM)

    before = listed(get_referrers(admin_client, repository, subject.digest))
    push_manifest(admin_client, repository, subject, "v1")
    after = listed(get_referrers(admin_client, repository, subject.digest))

    assert set(before) == {artifact.digest}
    assert set(after) == {artifact.digest}


def test_referrers_after_delete(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    artifact = push_artifact(admin_client, repository, subject, artifact_type=SBOM)
    deleted = admin_client.delete(f"/v2/{repository}/manifests/{artifact.digest}")

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert deleted.status_code == 202, describe(deleted)
    assert entries == {}


def test_referrers_other_repository(admin_client: httpx.Client) -> None:
    """Referrers are scoped to the repository they were pushed to."""
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    other = unique_repository()
    push_artifact(admin_client, other, subject, artifact_type=SBOM)

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert entries == {}


def test_referrers_not_of_referrer(admin_client: httpx.Client) -> None:
    """Only direct referrers are listed, not referrers of referrers."""
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=SIGNATURE
    )
    nested = push_artifact(admin_client, repository, signature, artifact_type=SBOM)

    top = listed(get_referrers(admin_client, repository, subject.digest))
    below = listed(get_referrers(admin_client, repository, signature.digest))

    assert set(top) == {signature.digest}
    assert set(below) == {nested.digest}


def test_referrers_tagged_referrer(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    artifact = push_artifact(
        admin_client, repository, subject, artifact_type=SBOM, reference="sbom"
    )

    entries = listed(get_referrers(admin_client, repository, subject.digest))

    assert set(entries) == {artifact.digest}


def test_referrers_anonymous_public(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    repository = unique_repository()
    subject = push_image(admin_client, repository, "v1")
    artifact = push_artifact(admin_client, repository, subject, artifact_type=SBOM)

    entries = listed(get_referrers(anonymous_client, repository, subject.digest))

    assert set(entries) == {artifact.digest}


@pytest.mark.parametrize("digest", ["sha256:xyz", "latest", "sha256:" + "A" * 64])
def test_referrers_invalid_digest(admin_client: httpx.Client, digest: str) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")

    response = get_referrers(admin_client, repository, digest)

    assert response.status_code == 400, describe(response)
    assert error_codes(response), describe(response)
