"""Accessories on `/api/v2.0`: listing, types, `with_accessory` and deletion with the subject.

The test kit's `python-app-sbom` artifact, whose subject is `python-app:1.0`,
is pushed with skopeo. Signatures and other referrers are built by hand and
pushed with httpx into a project of each test's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall.registry.manifest_parser import Descriptor
from seawall.scan.sbom_accessory import (
    CREATED_ANNOTATION,
    EMPTY_CONTENT,
    accessory_manifest,
)
from seawall.storage import parse_digest
from tests.api.test_artifacts import (
    audit_operations,
    member_client,
    new_project,
    repository_path,
    skopeo_copy,
)
from tests.e2e.protocol_helpers import (
    OCI_MANIFEST,
    Manifest,
    encode_json,
    image_manifest,
    index_manifest,
    push_artifact,
    push_blob,
    push_image,
    push_manifest,
)
from tests.support.server import RunningRegistry

GUEST = 3
PYTHON_APP_DIGEST = (
    "sha256:a987c54aa5ea22209666756c506101a554854b695f197821776498f53c0becd2"
)
KIT_SBOM_DIGEST = (
    "sha256:d8bc2d4e3a1e2746df92d21918ad3319e8d575aec95b827355bea2bf339de98a"
)
# Harbor's size of the kit's SBOM artifact: manifest, empty config and document.
KIT_SBOM_SIZE = 756 + 2 + 868

COSIGN_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTATION_TYPE = "application/vnd.cncf.notary.signature"
HARBOR_SBOM_TYPE = "application/vnd.goharbor.harbor.sbom.v1"
SPDX_TYPE = "application/spdx+json"
NYDUS_BOOTSTRAP = "containerd.io/snapshot/nydus-bootstrap"


@dataclass(frozen=True)
class KitRepository:
    project: str
    path: str  # the repository's `/api/v2.0` path


@pytest.fixture(scope="module")
def kit(
    registry: RunningRegistry,
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> KitRepository:
    """Push python-app:1.0 and then its SBOM artifact into PROJECT/app."""
    auth_file = tmp_path_factory.mktemp("skopeo") / "auth.json"
    auth_file.write_text('{"auths": {}}')
    project = new_project(registry)
    images = testdata / "images"
    skopeo_copy(
        registry, auth_file, f"oci:{images / 'python-app'}:1.0", f"{project}/app:1.0"
    )
    skopeo_copy(
        registry,
        auth_file,
        f"oci:{images / 'artifact'}:python-app-sbom",
        f"{project}/app:python-app-sbom",
    )
    return KitRepository(project, repository_path(project, "app"))


def accessories_of(
    client: httpx.Client, path: str, reference: str, **params: str
) -> list[dict[str, Any]]:
    response = client.get(f"{path}/artifacts/{reference}/accessories", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def types_by_digest(accessories: list[dict[str, Any]]) -> dict[str, str]:
    return {item["digest"]: item["type"] for item in accessories}


def legacy_signature_tag(digest: str) -> str:
    return digest.replace("sha256:", "sha256-") + ".sig"


def push_nydus(client: httpx.Client, repository: str, subject: Manifest) -> Manifest:
    """Push an image whose last layer is a Nydus bootstrap, with `subject`."""
    manifest = image_manifest(client, repository, subject=subject.descriptor())
    document = manifest.document
    document["layers"][-1]["annotations"] = {NYDUS_BOOTSTRAP: "true"}
    return push_manifest(
        client, repository, Manifest(encode_json(document), OCI_MANIFEST)
    )


# The test kit's SBOM artifact


def test_kit_sbom_listed_as_accessory(
    admin_client: httpx.Client, kit: KitRepository
) -> None:
    accessories = accessories_of(admin_client, kit.path, "1.0")

    assert len(accessories) == 1
    accessory = accessories[0]
    assert accessory["digest"] == KIT_SBOM_DIGEST
    assert accessory["type"] == "subject.accessory"
    assert accessory["subject_artifact_digest"] == PYTHON_APP_DIGEST
    assert accessory["subject_artifact_repo"] == f"{kit.project}/app"
    assert accessory["size"] == KIT_SBOM_SIZE
    assert accessory["icon"] == ""
    assert accessory["id"] == accessory["artifact_id"]
    assert accessory["creation_time"]


def test_kit_accessory_ids(admin_client: httpx.Client, kit: KitRepository) -> None:
    subject = admin_client.get(f"{kit.path}/artifacts/1.0").json()
    sbom = admin_client.get(f"{kit.path}/artifacts/{KIT_SBOM_DIGEST}").json()

    accessory = accessories_of(admin_client, kit.path, PYTHON_APP_DIGEST)[0]

    assert accessory["subject_artifact_id"] == subject["id"]
    assert accessory["artifact_id"] == sbom["id"]


def test_kit_listing_leaves_out_sbom(
    admin_client: httpx.Client, kit: KitRepository
) -> None:
    response = admin_client.get(f"{kit.path}/artifacts")

    assert [item["digest"] for item in response.json()] == [PYTHON_APP_DIGEST]
    assert response.headers["X-Total-Count"] == "1"
    assert admin_client.get(kit.path).json()["artifact_count"] == 1


def test_kit_sbom_readable_by_reference(
    admin_client: httpx.Client, kit: KitRepository
) -> None:
    by_tag = admin_client.get(f"{kit.path}/artifacts/python-app-sbom")
    by_digest = admin_client.get(f"{kit.path}/artifacts/{KIT_SBOM_DIGEST}")

    assert by_tag.status_code == 200
    assert by_digest.json()["digest"] == KIT_SBOM_DIGEST


def test_kit_with_accessory_in_listing(
    admin_client: httpx.Client, kit: KitRepository
) -> None:
    listed = admin_client.get(
        f"{kit.path}/artifacts", params={"with_accessory": "true"}
    )

    accessories = listed.json()[0]["accessories"]
    assert [item["digest"] for item in accessories] == [KIT_SBOM_DIGEST]
    assert accessories[0]["size"] == KIT_SBOM_SIZE


def test_kit_with_accessory_single(
    admin_client: httpx.Client, kit: KitRepository
) -> None:
    with_flag = admin_client.get(
        f"{kit.path}/artifacts/1.0", params={"with_accessory": "true"}
    ).json()
    without_flag = admin_client.get(f"{kit.path}/artifacts/1.0").json()

    assert [item["type"] for item in with_flag["accessories"]] == ["subject.accessory"]
    assert "accessories" not in without_flag


def test_kit_accessory_has_none(admin_client: httpx.Client, kit: KitRepository) -> None:
    response = admin_client.get(f"{kit.path}/artifacts/{KIT_SBOM_DIGEST}/accessories")

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


# Types


def test_types_of_referrers(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    cases = {
        "signature.cosign": COSIGN_TYPE,
        "signature.notation": NOTATION_TYPE,
        "sbom.harbor": HARBOR_SBOM_TYPE,
        "subject.accessory": SPDX_TYPE,
    }
    pushed = {
        kind: push_artifact(
            admin_client, repository, subject, artifact_type=artifact_type
        ).digest
        for kind, artifact_type in cases.items()
    }

    found = types_by_digest(
        accessories_of(admin_client, repository_path(project, "app"), "1.0")
    )

    assert found == {digest: kind for kind, digest in pushed.items()}


def test_cosign_config_media_type(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client, repository, subject, config_media_type=COSIGN_TYPE
    )

    found = accessories_of(admin_client, repository_path(project, "app"), "1.0")

    assert types_by_digest(found) == {signature.digest: "signature.cosign"}


def test_seawall_sbom_typed_harbor(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    generated = push_artifact(
        admin_client,
        repository,
        subject,
        artifact_type=SPDX_TYPE,
        annotations={"org.opencontainers.image.authors": "Seawall"},
    )
    pushed = push_artifact(
        admin_client,
        repository,
        subject,
        artifact_type=SPDX_TYPE,
        annotations={"org.opencontainers.image.authors": "someone else"},
    )

    found = accessories_of(admin_client, repository_path(project, "app"), "1.0")

    assert types_by_digest(found) == {
        generated.digest: "sbom.harbor",
        pushed.digest: "subject.accessory",
    }


def test_generated_sbom_typed_harbor(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    document = b'{"spdxVersion": "SPDX-2.3"}'
    for blob in (EMPTY_CONTENT, document):
        push_blob(admin_client, repository, blob)
    body = accessory_manifest(
        subject=Descriptor(
            subject.media_type, parse_digest(subject.digest), len(subject.body)
        ),
        document=document,
        document_media_type=SPDX_TYPE,
        annotations={CREATED_ANNOTATION: "2024-01-01T00:00:00+00:00"},
    )
    sbom = push_manifest(admin_client, repository, Manifest(body, OCI_MANIFEST))

    found = accessories_of(admin_client, repository_path(project, "app"), "1.0")

    assert types_by_digest(found) == {sbom.digest: "sbom.harbor"}


def test_nydus_image_typed(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    nydus = push_nydus(admin_client, repository, subject)
    plain = push_manifest(
        admin_client,
        repository,
        image_manifest(admin_client, repository, subject=subject.descriptor()),
    )

    found = accessories_of(admin_client, repository_path(project, "app"), "1.0")

    assert types_by_digest(found) == {
        nydus.digest: "accelerator.nydus",
        plain.digest: "subject.accessory",
    }


def test_legacy_cosign_tag(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client,
        repository,
        None,
        reference=legacy_signature_tag(subject.digest),
    )
    path = repository_path(project, "app")

    found = accessories_of(admin_client, path, "1.0")
    listed = admin_client.get(f"{path}/artifacts").json()

    assert types_by_digest(found) == {signature.digest: "signature.cosign"}
    assert [item["digest"] for item in listed] == [subject.digest]


def test_legacy_tag_without_subject_listed(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    absent = "sha256:" + "ab" * 32
    artifact = push_artifact(
        admin_client, repository, None, reference=legacy_signature_tag(absent)
    )

    listed = admin_client.get(f"{repository_path(project, 'app')}/artifacts").json()

    assert [item["digest"] for item in listed] == [artifact.digest]


def test_accessory_of_accessory(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    sbom = push_artifact(admin_client, repository, subject, artifact_type=SPDX_TYPE)
    signature = push_artifact(admin_client, repository, sbom, artifact_type=COSIGN_TYPE)
    path = repository_path(project, "app")

    of_image = accessories_of(admin_client, path, "1.0")
    of_sbom = accessories_of(admin_client, path, sbom.digest)

    assert [item["digest"] for item in of_image] == [sbom.digest]
    assert [item["digest"] for item in of_sbom] == [signature.digest]


def test_dangling_referrer_unlisted(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    image = image_manifest(admin_client, repository)
    referrer = push_artifact(admin_client, repository, image, artifact_type=COSIGN_TYPE)
    path = repository_path(project, "app")

    before = admin_client.get(f"{path}/artifacts").json()
    push_manifest(admin_client, repository, image, "1.0")
    after = accessories_of(admin_client, path, "1.0")

    assert before == []
    assert [item["digest"] for item in after] == [referrer.digest]


# Query, sort and pages


@pytest.fixture
def signed(registry: RunningRegistry, admin_client: httpx.Client) -> dict[str, str]:
    """An image with two cosign signatures and one Notation signature, by digest."""
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    pushed = {
        "path": repository_path(project, "app"),
        "cosign-1": push_artifact(
            admin_client, repository, subject, artifact_type=COSIGN_TYPE
        ).digest,
        "cosign-2": push_artifact(
            admin_client, repository, subject, artifact_type=COSIGN_TYPE
        ).digest,
        "notation": push_artifact(
            admin_client, repository, subject, artifact_type=NOTATION_TYPE
        ).digest,
    }
    return pushed


def test_query_by_type(admin_client: httpx.Client, signed: dict[str, str]) -> None:
    found = accessories_of(
        admin_client, signed["path"], "1.0", q="type=signature.cosign"
    )

    assert sorted(item["digest"] for item in found) == sorted(
        [signed["cosign-1"], signed["cosign-2"]]
    )


def test_query_any_and_fuzzy(
    admin_client: httpx.Client, signed: dict[str, str]
) -> None:
    any_of = accessories_of(
        admin_client, signed["path"], "1.0", q="type={signature.notation sbom.harbor}"
    )
    fuzzy = accessories_of(admin_client, signed["path"], "1.0", q="type=~signature")

    assert [item["digest"] for item in any_of] == [signed["notation"]]
    assert len(fuzzy) == 3


def test_query_by_digest(admin_client: httpx.Client, signed: dict[str, str]) -> None:
    found = accessories_of(
        admin_client, signed["path"], "1.0", q=f"digest={signed['notation']}"
    )

    assert [item["type"] for item in found] == ["signature.notation"]


@pytest.mark.parametrize(
    "query", ["color=red", "size=~12", "type=[a~b]", "id=twelve", "type="]
)
def test_query_invalid(
    admin_client: httpx.Client, signed: dict[str, str], query: str
) -> None:
    response = admin_client.get(
        f"{signed['path']}/artifacts/1.0/accessories", params={"q": query}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_default_order_newest(
    admin_client: httpx.Client, signed: dict[str, str]
) -> None:
    found = accessories_of(admin_client, signed["path"], "1.0")

    ids = [item["id"] for item in found]
    assert ids == sorted(ids, reverse=True)
    assert found[0]["digest"] == signed["notation"]


def test_sort_by_type(admin_client: httpx.Client, signed: dict[str, str]) -> None:
    ascending = accessories_of(admin_client, signed["path"], "1.0", sort="type")
    descending = accessories_of(admin_client, signed["path"], "1.0", sort="-type")

    assert ascending[-1]["type"] == "signature.notation"
    assert descending[0]["type"] == "signature.notation"


def test_sort_key_invalid(admin_client: httpx.Client, signed: dict[str, str]) -> None:
    response = admin_client.get(
        f"{signed['path']}/artifacts/1.0/accessories", params={"sort": "name"}
    )

    assert response.status_code == 400


def test_paging_headers(admin_client: httpx.Client, signed: dict[str, str]) -> None:
    first = admin_client.get(
        f"{signed['path']}/artifacts/1.0/accessories", params={"page_size": "2"}
    )
    second = admin_client.get(
        f"{signed['path']}/artifacts/1.0/accessories",
        params={"page_size": "2", "page": "2"},
    )

    assert first.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in first.headers["Link"]
    assert len(first.json()) == 2
    assert len(second.json()) == 1
    assert 'rel="prev"' in second.headers["Link"]


# Errors and permissions


def test_missing_subject_not_found(
    admin_client: httpx.Client, signed: dict[str, str]
) -> None:
    response = admin_client.get(f"{signed['path']}/artifacts/2.0/accessories")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"


def test_private_anonymous_unauthorized(
    anonymous_client: httpx.Client, signed: dict[str, str]
) -> None:
    response = anonymous_client.get(f"{signed['path']}/artifacts/1.0/accessories")

    assert response.status_code == 401


def test_public_anonymous_lists(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = new_project(registry, public=True)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=COSIGN_TYPE
    )

    found = accessories_of(anonymous_client, repository_path(project, "app"), "1.0")

    assert [item["digest"] for item in found] == [signature.digest]


def test_guest_lists(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    push_artifact(admin_client, repository, subject, artifact_type=COSIGN_TYPE)

    with member_client(registry, project, GUEST) as guest:
        found = accessories_of(guest, repository_path(project, "app"), "1.0")

    assert [item["type"] for item in found] == ["signature.cosign"]


# Deleting the subject


def test_delete_subject_removes_accessories(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    sbom = push_artifact(admin_client, repository, subject, artifact_type=SPDX_TYPE)
    nested = push_artifact(admin_client, repository, sbom, artifact_type=COSIGN_TYPE)
    legacy = push_artifact(
        admin_client, repository, None, reference=legacy_signature_tag(subject.digest)
    )
    path = repository_path(project, "app")

    response = admin_client.delete(f"{path}/artifacts/1.0")

    assert response.status_code == 200
    for digest in (subject.digest, sbom.digest, nested.digest, legacy.digest):
        assert admin_client.get(f"{path}/artifacts/{digest}").status_code == 404
        pulled = admin_client.get(f"/v2/{repository}/manifests/{digest}")
        assert pulled.status_code == 404
    tags = admin_client.get(f"/v2/{repository}/tags/list").json()["tags"]
    assert tags == []


def test_delete_subject_audits_accessories(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=COSIGN_TYPE
    )

    admin_client.delete(f"{repository_path(project, 'app')}/artifacts/1.0")

    resource = f"{repository}@{signature.digest}"
    assert audit_operations(registry, resource) == [("delete", "artifact")]


def test_delete_accessory_keeps_subject(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=COSIGN_TYPE
    )
    path = repository_path(project, "app")

    response = admin_client.delete(f"{path}/artifacts/{signature.digest}")

    assert response.status_code == 200
    assert admin_client.get(f"{path}/artifacts/1.0").status_code == 200
    assert accessories_of(admin_client, path, "1.0") == []


def test_delete_keeps_accessory_in_index(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=COSIGN_TYPE
    )
    push_manifest(admin_client, repository, index_manifest([signature]), "bundle")
    path = repository_path(project, "app")

    admin_client.delete(f"{path}/artifacts/1.0")

    assert admin_client.get(f"{path}/artifacts/{signature.digest}").status_code == 200


def test_v2_delete_keeps_referrers(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    signature = push_artifact(
        admin_client, repository, subject, artifact_type=COSIGN_TYPE
    )

    deleted = admin_client.delete(f"/v2/{repository}/manifests/{subject.digest}")

    assert deleted.status_code == 202
    pulled = admin_client.get(f"/v2/{repository}/manifests/{signature.digest}")
    assert pulled.status_code == 200
