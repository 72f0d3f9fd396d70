"""The authorization matrix: every kind of caller against every guarded operation.

The operations are the guarded registry operations on `/v2/`, the token
service, and the project-scoped operations of `/api/v2.0`. The expected
outcome of each case is computed from the permission table in
`seawall.policy.rbac`, the same table the server enforces, and each case
runs as a real request against a live server. The callers are anonymous,
the system administrator, a user with each of Harbor's five project roles,
and an outsider who is project admin of another project. Each case runs on
a private and on a public project. An allowed case must succeed and a denied one must get 401
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

    setup: Setup
    repository: str
    manifest: Manifest

    @property
    def project(self) -> str:
        return self.setup.project

    @property
    def api_repository(self) -> str:
        """The repository path below /projects/<project>/repositories/, encoded twice."""
        name = self.repository.split("/", 1)[1]
        return name.replace("/", "%252F")

    @property
    def artifact_path(self) -> str:
        return (
            f"/api/v2.0/projects/{self.project}/repositories/{self.api_repository}"
            f"/artifacts/{self.manifest.digest}"
        )

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


def _api_get(path: str) -> Run:
    def run(client: httpx.Client, target: Target) -> httpx.Response:
        return client.get(path.format(p=target.project, r=target.api_repository))

    return run


def _update_project(client: httpx.Client, target: Target) -> httpx.Response:
    return client.put(
        f"/api/v2.0/projects/{target.project}", json={"metadata": {"auto_scan": "true"}}
    )


def _add_member(client: httpx.Client, target: Target) -> httpx.Response:
    username = unique_name("candidate")
    create_user(target.setup.registry, username, PASSWORD)
    return client.post(
        f"/api/v2.0/projects/{target.project}/members",
        json={"role_id": 3, "member_user": {"username": username}},
    )


def _update_repository(client: httpx.Client, target: Target) -> httpx.Response:
    return client.put(
        f"/api/v2.0/projects/{target.project}/repositories/{target.api_repository}",
        json={"description": "updated by the matrix"},
    )


def _delete_repository(client: httpx.Client, target: Target) -> httpx.Response:
    return client.delete(
        f"/api/v2.0/projects/{target.project}/repositories/{target.api_repository}"
    )


def _get_artifact(client: httpx.Client, target: Target) -> httpx.Response:
    return client.get(target.artifact_path)


def _delete_artifact(client: httpx.Client, target: Target) -> httpx.Response:
    return client.delete(target.artifact_path)


def _list_tags(client: httpx.Client, target: Target) -> httpx.Response:
    return client.get(f"{target.artifact_path}/tags")


def _create_tag(client: httpx.Client, target: Target) -> httpx.Response:
    return client.post(f"{target.artifact_path}/tags", json={"name": "release"})


def _delete_api_tag(client: httpx.Client, target: Target) -> httpx.Response:
    return client.delete(f"{target.artifact_path}/tags/v1")


def _project_robot_body(target: Target) -> dict[str, object]:
    return {
        "name": unique_name("bot"),
        "level": "project",
        "duration": 1,
        "permissions": [
            {
                "kind": "project",
                "namespace": target.project,
                "access": [{"resource": "repository", "action": "pull"}],
            }
        ],
    }


def _create_robot(client: httpx.Client, target: Target) -> httpx.Response:
    return client.post("/api/v2.0/robots", json=_project_robot_body(target))


def _list_robots(client: httpx.Client, target: Target) -> httpx.Response:
    project_id = target.setup.admin.get(f"/api/v2.0/projects/{target.project}").json()[
        "project_id"
    ]
    return client.get(
        "/api/v2.0/robots", params={"q": f"Level=project,ProjectID={project_id}"}
    )


PULL = Permission(Resource.REPOSITORY, Action.PULL)
PROJECTS = "/api/v2.0/projects/{p}"
REPOSITORIES = PROJECTS + "/repositories"
API_OPERATIONS = [
    Operation(
        "api get project",
        Permission(Resource.PROJECT, Action.READ),
        200,
        _api_get(PROJECTS),
    ),
    Operation(
        "api project summary",
        Permission(Resource.PROJECT, Action.READ),
        200,
        _api_get(PROJECTS + "/summary"),
    ),
    Operation(
        "api update project",
        Permission(Resource.PROJECT, Action.UPDATE),
        200,
        _update_project,
    ),
    Operation(
        "api list members",
        Permission(Resource.MEMBER, Action.LIST),
        200,
        _api_get(PROJECTS + "/members"),
    ),
    Operation(
        "api add member", Permission(Resource.MEMBER, Action.CREATE), 201, _add_member
    ),
    Operation(
        "api list metadata",
        Permission(Resource.METADATA, Action.LIST),
        200,
        _api_get(PROJECTS + "/metadatas/"),
    ),
    Operation(
        "api list repositories",
        Permission(Resource.REPOSITORY, Action.LIST),
        200,
        _api_get(REPOSITORIES),
    ),
    Operation(
        "api get repository",
        Permission(Resource.REPOSITORY, Action.LIST),
        200,
        _api_get(REPOSITORIES + "/{r}"),
    ),
    Operation(
        "api update repository",
        Permission(Resource.REPOSITORY, Action.UPDATE),
        200,
        _update_repository,
    ),
    Operation(
        "api delete repository",
        Permission(Resource.REPOSITORY, Action.DELETE),
        200,
        _delete_repository,
    ),
    Operation(
        "api list artifacts",
        Permission(Resource.ARTIFACT, Action.LIST),
        200,
        _api_get(REPOSITORIES + "/{r}/artifacts"),
    ),
    Operation(
        "api get artifact",
        Permission(Resource.ARTIFACT, Action.READ),
        200,
        _get_artifact,
    ),
    Operation(
        "api delete artifact",
        Permission(Resource.ARTIFACT, Action.DELETE),
        200,
        _delete_artifact,
    ),
    Operation("api list tags", Permission(Resource.TAG, Action.LIST), 200, _list_tags),
    Operation(
        "api create tag", Permission(Resource.TAG, Action.CREATE), 201, _create_tag
    ),
    Operation(
        "api delete tag", Permission(Resource.TAG, Action.DELETE), 200, _delete_api_tag
    ),
    Operation(
        "api list robots", Permission(Resource.ROBOT, Action.LIST), 200, _list_robots
    ),
    Operation(
        "api create robot",
        Permission(Resource.ROBOT, Action.CREATE),
        201,
        _create_robot,
    ),
]

V2_OPERATIONS = [
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

OPERATIONS = V2_OPERATIONS + API_OPERATIONS


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
    return Target(setup, repository, manifest)


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


# A token action is granted only with every permission the /v2/ operations
# of that kind check.
TOKEN_ACTIONS = {
    "pull": [Permission(Resource.REPOSITORY, Action.PULL)],
    "push": [Permission(Resource.REPOSITORY, Action.PUSH)],
    "delete": [
        Permission(Resource.ARTIFACT, Action.DELETE),
        Permission(Resource.TAG, Action.DELETE),
        Permission(Resource.REPOSITORY, Action.DELETE),
    ],
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
        for action, permissions in TOKEN_ACTIONS.items()
        if all(_allowed(setup, caller, permission) for permission in permissions)
    )
    assert _token_grants(setup, caller) == expected
