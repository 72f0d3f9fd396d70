"""Robot accounts used by a real client: skopeo pushes and pulls with robot credentials.

skopeo 1.9 responds to the registry's Bearer challenge by asking `/service/token`
for a token with the robot's Basic credentials, so every copy here also goes
through the token service. The token tests check what that service grants a
robot directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import update

from seawall.db import Database
from seawall.db.models import Robot
from seawall.registry.cache import MetadataEpoch
from tests.support.oci_layout import tagged_manifest
from tests.support.seed import create_project
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

ROBOTS = "/api/v2.0/robots"
SKOPEO_TIMEOUT_SECONDS = 300
IMAGE_TAG = "1.0"
# Digest of the `clean:1.0` manifest in the test kit. skopeo copies it unchanged.
CLEAN_DIGEST = "sha256:3836c461e97d16d443302288015ec7849070c91bf2c32c00a3cb3dad79840657"
PUSH_PULL = [("repository", "push"), ("repository", "pull")]
PULL_ONLY = [("repository", "pull")]


# Helpers


@pytest.fixture(scope="module")
def skopeo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose auth file is empty, so no login on the host leaks in."""
    if shutil.which("skopeo") is None:
        pytest.fail(
            "skopeo not found on PATH; install it with `apt-get install -y skopeo`"
        )
    auth_file = tmp_path_factory.mktemp("robot-skopeo") / "auth.json"
    auth_file.write_text('{"auths": {}}')
    return {**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)}


@pytest.fixture
def clean_layout(testdata: Path) -> Path:
    return testdata / "images" / "clean"


def run_skopeo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=SKOPEO_TIMEOUT_SECONDS,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"skopeo exited with {result.returncode}:\n{result.stderr[-4000:]}"


def push(
    env: dict[str, str],
    registry: RunningRegistry,
    layout: Path,
    repository: str,
    credentials: str,
) -> subprocess.CompletedProcess[str]:
    return run_skopeo(
        env,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        credentials,
        f"oci:{layout}:{IMAGE_TAG}",
        f"docker://{registry.host}/{repository}:{IMAGE_TAG}",
    )


def pull(
    env: dict[str, str],
    registry: RunningRegistry,
    repository: str,
    destination: Path,
    credentials: str,
) -> subprocess.CompletedProcess[str]:
    return run_skopeo(
        env,
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        credentials,
        f"docker://{registry.host}/{repository}:{IMAGE_TAG}",
        f"oci:{destination}:{IMAGE_TAG}",
    )


def admin_credentials() -> str:
    return f"admin:{ADMIN_PASSWORD}"


def new_project(registry: RunningRegistry) -> str:
    name = f"robotp{uuid.uuid4().hex[:10]}"
    create_project(registry, name, public=False)
    return name


@pytest.fixture
def admin(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
    ) as client:
        yield client


def access(
    kind: str, namespace: str, pairs: list[tuple[str, str]]
) -> dict[str, object]:
    return {
        "kind": kind,
        "namespace": namespace,
        "access": [{"resource": r, "action": a, "effect": "allow"} for r, a in pairs],
    }


def create_robot(
    admin: httpx.Client,
    name: str,
    level: str,
    permissions: list[dict[str, object]],
) -> dict[str, object]:
    response = admin.post(
        ROBOTS, json={"name": name, "level": level, "permissions": permissions}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def project_robot(
    admin: httpx.Client, project: str, pairs: list[tuple[str, str]]
) -> dict[str, object]:
    return create_robot(admin, "ci", "project", [access("project", project, pairs)])


def credentials_of(robot: dict[str, object]) -> str:
    return f"{robot['name']}:{robot['secret']}"


def unauthorized(result: subprocess.CompletedProcess[str]) -> bool:
    """Return whether skopeo failed on a 401 from the registry or its token service."""
    text = result.stderr.lower()
    return result.returncode != 0 and ("unauthorized" in text or "401" in text)


def request_token(
    registry: RunningRegistry, scope: str, auth: tuple[str, str]
) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/service/token",
        params={"service": "harbor-registry", "scope": scope},
        auth=auth,
        timeout=30,
    )


def granted(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    # The registry's own project key is left out; it differs per project.
    return [
        {key: value for key, value in entry.items() if key != "project"}
        for entry in claims["access"]
    ]


def robot_auth(robot: dict[str, object]) -> tuple[str, str]:
    return str(robot["name"]), str(robot["secret"])


def tag_exists(admin: httpx.Client, repository: str) -> bool:
    response = admin.get(f"/v2/{repository}/manifests/{IMAGE_TAG}")
    return response.status_code == 200


def put_robot(admin: httpx.Client, robot_id: object, **changes: object) -> None:
    current = admin.get(f"{ROBOTS}/{robot_id}").json()
    response = admin.put(f"{ROBOTS}/{robot_id}", json={**current, **changes})
    assert response.status_code == 200, response.text


# Push and pull


def test_project_robot_push_and_pull(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)

    pushed = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )
    pulled = pull(
        skopeo_env, registry, f"{project}/app", tmp_path / "out", credentials_of(robot)
    )

    assert pushed.returncode == 0, describe(pushed)
    assert pulled.returncode == 0, describe(pulled)
    assert tagged_manifest(tmp_path / "out", IMAGE_TAG).digest == CLEAN_DIGEST


def test_project_robot_other_project_denied(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
) -> None:
    project = new_project(registry)
    other = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)

    result = push(
        skopeo_env, registry, clean_layout, f"{other}/app", credentials_of(robot)
    )

    assert unauthorized(result), describe(result)
    assert not tag_exists(admin, f"{other}/app")


def test_project_robot_other_project_pull_denied(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    other = new_project(registry)
    seeded = push(
        skopeo_env, registry, clean_layout, f"{other}/app", admin_credentials()
    )
    assert seeded.returncode == 0, describe(seeded)
    robot = project_robot(admin, project, PUSH_PULL)

    result = pull(
        skopeo_env, registry, f"{other}/app", tmp_path / "out", credentials_of(robot)
    )

    assert unauthorized(result), describe(result)


def test_pull_only_robot_cannot_push(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    seeded = push(
        skopeo_env, registry, clean_layout, f"{project}/base", admin_credentials()
    )
    assert seeded.returncode == 0, describe(seeded)
    robot = project_robot(admin, project, PULL_ONLY)

    pushed = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )
    pulled = pull(
        skopeo_env, registry, f"{project}/base", tmp_path / "out", credentials_of(robot)
    )

    assert unauthorized(pushed), describe(pushed)
    assert "does not grant push" in pushed.stderr
    assert not tag_exists(admin, f"{project}/app")
    assert pulled.returncode == 0, describe(pulled)


def test_system_robot_pulls_every_project(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    projects = [new_project(registry), new_project(registry)]
    for project in projects:
        seeded = push(
            skopeo_env, registry, clean_layout, f"{project}/app", admin_credentials()
        )
        assert seeded.returncode == 0, describe(seeded)
    robot = create_robot(
        admin,
        f"reader{uuid.uuid4().hex[:10]}",
        "system",
        [access("project", "*", PULL_ONLY)],
    )

    results = [
        pull(
            skopeo_env,
            registry,
            f"{project}/app",
            tmp_path / project,
            credentials_of(robot),
        )
        for project in projects
    ]

    for result in results:
        assert result.returncode == 0, describe(result)


def test_system_robot_pull_grant_cannot_push(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
) -> None:
    project = new_project(registry)
    robot = create_robot(
        admin,
        f"reader{uuid.uuid4().hex[:10]}",
        "system",
        [access("project", "*", PULL_ONLY)],
    )

    result = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )

    assert unauthorized(result), describe(result)
    assert not tag_exists(admin, f"{project}/app")


# Rejected robots


def test_disabled_robot_rejected(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)
    pushed = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )
    assert pushed.returncode == 0, describe(pushed)

    put_robot(admin, robot["id"], disable=True)
    result = pull(
        skopeo_env, registry, f"{project}/app", tmp_path / "out", credentials_of(robot)
    )

    assert unauthorized(result), describe(result)
    assert (
        request_token(
            registry, f"repository:{project}/app:pull", robot_auth(robot)
        ).status_code
        == 401
    )


def test_expired_robot_rejected(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)
    pushed = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )
    assert pushed.returncode == 0, describe(pushed)

    database = Database(registry.database_url)
    try:
        with database.session() as session:
            session.execute(
                update(Robot)
                .where(Robot.id == robot["id"])
                .values(expires_at=int(time.time()) - 60)
            )
    finally:
        database.dispose()
    # A direct database write bypasses the API, so drop remembered logins
    # the way the API does after a robot change.
    MetadataEpoch(registry.data_dir, "credential-epoch").bump()
    result = pull(
        skopeo_env, registry, f"{project}/app", tmp_path / "out", credentials_of(robot)
    )

    assert unauthorized(result), describe(result)


def test_deleted_robot_rejected(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)
    pushed = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )
    assert pushed.returncode == 0, describe(pushed)

    deleted = admin.delete(f"{ROBOTS}/{robot['id']}")
    result = pull(
        skopeo_env, registry, f"{project}/app", tmp_path / "out", credentials_of(robot)
    )

    assert deleted.status_code == 200, deleted.text
    assert unauthorized(result), describe(result)


def test_refreshed_secret_replaces_old(
    skopeo_env: dict[str, str],
    registry: RunningRegistry,
    admin: httpx.Client,
    clean_layout: Path,
    tmp_path: Path,
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)
    pushed = push(
        skopeo_env, registry, clean_layout, f"{project}/app", credentials_of(robot)
    )
    assert pushed.returncode == 0, describe(pushed)

    secret = admin.patch(f"{ROBOTS}/{robot['id']}", json={"secret": ""}).json()[
        "secret"
    ]
    old = pull(
        skopeo_env, registry, f"{project}/app", tmp_path / "old", credentials_of(robot)
    )
    new = pull(
        skopeo_env,
        registry,
        f"{project}/app",
        tmp_path / "new",
        f"{robot['name']}:{secret}",
    )

    assert unauthorized(old), describe(old)
    assert new.returncode == 0, describe(new)


# Token service


def test_token_grants_robot_actions_only(
    registry: RunningRegistry, admin: httpx.Client
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)

    response = request_token(
        registry, f"repository:{project}/app:pull,push,delete", robot_auth(robot)
    )

    assert granted(response) == [
        {"type": "repository", "name": f"{project}/app", "actions": ["pull", "push"]}
    ]


def test_token_pull_only_robot(registry: RunningRegistry, admin: httpx.Client) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PULL_ONLY)

    response = request_token(
        registry, f"repository:{project}/app:pull,push", robot_auth(robot)
    )

    assert granted(response) == [
        {"type": "repository", "name": f"{project}/app", "actions": ["pull"]}
    ]


def test_token_other_project_empty(
    registry: RunningRegistry, admin: httpx.Client
) -> None:
    project = new_project(registry)
    other = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)

    response = request_token(
        registry, f"repository:{other}/app:pull,push", robot_auth(robot)
    )

    assert granted(response) == []


def test_token_all_projects_robot(
    registry: RunningRegistry, admin: httpx.Client
) -> None:
    project = new_project(registry)
    robot = create_robot(
        admin,
        f"reader{uuid.uuid4().hex[:10]}",
        "system",
        [access("project", "*", PULL_ONLY)],
    )

    response = request_token(
        registry, f"repository:{project}/app:pull,push", robot_auth(robot)
    )

    assert granted(response) == [
        {"type": "repository", "name": f"{project}/app", "actions": ["pull"]}
    ]


def test_token_no_catalog_for_robot(
    registry: RunningRegistry, admin: httpx.Client
) -> None:
    robot = create_robot(
        admin,
        f"reader{uuid.uuid4().hex[:10]}",
        "system",
        [access("project", "*", PUSH_PULL)],
    )

    response = request_token(registry, "registry:catalog:*", robot_auth(robot))

    assert granted(response) == []


def test_token_wrong_secret_rejected(
    registry: RunningRegistry, admin: httpx.Client
) -> None:
    project = new_project(registry)
    robot = project_robot(admin, project, PUSH_PULL)

    response = request_token(
        registry,
        f"repository:{project}/app:pull",
        (str(robot["name"]), "Wrong-Secret-1"),
    )

    assert response.status_code == 401
