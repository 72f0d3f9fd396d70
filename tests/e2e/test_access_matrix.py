"""The authorization matrix: every kind of caller against every guarded operation.

The expected outcome of each case is computed from the permission table in
`seawall.policy.rbac`, the same table the server enforces, and each case
runs as a real request against a live server. Callers: anonymous, the
system administrator, a user holding each of Harbor's five project roles,
and an outsider who is project admin of another project; projects: private
and public. An allowed case must succeed and a denied one must get 401
(anonymous) or 403, so an unexpected allow fails as surely as a missing one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from seawall.policy.rbac import (
    PUBLIC_PERMISSIONS,
    ROLE_PERMISSIONS,
    Action,
    Permission,
    ProjectRole,
    Resource,
)
from tests.e2e.protocol_helpers import Manifest, describe, push_image, unique_name
from tests.support.seed import add_member, create_project, create_user
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

PASSWORD = "Matrix-Test-1"
CALLERS = [
    "anonymous",
    "sysadmin",
    *(f"role-{role.harbor_name}" for role in ProjectRole),
    "outsider",
]


@dataclass
class Setup:
    registry: RunningRegistry
    project: str
    public: bool
    logins: dict[str, tuple[str, str] | None]
    admin: httpx.Client

    def client(self, caller: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.registry.url, auth=self.logins[caller], timeout=60
        )


@dataclass
class Target:
    """Fresh content for one case: an image tagged v1 in its own repository."""

    repository: str
    manifest: Manifest

    @property
    def config_digest(self) -> str:
        digest: str = json.loads(self.manifest.body)["config"]["digest"]
        return digest


def _allowed(setup: Setup, caller: str, permission: Permission) -> bool:
    if caller == "sysadmin":
        return True
    granted = set(PUBLIC_PERMISSIONS) if setup.public else set()
    if caller.startswith("role-"):
        name = caller.removeprefix("role-")
        role = next(r for r in ProjectRole if r.harbor_name == name)
        granted |= ROLE_PERMISSIONS[role]
    return permission in granted


Run = Callable[[httpx.Client, Target], httpx.Response]


@dataclass(frozen=True)
class Operation:
    name: str
    permission: Permission
    success: int
    run: Run


def _pull_manifest(client: httpx.Client, target: Target) -> httpx.Response:
    return client.get(f"/v2/{target.repository}/manifests/v1")


def _head_blob(client: httpx.Client, target: Target) -> httpx.Response:
    return client.head(f"/v2/{target.repository}/blobs/{target.config_digest}")


def _tags_list(client: httpx.Client, target: Target) -> httpx.Response:
    return client.get(f"/v2/{target.repository}/tags/list")


def _referrers(client: httpx.Client, target: Target) -> httpx.Response:
    return client.get(f"/v2/{target.repository}/referrers/{target.manifest.digest}")


def _start_upload(client: httpx.Client, target: Target) -> httpx.Response:
    return client.post(f"/v2/{target.repository}/blobs/uploads/")


def _push_manifest(client: httpx.Client, target: Target) -> httpx.Response:
    return client.put(
        f"/v2/{target.repository}/manifests/v2",
        content=target.manifest.body,
        headers={"Content-Type": target.manifest.media_type},
    )


def _delete_manifest(client: httpx.Client, target: Target) -> httpx.Response:
    return client.delete(f"/v2/{target.repository}/manifests/{target.manifest.digest}")


def _delete_tag(client: httpx.Client, target: Target) -> httpx.Response:
    return client.delete(f"/v2/{target.repository}/manifests/v1")


def _delete_blob(client: httpx.Client, target: Target) -> httpx.Response:
    return client.delete(f"/v2/{target.repository}/blobs/{target.config_digest}")


PULL = Permission(Resource.REPOSITORY, Action.PULL)
OPERATIONS = [
    Operation("v2 pull manifest", PULL, 200, _pull_manifest),
    Operation("v2 head blob", PULL, 200, _head_blob),
    Operation("v2 tags list", PULL, 200, _tags_list),
    Operation("v2 referrers", PULL, 200, _referrers),
    Operation(
        "v2 start upload",
        Permission(Resource.REPOSITORY, Action.PUSH),
        202,
        _start_upload,
    ),
    Operation(
        "v2 push manifest",
        Permission(Resource.REPOSITORY, Action.PUSH),
        201,
        _push_manifest,
    ),
    Operation(
        "v2 delete manifest",
        Permission(Resource.ARTIFACT, Action.DELETE),
        202,
        _delete_manifest,
    ),
    Operation(
        "v2 delete tag", Permission(Resource.TAG, Action.DELETE), 202, _delete_tag
    ),
    Operation(
        "v2 delete blob",
        Permission(Resource.REPOSITORY, Action.DELETE),
        202,
        _delete_blob,
    ),
]


def _make_setup(registry: RunningRegistry, public: bool) -> Iterator[Setup]:
    project = unique_name("matrix-pub" if public else "matrix-priv")
    other = unique_name("matrix-other")
    create_project(registry, project, public=public)
    create_project(registry, other, public=False)
    logins: dict[str, tuple[str, str] | None] = {
        "anonymous": None,
        "sysadmin": ("admin", ADMIN_PASSWORD),
    }
    for role in ProjectRole:
        username = unique_name(f"m{role.value}")
        add_member(
            registry, project, create_user(registry, username, PASSWORD), role.value
        )
        logins[f"role-{role.harbor_name}"] = (username, PASSWORD)
    outsider = unique_name("outsider")
    add_member(registry, other, create_user(registry, outsider, PASSWORD), 1)
    logins["outsider"] = (outsider, PASSWORD)
    with httpx.Client(
        base_url=registry.url, auth=logins["sysadmin"], timeout=60
    ) as admin:
        yield Setup(registry, project, public, logins, admin)


@pytest.fixture(scope="module")
def private_setup(registry: RunningRegistry) -> Iterator[Setup]:
    yield from _make_setup(registry, public=False)


@pytest.fixture(scope="module")
def public_setup(registry: RunningRegistry) -> Iterator[Setup]:
    yield from _make_setup(registry, public=True)


def _fresh_target(setup: Setup) -> Target:
    repository = f"{setup.project}/{unique_name('app')}"
    manifest = push_image(setup.admin, repository, "v1")
    return Target(repository, manifest)


def _check(setup: Setup, caller: str, operation: Operation) -> None:
    target = _fresh_target(setup)
    with setup.client(caller) as client:
        response = operation.run(client, target)
    if _allowed(setup, caller, operation.permission):
        assert response.status_code == operation.success, describe(response)
    elif caller == "anonymous":
        assert response.status_code == 401, describe(response)
    else:
        assert response.status_code == 403, describe(response)


CASES = [(caller, operation) for caller in CALLERS for operation in OPERATIONS]
IDS = [f"{caller}-{operation.name.replace(' ', '-')}" for caller, operation in CASES]


@pytest.mark.parametrize(("caller", "operation"), CASES, ids=IDS)
def test_private_project(
    private_setup: Setup, caller: str, operation: Operation
) -> None:
    _check(private_setup, caller, operation)


@pytest.mark.parametrize(("caller", "operation"), CASES, ids=IDS)
def test_public_project(public_setup: Setup, caller: str, operation: Operation) -> None:
    _check(public_setup, caller, operation)


TOKEN_ACTIONS = {
    "pull": Permission(Resource.REPOSITORY, Action.PULL),
    "push": Permission(Resource.REPOSITORY, Action.PUSH),
    "delete": Permission(Resource.ARTIFACT, Action.DELETE),
}


def _token_grants(setup: Setup, caller: str) -> list[str]:
    repository = f"{setup.project}/app"
    response = httpx.get(
        f"{setup.registry.url}/service/token",
        params={
            "service": "harbor-registry",
            "scope": f"repository:{repository}:pull,push,delete",
        },
        auth=setup.logins[caller],
        timeout=30,
    )
    assert response.status_code == 200, describe(response)
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    for entry in claims["access"]:
        if entry["name"] == repository:
            return sorted(entry["actions"])
    return []


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("visibility", ["private", "public"])
def test_token_grants(
    private_setup: Setup, public_setup: Setup, caller: str, visibility: str
) -> None:
    setup = private_setup if visibility == "private" else public_setup
    expected = sorted(
        action
        for action, permission in TOKEN_ACTIONS.items()
        if _allowed(setup, caller, permission)
    )
    assert _token_grants(setup, caller) == expected
