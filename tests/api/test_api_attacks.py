"""Attacks on access control and input handling, each one a defect found by review.

Every test sends what a hostile or careless client would send and checks
that the registry neither grants more than the permission table allows,
nor reveals what the caller may not see, nor fails with a server error.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.e2e.protocol_helpers import push_image
from tests.support import databases
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry

API = "/api/v2.0"
PASSWORD = "Attack-Pass-1"
OUT_OF_RANGE_ID = 2**64
PULL_PUSH = [("repository", "pull"), ("repository", "push")]


# Helpers


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def database(registry: RunningRegistry) -> Iterator[Database]:
    """A connection to the live registry's database, to read audit records."""
    db = Database(registry.database_url)
    yield db
    db.dispose()


def create_project(client: httpx.Client, name: str, *, public: bool = False) -> int:
    response = client.post(
        f"{API}/projects",
        json={"project_name": name, "metadata": {"public": str(public).lower()}},
    )
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def create_user(client: httpx.Client) -> tuple[str, int]:
    """Create a user with password `PASSWORD` and return its name and id."""
    name = unique("atk")
    response = client.post(
        f"{API}/users",
        json={
            "username": name,
            "password": PASSWORD,
            "email": f"{name}@example.com",
            "realname": name,
        },
    )
    assert response.status_code == 201, response.text
    return name, int(response.headers["Location"].rsplit("/", 1)[1])


def project_permission(
    namespace: str, pairs: list[tuple[str, str]]
) -> dict[str, object]:
    return {
        "kind": "project",
        "namespace": namespace,
        "access": [{"resource": r, "action": a} for r, a in pairs],
    }


def create_robot(
    client: httpx.Client,
    level: str,
    permissions: list[dict[str, object]],
    **extra: object,
) -> httpx.Response:
    body = {
        "name": unique("bot"),
        "level": level,
        "duration": -1,
        "permissions": permissions,
        **extra,
    }
    return client.post(f"{API}/robots", json=body)


def robot_credentials(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 201, response.text
    body = response.json()
    return body["name"], body["secret"]


def monolithic_push(
    client: httpx.Client, repository: str, data: bytes, headers: dict[str, str]
) -> httpx.Response:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream", **headers},
    )


def bearer(
    client: httpx.Client, scope: str | None, auth: tuple[str, str] | None
) -> dict[str, str]:
    params = {"scope": scope} if scope else {}
    response = client.get(
        "/service/token", params=params, auth=auth or httpx.USE_CLIENT_DEFAULT
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def wait_for_fresh_second() -> None:
    """Sleep until a new wall-clock second has just begun."""
    while time.time() % 1 > 0.05:
        time.sleep(0.01)


# Bearer tokens on /v2/


def test_anonymous_token_hides_missing_project(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    private = unique("atkpriv")
    create_project(admin_client, private)
    headers = bearer(anonymous_client, None, None)

    existing = anonymous_client.get(f"/v2/{private}/app/tags/list", headers=headers)
    missing = anonymous_client.get(
        f"/v2/{unique('atkmissing')}/app/tags/list", headers=headers
    )

    assert existing.status_code == 401, existing.text
    assert missing.status_code == existing.status_code, missing.text


def test_recreated_project_rejects_old_token(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    name = unique("atkre")
    create_project(admin_client, name)
    # Token issue times are whole seconds, so the delete and the re-creation
    # run inside the second the token was issued in.
    wait_for_fresh_second()
    headers = bearer(admin_client, f"repository:{name}/app:pull,push", None)
    deleted = admin_client.delete(f"{API}/projects/{name}")
    assert deleted.status_code == 200, deleted.text
    create_project(admin_client, name)

    response = monolithic_push(anonymous_client, f"{name}/app", b"stale", headers)

    assert response.status_code == 401, response.text


def test_delete_token_needs_repository_delete(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    name = unique("atkdel")
    create_project(admin_client, name)
    data = b"blob a robot may not delete"
    pushed = monolithic_push(admin_client, f"{name}/app", data, {})
    assert pushed.status_code == 201, pushed.text
    digest = pushed.headers["Docker-Content-Digest"]
    robot = robot_credentials(
        create_robot(
            admin_client,
            "project",
            [
                project_permission(
                    name, [("repository", "pull"), ("artifact", "delete")]
                )
            ],
        )
    )
    basic = anonymous_client.delete(f"/v2/{name}/app/blobs/{digest}", auth=robot)
    assert basic.status_code == 403, basic.text
    headers = bearer(anonymous_client, f"repository:{name}/app:pull,delete", robot)

    response = anonymous_client.delete(
        f"/v2/{name}/app/blobs/{digest}", headers=headers
    )

    assert response.status_code == 401, response.text


# Robot grants


def test_system_robot_grant_ends_with_project(
    admin_client: httpx.Client, registry: RunningRegistry
) -> None:
    name = unique("atkgone")
    create_project(admin_client, name)
    robot = robot_credentials(
        create_robot(admin_client, "system", [project_permission(name, PULL_PUSH)])
    )
    deleted = admin_client.delete(f"{API}/projects/{name}")
    assert deleted.status_code == 200, deleted.text
    username, _ = create_user(admin_client)
    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as owner:
        create_project(owner, name)

    with httpx.Client(base_url=registry.url, auth=robot, timeout=60) as client:
        push = monolithic_push(client, f"{name}/app", b"into a new project", {})
        pull = client.get(f"/v2/{name}/app/tags/list")

    assert push.status_code == 403, push.text
    assert pull.status_code == 403, pull.text


def test_robot_prefix_change_drops_cached_login(tmp_path: Path) -> None:
    # The robot name prefix is a system setting, so this test runs its own
    # server and database instead of changing the shared one.
    (tmp_path / "data").mkdir()
    with (
        databases.test_database_url(tmp_path) as url,
        start_registry(tmp_path / "data", url) as running,
        httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as admin,
    ):
        name = unique("atkpre")
        create_project(admin, name)
        robot = robot_credentials(
            create_robot(
                admin, "project", [project_permission(name, [("repository", "pull")])]
            )
        )
        path = f"/v2/{name}/app/tags/list"
        first = httpx.get(running.url + path, auth=robot)
        assert first.status_code == 404, first.text
        changed = admin.put(f"{API}/configurations", json={"robot_name_prefix": "bot-"})
        assert changed.status_code == 200, changed.text

        response = httpx.get(running.url + path, auth=robot)

    assert response.status_code == 401, response.text


# Bad input


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_robot_id_out_of_range(admin_client: httpx.Client, method: str) -> None:
    body = {"name": "x", "level": "system", "permissions": []}
    if method == "PATCH":
        body = {"secret": ""}
    payload = body if method in {"PUT", "PATCH"} else None

    response = admin_client.request(
        method, f"{API}/robots/{OUT_OF_RANGE_ID}", json=payload
    )

    assert response.status_code < 500, response.text


def test_robot_list_project_id_out_of_range(admin_client: httpx.Client) -> None:
    response = admin_client.get(
        f"{API}/robots", params={"q": f"Level=project,ProjectID={OUT_OF_RANGE_ID}"}
    )

    assert response.status_code < 500, response.text


def test_robot_description_with_nul_rejected(admin_client: httpx.Client) -> None:
    name = unique("atknul")
    create_project(admin_client, name)

    response = create_robot(
        admin_client,
        "project",
        [project_permission(name, [("repository", "pull")])],
        description="before\x00after",
    )

    assert response.status_code == 400, response.text


def test_repository_description_with_nul_rejected(
    admin_client: httpx.Client,
) -> None:
    name = unique("atkrepo")
    create_project(admin_client, name)
    push_image(admin_client, f"{name}/app", "v1")

    response = admin_client.put(
        f"{API}/projects/{name}/repositories/app",
        json={"description": "before\x00after"},
    )

    assert response.status_code == 400, response.text


def test_user_search_with_nul_rejected(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{API}/users/search", params={"username": "\x00"})

    assert response.status_code == 400, response.text


def test_new_password_with_nul_rejected(
    admin_client: httpx.Client, registry: RunningRegistry
) -> None:
    # Basic credentials with a NUL byte are always rejected, so such a
    # password would lock the account out.
    username, user_id = create_user(admin_client)
    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as user:
        response = user.put(
            f"{API}/users/{user_id}/password",
            json={"old_password": PASSWORD, "new_password": "Locked-Out-1\x00"},
        )

    assert response.status_code == 400, response.text


def test_huge_anonymous_body_rejected(anonymous_client: httpx.Client) -> None:
    body = b'{"username": "' + b"a" * (16 * 1024 * 1024) + b'"}'

    response = anonymous_client.post(
        f"{API}/users", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413, response.text


# Secrets and audit


def test_server_log_never_contains_secret_hash(
    admin_client: httpx.Client, registry: RunningRegistry, database: Database
) -> None:
    name = unique("atklog")
    create_project(admin_client, name)
    # On PostgreSQL a NUL byte makes the INSERT fail, and the failure is logged.
    create_robot(
        admin_client,
        "project",
        [project_permission(name, [("repository", "pull")])],
        description="\x00",
    )

    log = registry.log_path.read_text(errors="replace")

    assert database.engine.hide_parameters, "SQL parameters reach the log"
    assert "$argon2" not in log, "a password or secret hash was logged"


def test_v2_manifest_delete_is_audited(
    admin_client: httpx.Client, database: Database
) -> None:
    name = unique("atkaudit")
    create_project(admin_client, name)
    manifest = push_image(admin_client, f"{name}/app", "v1")

    response = admin_client.delete(f"/v2/{name}/app/manifests/{manifest.digest}")
    assert response.status_code == 202, response.text

    with database.session(read_only=True) as session:
        rows = session.scalars(
            select(AuditLog).where(
                AuditLog.operation == "delete",
                AuditLog.resource.contains(f"{name}/app"),
            )
        ).all()
    assert rows, f"no audit record for the deletion of {name}/app@{manifest.digest}"
