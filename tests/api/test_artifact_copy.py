"""Artifact copy on `/api/v2.0`: `POST .../artifacts?from=project/repository:tag`.

Images are pushed with httpx into projects of each test's own, copied over
the API, and then pulled from the target repository on `/v2/`.
"""

from __future__ import annotations

import httpx
import pytest

from seawall.db import Database
from seawall.registry import copy as copying
from tests.api.test_artifacts import (
    audit_operations,
    member_client,
    new_project,
    repository_path,
)
from tests.e2e.protocol_helpers import (
    Manifest,
    image_manifest,
    index_manifest,
    push_artifact,
    push_image,
    push_manifest,
)
from tests.support.server import RunningRegistry

GUEST = 3
DEVELOPER = 2
COSIGN_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SPDX_TYPE = "application/spdx+json"


def copy(
    client: httpx.Client, project: str, repository: str, source: str
) -> httpx.Response:
    return client.post(
        f"{repository_path(project, repository)}/artifacts", params={"from": source}
    )


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def layer_digests(manifest: Manifest) -> list[str]:
    document = manifest.document
    return [document["config"]["digest"]] + [
        layer["digest"] for layer in document["layers"]
    ]


# Copies that succeed


def test_copy_by_tag(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    source, target = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{source}/app", "1.0")

    response = copy(admin_client, target, "mirror", f"{source}/app:1.0")

    assert response.status_code == 201, response.text
    assert response.headers["Location"] == (
        f"{repository_path(target, 'mirror')}/artifacts/{image.digest}"
    )
    pulled = admin_client.get(
        f"/v2/{target}/mirror/manifests/1.0",
        headers={"Accept": image.media_type},
    )
    assert pulled.status_code == 200
    assert pulled.content == image.body


def test_copy_links_blobs(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{source}/app", "1.0")

    copy(admin_client, target, "mirror", f"{source}/app:1.0")

    for digest in layer_digests(image):
        blob = admin_client.get(f"/v2/{target}/mirror/blobs/{digest}")
        assert blob.status_code == 200, digest


def test_copy_by_digest_keeps_tags(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{source}/app", "1.0")
    admin_client.post(
        f"{repository_path(source, 'app')}/artifacts/1.0/tags", json={"name": "stable"}
    )

    response = copy(admin_client, target, "mirror", f"{source}/app@{image.digest}")

    assert response.status_code == 201
    tags = admin_client.get(f"/v2/{target}/mirror/tags/list").json()["tags"]
    assert sorted(tags) == ["1.0", "stable"]


def test_copy_nested_repository_location(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{source}/team/app", "1.0")

    response = copy(admin_client, target, "team/mirror", f"{source}/team/app:1.0")

    assert response.status_code == 201
    location = response.headers["Location"]
    assert location.endswith(f"/repositories/team%252Fmirror/artifacts/{image.digest}")
    assert admin_client.get(location).json()["digest"] == image.digest


def test_copy_index_with_children(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/app"
    children = [
        push_manifest(
            admin_client, repository, image_manifest(admin_client, repository)
        )
        for _ in range(2)
    ]
    index = push_manifest(admin_client, repository, index_manifest(children), "multi")

    response = copy(admin_client, target, "mirror", f"{source}/app:multi")

    assert response.status_code == 201
    listed = admin_client.get(f"{repository_path(target, 'mirror')}/artifacts").json()
    assert [item["digest"] for item in listed] == [index.digest]
    for child in children:
        pulled = admin_client.get(
            f"/v2/{target}/mirror/manifests/{child.digest}",
            headers={"Accept": child.media_type},
        )
        assert pulled.status_code == 200
        for digest in layer_digests(child):
            blob = admin_client.head(f"/v2/{target}/mirror/blobs/{digest}")
            assert blob.status_code == 200


def test_copy_brings_accessories(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/app"
    image = push_image(admin_client, repository, "1.0")
    sbom = push_artifact(admin_client, repository, image, artifact_type=SPDX_TYPE)
    signature = push_artifact(admin_client, repository, sbom, artifact_type=COSIGN_TYPE)
    path = repository_path(target, "mirror")

    copy(admin_client, target, "mirror", f"{source}/app:1.0")

    of_image = admin_client.get(f"{path}/artifacts/1.0/accessories").json()
    of_sbom = admin_client.get(f"{path}/artifacts/{sbom.digest}/accessories").json()
    assert [item["digest"] for item in of_image] == [sbom.digest]
    assert [item["digest"] for item in of_sbom] == [signature.digest]
    assert of_image[0]["subject_artifact_repo"] == f"{target}/mirror"
    referrers = admin_client.get(f"/v2/{target}/mirror/referrers/{image.digest}")
    assert [item["digest"] for item in referrers.json()["manifests"]] == [sbom.digest]


def test_copy_brings_legacy_signature(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/app"
    image = push_image(admin_client, repository, "1.0")
    legacy_tag = image.digest.replace("sha256:", "sha256-") + ".sig"
    signature = push_artifact(admin_client, repository, None, reference=legacy_tag)

    copy(admin_client, target, "mirror", f"{source}/app:1.0")

    path = repository_path(target, "mirror")
    found = admin_client.get(f"{path}/artifacts/1.0/accessories").json()
    assert [(item["digest"], item["type"]) for item in found] == [
        (signature.digest, "signature.cosign")
    ]
    listed = admin_client.get(f"{path}/artifacts").json()
    assert [item["digest"] for item in listed] == [image.digest]


def test_copy_same_repository(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    image = push_image(admin_client, f"{project}/app", "1.0")

    response = copy(admin_client, project, "app", f"{project}/app:1.0")

    assert response.status_code == 201
    listed = admin_client.get(f"{repository_path(project, 'app')}/artifacts").json()
    assert [item["digest"] for item in listed] == [image.digest]


def test_copy_twice_adds_new_tags(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    push_image(admin_client, f"{source}/app", "1.0")
    copy(admin_client, target, "mirror", f"{source}/app:1.0")
    admin_client.post(
        f"{repository_path(source, 'app')}/artifacts/1.0/tags", json={"name": "latest"}
    )

    response = copy(admin_client, target, "mirror", f"{source}/app:1.0")

    assert response.status_code == 201
    tags = admin_client.get(f"/v2/{target}/mirror/tags/list").json()["tags"]
    assert sorted(tags) == ["1.0", "latest"]


def test_copy_moves_existing_tag(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{source}/app", "1.0")
    older = push_image(admin_client, f"{target}/mirror", "1.0")
    cached = admin_client.get(
        f"/v2/{target}/mirror/manifests/1.0", headers={"Accept": older.media_type}
    )

    copy(admin_client, target, "mirror", f"{source}/app:1.0")

    pulled = admin_client.get(
        f"/v2/{target}/mirror/manifests/1.0", headers={"Accept": image.media_type}
    )
    assert cached.headers["Docker-Content-Digest"] == older.digest
    assert pulled.headers["Docker-Content-Digest"] == image.digest


def test_copy_audited(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    source, target = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{source}/app", "1.0")
    signature = push_artifact(
        admin_client, f"{source}/app", image, artifact_type=COSIGN_TYPE
    )

    copy(admin_client, target, "mirror", f"{source}/app:1.0")

    created = ("create", "artifact")
    assert audit_operations(registry, f"{target}/mirror@{image.digest}") == [created]
    assert audit_operations(registry, f"{target}/mirror@{signature.digest}") == [
        created
    ]
    assert audit_operations(registry, f"{target}/mirror:1.0") == [("create", "tag")]


def test_developer_copies_from_readable(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source = new_project(registry, public=True)
    target = new_project(registry)
    push_image(admin_client, f"{source}/app", "1.0")

    with member_client(registry, target, DEVELOPER) as developer:
        response = copy(developer, target, "mirror", f"{source}/app:1.0")

    assert response.status_code == 201


# Copies that fail


def test_missing_source_not_found(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    push_image(admin_client, f"{source}/app", "1.0")

    missing_tag = copy(admin_client, target, "mirror", f"{source}/app:2.0")
    missing_repository = copy(admin_client, target, "mirror", f"{source}/other:1.0")
    missing_project = copy(admin_client, target, "mirror", "no-such-project/app:1.0")

    for response in (missing_tag, missing_repository, missing_project):
        assert response.status_code == 404
        assert error_code(response) == "NOT_FOUND"


def test_unreadable_source_not_found(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    push_image(admin_client, f"{source}/app", "1.0")

    with member_client(registry, target, DEVELOPER) as developer:
        unreadable = copy(developer, target, "mirror", f"{source}/app:1.0")
        missing = copy(developer, target, "mirror", "no-such-project/app:1.0")

    assert unreadable.status_code == 404
    assert missing.status_code == 404
    assert f"{source}/app:1.0" in unreadable.json()["errors"][0]["message"]
    listed = admin_client.get(f"{repository_path(target, 'mirror')}/artifacts")
    assert listed.status_code == 404


def test_guest_target_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source = new_project(registry, public=True)
    target = new_project(registry)
    push_image(admin_client, f"{source}/app", "1.0")

    with member_client(registry, target, GUEST) as guest:
        response = copy(guest, target, "mirror", f"{source}/app:1.0")

    assert response.status_code == 403


def test_anonymous_unauthorized(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    source = new_project(registry, public=True)
    target = new_project(registry, public=True)
    push_image(admin_client, f"{source}/app", "1.0")

    response = copy(anonymous_client, target, "mirror", f"{source}/app:1.0")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "source",
    [
        "app:1.0",
        "project/app",
        "project/app@sha256:short",
        "project/app:bad tag",
        "project/App:1.0",
        "project/app:1.0/extra",
    ],
)
def test_malformed_source(
    registry: RunningRegistry, admin_client: httpx.Client, source: str
) -> None:
    target = new_project(registry)

    response = copy(admin_client, target, "mirror", source)

    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


def test_missing_from_rejected(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    target = new_project(registry)

    response = admin_client.post(f"{repository_path(target, 'mirror')}/artifacts")

    assert response.status_code == 422


def test_gate_refuses_vulnerable_copy(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    push_image(admin_client, f"{source}/app", "1.0")
    updated = admin_client.put(
        f"/api/v2.0/projects/{source}",
        json={"metadata": {"prevent_vul": "true", "severity": "low"}},
    )
    assert updated.status_code == 200

    response = copy(admin_client, target, "mirror", f"{source}/app:1.0")

    assert response.status_code == 412
    assert error_code(response) == "PRECONDITION"
    pulled = admin_client.get(f"/v2/{target}/mirror/manifests/1.0")
    assert pulled.status_code == 404


def test_gate_checks_accessory_images(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/app"
    sbom = push_artifact(admin_client, repository, None, reference="sbom")
    push_manifest(
        admin_client,
        repository,
        image_manifest(admin_client, repository, subject=sbom.descriptor()),
    )
    admin_client.put(
        f"/api/v2.0/projects/{source}",
        json={"metadata": {"prevent_vul": "true", "severity": "low"}},
    )

    response = copy(admin_client, target, "mirror", f"{source}/app:sbom")

    assert response.status_code == 412


def test_source_change_detected(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/app"
    image = push_image(admin_client, repository, "1.0")
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            checked = copying.source_manifests(
                session, copying.parse_source(f"{repository}:1.0")
            )
        push_artifact(admin_client, repository, image, artifact_type=COSIGN_TYPE)
        with (
            pytest.raises(copying.SourceChanged),
            database.session() as session,
        ):
            copying.copy_artifact(session, repository, f"{target}/mirror", checked)
    finally:
        database.dispose()

    assert [item.digest for item in checked] == [image.digest]
