"""Artifact and tag routes of `/api/v2.0`, checked against images pushed on `/v2/`.

The test kit's images are pushed with skopeo, and the API must report the
digests, sizes and platforms the kit documents. Tests that change state
push their own small images with httpx into a project of their own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.e2e.protocol_helpers import (
    Manifest,
    image_manifest,
    index_manifest,
    push_artifact,
    push_image,
    push_manifest,
)
from tests.support.seed import add_member, create_project, create_user
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

API = "/api/v2.0"
DEVELOPER = 2
MAINTAINER = 4
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# Digests and sizes of the test kit's multiarch:1 image and artifact:sbom manifest.
INDEX_DIGEST = "sha256:ca6b557dc28fa39a232d6eaaa9f1ad97ab133774fa3ace59afa2b7cb1e16b3cb"
AMD64_DIGEST = "sha256:3836c461e97d16d443302288015ec7849070c91bf2c32c00a3cb3dad79840657"
ARM64_DIGEST = "sha256:1f9ea65d064449a2f34f0dda52bf6efa5f72eb9467650fdb5cd7d58911b02568"
SBOM_DIGEST = "sha256:627175e4da08b5e4b9b330f57f038f9178841d015ad5d042a1ca9096f7ae9c79"
# Harbor's size: the manifest plus its config and layers.
AMD64_SIZE = 475 + 381 + 370
ARM64_SIZE = 632 + 562 + 370 + 102858
# An index adds its children's sizes to its own.
INDEX_SIZE = 580 + AMD64_SIZE + ARM64_SIZE
SBOM_SIZE = 582 + 2 + 354


@dataclass(frozen=True)
class Pushed:
    """A repository that contains the kit's multiarch:1 and artifact:sbom."""

    project: str
    repository: str  # relative to the project: team/app

    @property
    def path(self) -> str:
        encoded = quote(quote(self.repository, safe=""), safe="")
        return f"{API}/projects/{self.project}/repositories/{encoded}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def repository_path(project: str, repository: str) -> str:
    encoded = quote(quote(repository, safe=""), safe="")
    return f"{API}/projects/{project}/repositories/{encoded}"


def new_project(registry: RunningRegistry, *, public: bool = False) -> str:
    name = unique("art")
    create_project(registry, name, public=public)
    return name


def member_client(
    registry: RunningRegistry, project: str, role_id: int
) -> httpx.Client:
    username = unique("user")
    password = "Member-Pass-1"
    user_id = create_user(registry, username, password)
    add_member(registry, project, user_id, role_id)
    return httpx.Client(base_url=registry.url, auth=(username, password), timeout=60)


def skopeo_copy(
    registry: RunningRegistry, auth_file: Path, source: str, destination: str
) -> None:
    """Copy `source` with every platform into the registry as admin."""
    binary = shutil.which("skopeo")
    if binary is None:
        pytest.fail(
            "skopeo not found on PATH; install it with `apt-get install -y skopeo`"
        )
    result = subprocess.run(
        [
            binary,
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"admin:{ADMIN_PASSWORD}",
            source,
            f"docker://{registry.host}/{destination}",
        ],
        capture_output=True,
        # An auth file of its own, so no login on the host leaks in.
        env={**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)},
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"skopeo copy failed:\n{result.stderr.decode(errors='replace')}")


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def digests_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["digest"] for item in response.json()]


def tag_names(artifact: dict[str, Any]) -> list[str]:
    return [tag["name"] for tag in artifact.get("tags", [])]


def audit_operations(registry: RunningRegistry, resource: str) -> list[tuple[str, str]]:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            rows = session.scalars(
                select(AuditLog)
                .where(AuditLog.resource == resource, AuditLog.result == "success")
                .order_by(AuditLog.id)
            )
            return [(row.operation, row.resource_type) for row in rows]
    finally:
        database.dispose()


def push_index(
    client: httpx.Client, repository: str, tag: str
) -> tuple[Manifest, list[Manifest]]:
    """Push two untagged images and an index of them tagged `tag`."""
    children = [
        push_manifest(client, repository, image_manifest(client, repository))
        for _ in range(2)
    ]
    index = push_manifest(client, repository, index_manifest(children), tag)
    return index, children


@pytest.fixture(scope="module")
def kit(
    registry: RunningRegistry,
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Pushed:
    """Push multiarch:1 and artifact:sbom into PROJECT/team/app with skopeo."""
    auth_file = tmp_path_factory.mktemp("skopeo") / "auth.json"
    auth_file.write_text('{"auths": {}}')
    pushed = Pushed(new_project(registry), "team/app")
    name = f"{pushed.project}/{pushed.repository}"
    images = testdata / "images"
    skopeo_copy(registry, auth_file, f"oci:{images / 'multiarch'}:1", f"{name}:1")
    skopeo_copy(registry, auth_file, f"oci:{images / 'artifact'}:sbom", f"{name}:sbom")
    return pushed


# Reading what skopeo pushed


def test_list_shows_index_and_sbom(admin_client: httpx.Client, kit: Pushed) -> None:
    response = admin_client.get(f"{kit.path}/artifacts")

    assert sorted(digests_of(response)) == sorted([INDEX_DIGEST, SBOM_DIGEST])
    assert response.headers["X-Total-Count"] == "2"


def test_index_fields(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/1").json()

    assert artifact["digest"] == INDEX_DIGEST
    assert artifact["type"] == "IMAGE"
    assert artifact["media_type"] == OCI_INDEX
    assert artifact["manifest_media_type"] == OCI_INDEX
    assert artifact["size"] == INDEX_SIZE
    assert artifact["repository_name"] == f"{kit.project}/team/app"
    assert artifact["annotations"] == {
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z"
    }
    assert tag_names(artifact) == ["1"]
    assert "extra_attrs" not in artifact


def test_index_references(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/1").json()

    references = {ref["child_digest"]: ref for ref in artifact["references"]}

    assert set(references) == {AMD64_DIGEST, ARM64_DIGEST}
    assert references[AMD64_DIGEST]["platform"] == {
        "architecture": "amd64",
        "os": "linux",
    }
    assert references[ARM64_DIGEST]["platform"] == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }
    assert references[ARM64_DIGEST]["parent_id"] == artifact["id"]


def test_reference_child_ids(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/1").json()

    for reference in artifact["references"]:
        child = admin_client.get(
            f"{kit.path}/artifacts/{reference['child_digest']}"
        ).json()
        assert child["id"] == reference["child_id"]


def test_child_fields(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/{ARM64_DIGEST}").json()

    assert artifact["type"] == "IMAGE"
    assert artifact["media_type"] == OCI_CONFIG
    assert artifact["manifest_media_type"] == OCI_MANIFEST
    assert artifact["artifact_type"] == OCI_CONFIG
    assert artifact["size"] == ARM64_SIZE
    assert "tags" not in artifact
    assert "references" not in artifact


def test_child_extra_attrs(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/{AMD64_DIGEST}").json()

    assert artifact["size"] == AMD64_SIZE
    assert artifact["extra_attrs"] == {
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ],
            "Cmd": ["/bin/true"],
        },
    }


def test_sbom_artifact_fields(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/sbom").json()

    assert artifact["digest"] == SBOM_DIGEST
    assert artifact["type"] == "UNKNOWN"
    assert artifact["media_type"] == "application/vnd.oci.empty.v1+json"
    assert artifact["artifact_type"] == "application/vnd.example.sbom+json"
    assert artifact["size"] == SBOM_SIZE
    assert "extra_attrs" not in artifact


def test_get_by_tag_and_digest(admin_client: httpx.Client, kit: Pushed) -> None:
    by_tag = admin_client.get(f"{kit.path}/artifacts/1").json()
    by_digest = admin_client.get(f"{kit.path}/artifacts/{INDEX_DIGEST}").json()

    assert by_tag == by_digest


def test_push_time_format(admin_client: httpx.Client, kit: Pushed) -> None:
    artifact = admin_client.get(f"{kit.path}/artifacts/1").json()

    assert artifact["push_time"].endswith("Z")
    assert "pull_time" not in artifact


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tags=*", [INDEX_DIGEST, SBOM_DIGEST]),
        ("tags=nil", []),
        ("tags=1", [INDEX_DIGEST]),
        ("tags=~sb", [SBOM_DIGEST]),
        (f"digest={AMD64_DIGEST}", []),
        (f"artifact_type={OCI_INDEX}", [INDEX_DIGEST]),
        ("manifest_media_type=" + OCI_INDEX, [INDEX_DIGEST]),
        ("labels=(1 2)", []),
    ],
)
def test_list_query(
    admin_client: httpx.Client, kit: Pushed, query: str, expected: list[str]
) -> None:
    response = admin_client.get(f"{kit.path}/artifacts", params={"q": query})

    assert sorted(digests_of(response)) == sorted(expected)
    assert response.headers["X-Total-Count"] == str(len(expected))


def test_list_without_tags(admin_client: httpx.Client, kit: Pushed) -> None:
    response = admin_client.get(f"{kit.path}/artifacts", params={"with_tag": "false"})

    assert all("tags" not in item for item in response.json())


def test_feature_flags_add_nothing(admin_client: httpx.Client, kit: Pushed) -> None:
    flags = {
        "with_label": "true",
        "with_signature": "true",
        "with_immutable_status": "true",
        "with_accessory": "true",
    }

    listed = admin_client.get(f"{kit.path}/artifacts", params=flags)
    single = admin_client.get(f"{kit.path}/artifacts/1", params=flags)

    assert listed.status_code == 200
    assert single.status_code == 200
    for key in ("labels", "accessories"):
        assert key not in single.json()
    assert single.json()["tags"][0]["immutable"] is False


def test_flag_invalid_boolean(admin_client: httpx.Client, kit: Pushed) -> None:
    response = admin_client.get(f"{kit.path}/artifacts", params={"with_tag": "maybe"})

    assert response.status_code == 422


def test_tags_of_index(admin_client: httpx.Client, kit: Pushed) -> None:
    response = admin_client.get(f"{kit.path}/artifacts/{INDEX_DIGEST}/tags")

    assert response.status_code == 200
    assert [tag["name"] for tag in response.json()] == ["1"]
    assert response.headers["X-Total-Count"] == "1"
    assert set(response.json()[0]) == {
        "id",
        "repository_id",
        "artifact_id",
        "name",
        "push_time",
        "immutable",
    }


def test_repository_counts_listed_only(admin_client: httpx.Client, kit: Pushed) -> None:
    response = admin_client.get(kit.path)

    assert response.json()["artifact_count"] == 2


def test_unknown_reference(admin_client: httpx.Client, kit: Pushed) -> None:
    response = admin_client.get(f"{kit.path}/artifacts/absent")

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


@pytest.mark.parametrize("reference", ["sha256:abc", "-bad", "md5:0123"])
def test_invalid_reference(
    admin_client: httpx.Client, kit: Pushed, reference: str
) -> None:
    response = admin_client.get(f"{kit.path}/artifacts/{reference}")

    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


def test_private_anonymous_unauthorized(
    anonymous_client: httpx.Client, kit: Pushed
) -> None:
    response = anonymous_client.get(f"{kit.path}/artifacts")

    assert response.status_code == 401


# Paging


def test_paging_headers(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    pushed = [push_image(admin_client, f"{project}/team/app", tag) for tag in "abc"]
    path = f"{repository_path(project, 'team/app')}/artifacts"

    first = admin_client.get(path, params={"page_size": 2})
    link = first.headers["Link"]
    following = admin_client.get(link.split(">")[0].lstrip("<"))

    assert first.headers["X-Total-Count"] == "3"
    assert digests_of(first) == [pushed[2].digest, pushed[1].digest]
    assert link.endswith('rel="next"')
    assert "team%252Fapp" in link
    assert digests_of(following) == [pushed[0].digest]
    assert 'rel="prev"' in following.headers["Link"]


def test_paging_past_end(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1")

    response = admin_client.get(
        f"{repository_path(project, 'app')}/artifacts", params={"page": 5}
    )

    assert response.json() == []
    assert response.headers["X-Total-Count"] == "1"
    assert "Link" not in response.headers


@pytest.mark.parametrize("size", ["0", "101", "x"])
def test_page_size_invalid(
    registry: RunningRegistry, admin_client: httpx.Client, size: str
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1")

    response = admin_client.get(
        f"{repository_path(project, 'app')}/artifacts", params={"page_size": size}
    )

    assert response.status_code == 400


def test_sort_by_digest(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    pushed = [push_image(admin_client, f"{project}/app", tag) for tag in "abc"]

    response = admin_client.get(
        f"{repository_path(project, 'app')}/artifacts", params={"sort": "digest"}
    )

    assert digests_of(response) == sorted(m.digest for m in pushed)


# Tags


def test_create_tag_served(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    manifest = push_image(admin_client, f"{project}/team/app", "1.0")
    path = repository_path(project, "team/app")

    created = admin_client.post(f"{path}/artifacts/1.0/tags", json={"name": "stable"})
    pulled = admin_client.get(f"/v2/{project}/team/app/manifests/stable")

    assert created.status_code == 201, created.text
    assert pulled.status_code == 200
    assert pulled.headers["Docker-Content-Digest"] == manifest.digest
    tags = admin_client.get(f"{path}/artifacts/{manifest.digest}/tags").json()
    assert sorted(tag["name"] for tag in tags) == ["1.0", "stable"]


def test_create_tag_listed_on_v2(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    # Fill the tag list before the change, so a stale response would show.
    admin_client.get(f"/v2/{project}/app/tags/list")

    admin_client.post(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags", json={"name": "new"}
    )

    response = admin_client.get(f"/v2/{project}/app/tags/list")
    assert response.json()["tags"] == ["1.0", "new"]


def test_create_tag_conflict(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    other = push_image(admin_client, f"{project}/app", "2.0")
    path = repository_path(project, "app")

    response = admin_client.post(f"{path}/artifacts/2.0/tags", json={"name": "1.0"})

    assert response.status_code == 409
    assert error_code(response) == "CONFLICT"
    pulled = admin_client.get(f"/v2/{project}/app/manifests/1.0")
    assert pulled.headers["Docker-Content-Digest"] != other.digest


def test_create_tag_same_artifact_conflict(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.post(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags", json={"name": "1.0"}
    )

    assert response.status_code == 409


@pytest.mark.parametrize("name", ["", ".hidden", "-dash", "a" * 129, "a/b", "x y"])
def test_create_tag_invalid(
    registry: RunningRegistry, admin_client: httpx.Client, name: str
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.post(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags", json={"name": name}
    )

    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


def test_create_tag_missing_name(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.post(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags", json={}
    )

    assert response.status_code == 422


def test_create_tag_missing_artifact(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.post(
        f"{repository_path(project, 'app')}/artifacts/9.9/tags", json={"name": "x"}
    )

    assert response.status_code == 404


def test_create_tag_audited(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    admin_client.post(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags", json={"name": "rc"}
    )

    assert audit_operations(registry, f"{project}/app:rc") == [("create", "tag")]


def test_delete_tag_stops_v2(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    manifest = push_image(admin_client, f"{project}/team/app", "1.0")
    v2_path = f"/v2/{project}/team/app/manifests/1.0"
    # Pull first, so the manifest sits in the server's cache.
    assert admin_client.get(v2_path).status_code == 200

    response = admin_client.delete(
        f"{repository_path(project, 'team/app')}/artifacts/1.0/tags/1.0"
    )

    assert response.status_code == 200, response.text
    assert admin_client.get(v2_path).status_code == 404
    by_digest = admin_client.get(f"/v2/{project}/team/app/manifests/{manifest.digest}")
    assert by_digest.status_code == 200


def test_delete_tag_wrong_artifact(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    push_image(admin_client, f"{project}/app", "2.0")

    response = admin_client.delete(
        f"{repository_path(project, 'app')}/artifacts/2.0/tags/1.0"
    )

    assert response.status_code == 404
    assert admin_client.get(f"/v2/{project}/app/manifests/1.0").status_code == 200


def test_delete_tag_nul_rejected(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.delete(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags/bad%00name"
    )

    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


@pytest.mark.parametrize("name", ["-dash", "a" * 129])
def test_delete_tag_invalid_name(
    registry: RunningRegistry, admin_client: httpx.Client, name: str
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.delete(
        f"{repository_path(project, 'app')}/artifacts/1.0/tags/{name}"
    )

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


def test_delete_tag_audited(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    admin_client.delete(f"{repository_path(project, 'app')}/artifacts/1.0/tags/1.0")

    assert audit_operations(registry, f"{project}/app:1.0") == [("delete", "tag")]


def test_tag_paging(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    manifest = push_image(admin_client, f"{project}/app", "t0")
    path = f"{repository_path(project, 'app')}/artifacts/{manifest.digest}/tags"
    for name in ("t1", "t2"):
        admin_client.post(
            f"{repository_path(project, 'app')}/artifacts/t0/tags", json={"name": name}
        )

    response = admin_client.get(path, params={"page_size": 2, "sort": "name"})

    assert [tag["name"] for tag in response.json()] == ["t0", "t1"]
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]


# Deleting artifacts


def test_delete_child_precondition(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    index, children = push_index(admin_client, f"{project}/app", "multi")

    response = admin_client.delete(
        f"{repository_path(project, 'app')}/artifacts/{children[0].digest}"
    )

    assert response.status_code == 412
    assert error_code(response) == "PRECONDITION"
    assert index.digest in response.json()["errors"][0]["message"]


def test_delete_index_with_children(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    index, children = push_index(admin_client, f"{project}/app", "multi")
    path = repository_path(project, "app")

    response = admin_client.delete(f"{path}/artifacts/multi")

    assert response.status_code == 200, response.text
    for manifest in [index, *children]:
        assert (
            admin_client.get(f"{path}/artifacts/{manifest.digest}").status_code == 404
        )
        pulled = admin_client.get(f"/v2/{project}/app/manifests/{manifest.digest}")
        assert pulled.status_code == 404
    assert admin_client.get(path).json()["artifact_count"] == 0


def test_delete_index_keeps_tagged_child(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    index, children = push_index(admin_client, f"{project}/app", "multi")
    path = repository_path(project, "app")
    admin_client.post(
        f"{path}/artifacts/{children[0].digest}/tags", json={"name": "keep"}
    )

    admin_client.delete(f"{path}/artifacts/{index.digest}")

    tagged_child = admin_client.get(f"{path}/artifacts/keep")
    untagged_child = admin_client.get(f"{path}/artifacts/{children[1].digest}")
    assert tagged_child.status_code == 200
    assert tagged_child.json()["digest"] == children[0].digest
    assert untagged_child.status_code == 404


def test_delete_index_keeps_shared_child(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    first, children = push_index(admin_client, repository, "first")
    second = push_manifest(
        admin_client,
        repository,
        index_manifest([children[0]], annotations={"second": "yes"}),
        "second",
    )
    path = repository_path(project, "app")

    admin_client.delete(f"{path}/artifacts/first")

    shared = admin_client.get(f"{path}/artifacts/{children[0].digest}")
    assert shared.status_code == 200
    assert (
        admin_client.get(f"{path}/artifacts/second").json()["digest"] == second.digest
    )
    assert admin_client.get(f"{path}/artifacts/{first.digest}").status_code == 404


def test_delete_by_tag_removes_tags(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    manifest = push_image(admin_client, f"{project}/app", "1.0")
    path = repository_path(project, "app")
    admin_client.post(f"{path}/artifacts/1.0/tags", json={"name": "latest"})

    response = admin_client.delete(f"{path}/artifacts/1.0")

    assert response.status_code == 200
    for reference in ("1.0", "latest", manifest.digest):
        pulled = admin_client.get(f"/v2/{project}/app/manifests/{reference}")
        assert pulled.status_code == 404
    listed = admin_client.get(f"/v2/{project}/app/tags/list").json()
    assert listed["tags"] == []


def test_delete_removes_referrers(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    repository = f"{project}/app"
    subject = push_image(admin_client, repository, "1.0")
    referrer = push_artifact(
        admin_client, repository, subject, artifact_type="application/vnd.example.sig"
    )
    path = repository_path(project, "app")

    admin_client.delete(f"{path}/artifacts/1.0")

    response = admin_client.get(f"{path}/artifacts/{referrer.digest}")
    assert response.status_code == 404


def test_delete_artifact_audited(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    manifest = push_image(admin_client, f"{project}/app", "1.0")

    admin_client.delete(f"{repository_path(project, 'app')}/artifacts/1.0")

    resource = f"{project}/app@{manifest.digest}"
    assert audit_operations(registry, resource) == [("delete", "artifact")]


def test_delete_missing_artifact(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.delete(f"{repository_path(project, 'app')}/artifacts/2.0")

    assert response.status_code == 404


# Roles


def test_developer_tags_not_deletes(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    path = repository_path(project, "app")

    with member_client(registry, project, DEVELOPER) as client:
        created = client.post(f"{path}/artifacts/1.0/tags", json={"name": "dev"})
        tag_deleted = client.delete(f"{path}/artifacts/1.0/tags/dev")
        artifact_deleted = client.delete(f"{path}/artifacts/1.0")

    assert created.status_code == 201
    assert tag_deleted.status_code == 403
    assert artifact_deleted.status_code == 403
    assert error_code(artifact_deleted) == "FORBIDDEN"


def test_maintainer_deletes(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    path = repository_path(project, "app")

    admin_client.post(f"{path}/artifacts/1.0/tags", json={"name": "rc"})

    with member_client(registry, project, MAINTAINER) as client:
        tag_deleted = client.delete(f"{path}/artifacts/1.0/tags/rc")
        artifact_deleted = client.delete(f"{path}/artifacts/1.0")

    assert tag_deleted.status_code == 200
    assert artifact_deleted.status_code == 200


def test_public_anonymous_reads_only(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = new_project(registry, public=True)
    push_image(admin_client, f"{project}/app", "1.0")
    path = repository_path(project, "app")

    listed = anonymous_client.get(f"{path}/artifacts")
    single = anonymous_client.get(f"{path}/artifacts/1.0")
    tags = anonymous_client.get(f"{path}/artifacts/1.0/tags")
    created = anonymous_client.post(f"{path}/artifacts/1.0/tags", json={"name": "x"})
    deleted = anonymous_client.delete(f"{path}/artifacts/1.0")

    assert listed.status_code == 200
    assert single.status_code == 200
    assert tags.status_code == 200
    assert created.status_code == 401
    assert deleted.status_code == 401


def audit_results(registry: RunningRegistry, project: str) -> list[str]:
    """Return the results of the audit records of requests under `project`.

    The server writes the record of a rejected request after it sent the
    response, so this waits up to 10 seconds for one to appear.
    """
    database = Database(registry.database_url)
    deadline = time.monotonic() + 10
    try:
        while True:
            with database.session(read_only=True) as session:
                results = list(
                    session.scalars(
                        select(AuditLog.result).where(
                            AuditLog.resource.contains(f"/projects/{project}/")
                        )
                    )
                )
            if results or time.monotonic() > deadline:
                return results
            time.sleep(0.05)
    finally:
        database.dispose()


def test_rejected_change_audited(
    registry: RunningRegistry, anonymous_client: httpx.Client
) -> None:
    project = new_project(registry, public=True)
    path = f"{repository_path(project, 'app')}/artifacts/1.0/tags"

    anonymous_client.post(path, json={"name": "x"})

    assert audit_results(registry, project) == ["failure"]


def test_openapi_artifact_shape(admin_client: httpx.Client) -> None:
    document = admin_client.get(f"{API}/openapi.json").json()
    schemas = document["components"]["schemas"]

    assert "extra_attrs" in schemas["Artifact"]["properties"]
    assert "os.version" in schemas["Platform"]["properties"]
    assert "immutable" in schemas["Tag"]["properties"]
