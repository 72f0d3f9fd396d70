"""Hostile requests against artifact copy, accessories, user groups and pull counts.

Each test drives a live `seawall serve` process over HTTP and checks that
bad input gets a clear error in Harbor's envelope, that unreadable
projects stay hidden, and that nothing is lost or half-written.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_artifacts import (
    member_client,
    new_project,
    repository_path,
    unique,
)
from tests.e2e.protocol_helpers import (
    Manifest,
    index_manifest,
    push_artifact,
    push_image,
    push_manifest,
)
from tests.e2e.test_scanner_adapter import (
    RunningAdapter,
    raw_adapter,
    seawall_adapter,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry

# Fixtures of the scanner adapter suite, used here by name.
__all__ = ["raw_adapter", "seawall_adapter"]

API = "/api/v2.0"
PROJECT_ADMIN = 1
GUEST = 3
HTTP_GROUP = 2
LDAP_GROUP = 1
COSIGN_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert isinstance(errors, list)
    return dict(errors[0])


def copy(
    client: httpx.Client, project: str, repository: str, source: str
) -> httpx.Response:
    return client.post(
        f"{repository_path(project, repository)}/artifacts", params={"from": source}
    )


# --- artifact copy --------------------------------------------------------------


def test_copy_private_source_looks_missing(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    private, target = new_project(registry), new_project(registry)
    push_image(admin_client, f"{private}/app", "1.0")
    with member_client(registry, target, PROJECT_ADMIN) as outsider:
        hidden = copy(outsider, target, "stolen", f"{private}/app:1.0")
        missing = copy(outsider, target, "stolen", f"{unique('none')}/app:1.0")

    assert hidden.status_code == 404
    assert missing.status_code == 404
    assert error_of(hidden)["code"] == error_of(missing)["code"] == "NOT_FOUND"
    hidden_message = error_of(hidden)["message"].replace(private, "PROJECT")
    missing_message = re.sub(r"none-[0-9a-f]+", "PROJECT", error_of(missing)["message"])
    assert hidden_message == missing_message
    listed = admin_client.get(f"{repository_path(target, 'stolen')}/artifacts")
    assert listed.status_code == 404


@pytest.mark.parametrize(
    "source",
    [
        "p\x00/app:1.0",
        "p/app:1.0\x00",
        "p%2Fapp:1.0",
        "p%252Fapp:1.0",
        "p/app:" + "t" * 200,
        "p/" + "a" * 5000 + ":1.0",
        "p/app@sha256:" + "g" * 64,
        "p/app@sha256:abc",
        "p/app@md5:" + "0" * 32,
        "p/app:1.0@sha256:" + "0" * 64,
        "p/app:tag:other",
        "p/app:/x",
        "/app:1.0",
        "p//app:1.0",
        "p/../app:1.0",
        "p/APP:1.0",
        "p/app\u202e:1.0",
        "p/äpp:1.0",
        "p/app:",
        "p/app@",
        ":",
        "@",
        "",
    ],
)
def test_copy_odd_from_rejected(
    registry: RunningRegistry, admin_client: httpx.Client, source: str
) -> None:
    target = new_project(registry)

    response = copy(admin_client, target, "odd", source)

    assert response.status_code in {400, 404}, response.text
    assert error_of(response)["message"]
    listed = admin_client.get(f"{repository_path(target, 'odd')}/artifacts")
    assert listed.status_code == 404


def test_copy_deep_index_chain(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/deep"
    current: Manifest = push_image(admin_client, repository)
    for _ in range(40):
        current = push_manifest(admin_client, repository, index_manifest([current]))
    push_manifest(admin_client, repository, current, "top")

    response = copy(admin_client, target, "deep", f"{repository}:top")

    assert response.status_code == 201, response.text
    pulled = admin_client.get(
        f"/v2/{target}/deep/manifests/top", headers={"Accept": current.media_type}
    )
    assert pulled.status_code == 200
    assert pulled.content == current.body


def test_copy_back_and_forth(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    left, right = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{left}/app", "1.0")

    there = copy(admin_client, right, "app", f"{left}/app:1.0")
    back = copy(admin_client, left, "app", f"{right}/app@{image.digest}")
    again = copy(admin_client, right, "app", f"{left}/app:1.0")

    assert there.status_code == 201, there.text
    assert back.status_code == 201, back.text
    assert again.status_code == 201, again.text
    listed = admin_client.get(f"{repository_path(right, 'app')}/artifacts")
    assert [artifact["digest"] for artifact in listed.json()] == [image.digest]


def test_copy_index_child_kept(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    # A child that an index lists cannot be deleted, so a copy of the index
    # always finds every child.
    source, target = new_project(registry), new_project(registry)
    repository = f"{source}/multi"
    child = push_image(admin_client, repository)
    index = push_manifest(admin_client, repository, index_manifest([child]), "1.0")
    deleted = admin_client.delete(f"/v2/{repository}/manifests/{child.digest}")

    response = copy(admin_client, target, "multi", f"{repository}:1.0")

    assert deleted.status_code >= 400
    assert response.status_code == 201, response.text
    for manifest in (index, child):
        pulled = admin_client.get(
            f"/v2/{target}/multi/manifests/{manifest.digest}",
            headers={"Accept": manifest.media_type},
        )
        assert pulled.status_code == 200


# --- accessories ------------------------------------------------------------------


def accessories(
    client: httpx.Client, project: str, repository: str, reference: str, **params: str
) -> httpx.Response:
    path = f"{repository_path(project, repository)}/artifacts/{reference}/accessories"
    return client.get(path, params=params)


@pytest.fixture
def signed(
    registry: RunningRegistry, admin_client: httpx.Client
) -> tuple[str, Manifest, Manifest]:
    project = new_project(registry)
    image = push_image(admin_client, f"{project}/app", "1.0")
    signature = push_artifact(
        admin_client, f"{project}/app", image, artifact_type=COSIGN_TYPE
    )
    return project, image, signature


@pytest.mark.parametrize(
    "query",
    [
        "size=\u00b2",
        "id=\u0663",
        "artifact_id=[\u00b9~]",
        "size=" + "9" * 5000,
        "id={1 \u00b2}",
        "id=--5",
    ],
)
def test_accessories_bad_number_rejected(
    admin_client: httpx.Client, signed: tuple[str, Manifest, Manifest], query: str
) -> None:
    project, image, _ = signed

    response = accessories(admin_client, project, "app", image.digest, q=query)

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "query",
    ["nokey=1", "size=~1", "type=[a~b]", "id=abc", "=", "type"],
)
def test_accessories_bad_q_without_accessories(
    registry: RunningRegistry, admin_client: httpx.Client, query: str
) -> None:
    project = new_project(registry)
    image = push_image(admin_client, f"{project}/app", "1.0")

    response = accessories(admin_client, project, "app", image.digest, q=query)

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "BAD_REQUEST"


def test_accessories_of_private_artifact_hidden(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
    signed: tuple[str, Manifest, Manifest],
) -> None:
    project, image, _ = signed
    other = new_project(registry)

    anonymous = accessories(anonymous_client, project, "app", image.digest)
    with member_client(registry, other, PROJECT_ADMIN) as outsider:
        foreign = accessories(outsider, project, "app", image.digest)

    assert anonymous.status_code == 401
    assert foreign.status_code in {403, 404}
    assert image.digest not in foreign.text
    assert image.digest not in anonymous.text


def test_legacy_sig_tag_for_other_repository(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    victim, attacker = new_project(registry), new_project(registry)
    image = push_image(admin_client, f"{victim}/app", "1.0")
    legacy_tag = "sha256-" + image.digest.removeprefix("sha256:") + ".sig"
    forged = push_image(admin_client, f"{attacker}/app", legacy_tag)

    victims = accessories(admin_client, victim, "app", image.digest)
    attackers = admin_client.get(f"{repository_path(attacker, 'app')}/artifacts")

    assert victims.status_code == 200
    assert victims.json() == []
    assert [artifact["digest"] for artifact in attackers.json()] == [forged.digest]


# --- user groups --------------------------------------------------------------------


def create_group(
    client: httpx.Client, name: str, group_type: int = HTTP_GROUP, dn: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"group_name": name, "group_type": group_type}
    if dn is not None:
        body["ldap_group_dn"] = dn
    return client.post(f"{API}/usergroups", json=body)


@pytest.mark.parametrize(
    ("name", "dn"),
    [
        ("nul\x00name", None),
        ("ldap-nul", "cn=a\x00b,dc=example"),
        ("x" * 256, None),
        ("x" * 100_000, None),
        ("ldap-long", "cn=" + "a" * 600 + ",dc=example"),
        ("ldap-empty-value", "cn=,dc=example"),
        ("ldap-bad-type", "c n=devs,dc=example"),
        ("ldap-trailing-escape", "cn=devs\\"),
    ],
)
def test_group_invalid_fields_rejected(
    admin_client: httpx.Client, name: str, dn: str | None
) -> None:
    group_type = LDAP_GROUP if dn is not None else HTTP_GROUP

    response = create_group(admin_client, name, group_type, dn)

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "BAD_REQUEST"
    assert "\x00" not in response.text


def test_group_search_nul_rejected(admin_client: httpx.Client) -> None:
    searched = admin_client.get(f"{API}/usergroups/search", params={"groupname": "a\0"})
    listed = admin_client.get(f"{API}/usergroups", params={"group_name": "a\0"})
    by_dn = admin_client.get(f"{API}/usergroups", params={"ldap_group_dn": "cn=\0"})

    assert searched.status_code == 400, searched.text
    assert listed.status_code == 400, listed.text
    assert by_dn.status_code == 400, by_dn.text


def test_ldap_injection_dn_stored_verbatim(admin_client: httpx.Client) -> None:
    dn = f"cn={unique('x')})(uid=*\\2a,dc=example"

    created = create_group(admin_client, unique("inject"), LDAP_GROUP, dn)
    found = admin_client.get(f"{API}/usergroups", params={"ldap_group_dn": dn})

    assert created.status_code == 201, created.text
    assert [group["ldap_group_dn"] for group in found.json()] == [dn.lower()]


def test_member_ldap_name_too_long(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    dn = f"cn={unique('long')},dc=example"
    body = {
        "role_id": GUEST,
        "member_group": {"ldap_group_dn": dn, "group_name": "n" * 300},
    }

    response = admin_client.post(f"{API}/projects/{project}/members", json=body)
    found = admin_client.get(f"{API}/usergroups", params={"ldap_group_dn": dn})

    assert response.status_code == 400, response.text
    assert found.json() == []


def test_member_group_name_nul(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    body = {
        "role_id": GUEST,
        "member_group": {"group_name": "nul\x00x", "group_type": HTTP_GROUP},
    }

    response = admin_client.post(f"{API}/projects/{project}/members", json=body)

    assert response.status_code == 400, response.text


def test_project_admin_cannot_manage_groups(registry: RunningRegistry) -> None:
    project = new_project(registry)
    with member_client(registry, project, PROJECT_ADMIN) as admin_of_project:
        created = create_group(admin_of_project, unique("escalate"))
        listed = admin_of_project.get(f"{API}/usergroups")
        member = admin_of_project.post(
            f"{API}/projects/{project}/members",
            json={
                "role_id": PROJECT_ADMIN,
                "member_group": {"group_name": unique("g"), "group_type": HTTP_GROUP},
            },
        )

    assert created.status_code == 403
    assert listed.status_code == 403
    assert member.status_code == 201, member.text


def test_concurrent_group_member_adds(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    name = unique("race")
    body = {
        "role_id": GUEST,
        "member_group": {"group_name": name, "group_type": HTTP_GROUP},
    }

    def add() -> int:
        with httpx.Client(
            base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client:
            return client.post(
                f"{API}/projects/{project}/members", json=body
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: add(), range(8)))
    groups = admin_client.get(f"{API}/usergroups", params={"group_name": name})
    members = admin_client.get(f"{API}/projects/{project}/members")

    assert statuses == [201] + [409] * 7
    assert len(groups.json()) == 1
    assert [m["entity_name"] for m in members.json()].count(name) == 1


def test_delete_group_in_many_projects(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    created = create_group(admin_client, unique("wide"))
    group_id = int(created.headers["Location"].rsplit("/", 1)[1])
    projects = [new_project(registry) for _ in range(30)]
    for project in projects:
        added = admin_client.post(
            f"{API}/projects/{project}/members",
            json={"role_id": GUEST, "member_group": {"id": group_id}},
        )
        assert added.status_code == 201, added.text

    deleted = admin_client.delete(f"{API}/usergroups/{group_id}")

    assert deleted.status_code == 200
    for project in projects:
        members = admin_client.get(f"{API}/projects/{project}/members")
        assert all(m["entity_type"] != "g" for m in members.json())
    assert admin_client.get(f"{API}/usergroups/{group_id}").status_code == 404


# --- pull counts --------------------------------------------------------------------


def pull_count(client: httpx.Client, project: str, repository: str) -> int:
    response = client.get(f"{repository_path(project, repository)}")
    assert response.status_code == 200, response.text
    return int(response.json()["pull_count"])


def wait_for_count(
    client: httpx.Client, project: str, repository: str, expected: int
) -> int:
    deadline = time.monotonic() + 30
    count = pull_count(client, project, repository)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = pull_count(client, project, repository)
    return count


def get_manifest(client: httpx.Client, repository: str, image: Manifest) -> int:
    return client.get(
        f"/v2/{repository}/manifests/1.0", headers={"Accept": image.media_type}
    ).status_code


def test_concurrent_pulls_all_counted(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    image = push_image(admin_client, f"{project}/hot", "1.0")

    def pull(_: int) -> int:
        with httpx.Client(
            base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client:
            return sum(get_manifest(client, f"{project}/hot", image) for _ in range(10))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(pull, range(8)))

    assert statuses == [2000] * 8
    assert wait_for_count(admin_client, project, "hot", 80) == 80


def test_pulls_of_deleted_repository_dropped(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    gone = push_image(admin_client, f"{project}/gone", "1.0")
    kept = push_image(admin_client, f"{project}/kept", "1.0")

    assert get_manifest(admin_client, f"{project}/gone", gone) == 200
    assert get_manifest(admin_client, f"{project}/kept", kept) == 200
    deleted = admin_client.delete(repository_path(project, "gone"))

    assert deleted.status_code == 200, deleted.text
    assert wait_for_count(admin_client, project, "kept", 1) == 1
    recreated = push_image(admin_client, f"{project}/gone", "1.0")
    assert get_manifest(admin_client, f"{project}/gone", recreated) == 200
    assert wait_for_count(admin_client, project, "gone", 1) == 1
    log = registry.log_path.read_text()
    assert "periodic work failed" not in log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_last_pulls_written_at_stop(tmp_path: Path, workers: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    env = {"SEAWALL_WORKERS": workers}
    with start_registry(data_dir, database, env) as running:
        client = httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        )
        project = new_project(running)
        image = push_image(client, f"{project}/app", "1.0")
        statuses = [get_manifest(client, f"{project}/app", image) for _ in range(20)]
        client.close()
    assert statuses == [200] * 20

    with start_registry(data_dir, database, env) as running:
        with httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client:
            count = pull_count(client, project, "app")
        log = running.log_path.read_text()

    assert count == 20, log[-4000:]


# --- the scanner adapter ----------------------------------------------------------


def scan_body(registry_url: str) -> dict[str, Any]:
    return {
        "registry": {"url": registry_url, "authorization": "Basic eDp5"},
        "artifact": {"repository": "library/app", "digest": "sha256:" + "0" * 64},
    }


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"registry": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}",
    ],
)
def test_adapter_deeply_nested_body(raw_adapter: httpx.Client, content: bytes) -> None:
    response = raw_adapter.post("/scan", content=content)

    assert response.status_code == 400, response.text
    assert "not valid JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/metadata"),
        ("POST", "/scan"),
        ("GET", "/scan/00000000-0000-0000-0000-000000000000/report"),
    ],
)
@pytest.mark.parametrize("key", [None, b"", b"wrong", b"x" * 10_000, b"\xe9\xff"])
def test_adapter_key_required_everywhere(
    seawall_adapter: RunningAdapter, method: str, path: str, key: bytes | None
) -> None:
    headers = {} if key is None else {b"X-ScannerAdapter-API-Key": key}

    response = httpx.request(
        method,
        f"{seawall_adapter.url}/api/v1{path}",
        headers=headers,
        json=scan_body("http://127.0.0.1:1"),
        timeout=30,
    )

    assert response.status_code == 401, response.text
    assert "API key" in response.json()["error"]["message"]


def test_adapter_pulling_from_itself(
    seawall_adapter: RunningAdapter, raw_adapter: httpx.Client
) -> None:
    accepted = raw_adapter.post("/scan", json=scan_body(seawall_adapter.url))
    assert accepted.status_code == 202, accepted.text
    scan_id = accepted.json()["id"]

    deadline = time.monotonic() + 60
    response = raw_adapter.get(f"/scan/{scan_id}/report")
    while response.status_code == 302 and time.monotonic() < deadline:
        time.sleep(0.2)
        response = raw_adapter.get(f"/scan/{scan_id}/report")

    assert response.status_code == 500, response.text
    assert "pulling the image failed" in response.json()["error"]["message"]
    assert list(seawall_adapter.temp_dir.iterdir()) == []
