"""The users API on a live server: accounts, profiles, passwords, roles and removal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.auth import hash_password
from seawall.db import Database
from seawall.db.models import AuditLog, Project, ProjectMember, Robot, User
from seawall.registry.cache import MetadataEpoch
from tests.support.seed import create_project
from tests.support.server import RunningRegistry

PASSWORD = "Harbor-Pass-1"
NEW_PASSWORD = "Harbor-Pass-2"
POLICY_MESSAGE = (
    "the password or secret must be 8-128, inclusively, characters long with at "
    "least 1 uppercase letter, 1 lowercase letter and 1 number"
)
PROJECT_ADMIN = 1
DEVELOPER = 2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, response.text
    error: dict[str, Any] = errors[0]
    return error


def user_body(username: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "username": username,
        "password": PASSWORD,
        "email": f"{username}@example.com",
        "realname": f"Real {username}",
        "comment": "test account",
    }
    body.update(overrides)
    return body


def create_user(admin_client: httpx.Client, prefix: str = "user") -> tuple[int, str]:
    """Create a user through the API and return its id and username."""
    username = unique(prefix)
    response = admin_client.post("/api/v2.0/users", json=user_body(username))
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1]), username


def login(
    registry: RunningRegistry, username: str, password: str = PASSWORD
) -> httpx.Client:
    return httpx.Client(base_url=registry.url, auth=(username, password), timeout=60)


@pytest.fixture
def database(registry: RunningRegistry) -> Iterator[Database]:
    """The running registry's database, for checks the API does not expose."""
    db = Database(registry.database_url)
    yield db
    db.dispose()


def add_member(
    registry: RunningRegistry, database: Database, user_id: int, role_id: int
) -> int:
    """Create a private project with the user as a member and return its id."""
    name = unique("users-project")
    create_project(registry, name, public=False)
    with database.session() as session:
        project_id = session.scalars(
            select(Project.id).where(Project.name == name)
        ).one()
        session.add(
            ProjectMember(
                project_id=project_id,
                entity_type="u",
                entity_id=user_id,
                role_id=role_id,
            )
        )
    MetadataEpoch(registry.data_dir).bump()
    return project_id


def audit_rows(database: Database, username: str) -> list[AuditLog]:
    with database.session(read_only=True) as session:
        return list(
            session.scalars(
                select(AuditLog)
                .where(AuditLog.resource_type == "user", AuditLog.resource == username)
                .order_by(AuditLog.id)
            )
        )


# Creating users


def test_create_returns_location(admin_client: httpx.Client) -> None:
    username = unique("loc")
    response = admin_client.post("/api/v2.0/users", json=user_body(username))

    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith("/api/v2.0/users/"), location
    assert location.rsplit("/", 1)[1].isdigit(), location


def test_created_user_shape(admin_client: httpx.Client) -> None:
    user_id, username = create_user(admin_client)

    body = admin_client.get(f"/api/v2.0/users/{user_id}").json()

    assert set(body) == {
        "email",
        "realname",
        "comment",
        "user_id",
        "username",
        "sysadmin_flag",
        "admin_role_in_auth",
        "creation_time",
        "update_time",
    }
    assert body["user_id"] == user_id
    assert body["username"] == username
    assert body["email"] == f"{username}@example.com"
    assert body["realname"] == f"Real {username}"
    assert body["comment"] == "test account"
    assert body["sysadmin_flag"] is False
    assert body["admin_role_in_auth"] is False


def test_password_stored_as_argon2(
    admin_client: httpx.Client, database: Database
) -> None:
    user_id, _ = create_user(admin_client)

    with database.session(read_only=True) as session:
        stored = session.get(User, user_id)
        assert stored is not None
        password_hash = stored.password_hash

    assert password_hash.startswith("$argon2id$"), password_hash
    assert PASSWORD not in password_hash


def test_created_user_can_log_in(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    _, username = create_user(admin_client)

    with login(registry, username) as client:
        response = client.get("/api/v2.0/users/current")

    assert response.status_code == 200, response.text
    assert response.json()["username"] == username


def test_create_ignores_sysadmin_flag(admin_client: httpx.Client) -> None:
    username = unique("flag")
    body = user_body(username, sysadmin_flag=True)

    response = admin_client.post("/api/v2.0/users", json=body)
    assert response.status_code == 201, response.text
    created = admin_client.get(response.headers["Location"])

    assert created.json()["sysadmin_flag"] is False


def test_create_duplicate_username(admin_client: httpx.Client) -> None:
    _, username = create_user(admin_client)
    body = user_body(username, email=f"{unique('other')}@example.com")

    response = admin_client.post("/api/v2.0/users", json=body)

    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "CONFLICT"
    assert username in error_of(response)["message"]


def test_create_duplicate_email(admin_client: httpx.Client) -> None:
    _, username = create_user(admin_client)
    body = user_body(unique("second"), email=f"{username}@example.com")

    response = admin_client.post("/api/v2.0/users", json=body)

    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "CONFLICT"


@pytest.mark.parametrize(
    "password",
    [
        "Short1a",
        "lowercase-only-1",
        "UPPERCASE-ONLY-1",
        "No-Digits-Here",
        "",
        "Aa1" + "x" * 126,
    ],
    ids=["7-chars", "no-upper", "no-lower", "no-digit", "empty", "129-chars"],
)
def test_create_weak_password(admin_client: httpx.Client, password: str) -> None:
    body = user_body(unique("weak"), password=password)

    response = admin_client.post("/api/v2.0/users", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response) == {"code": "BAD_REQUEST", "message": POLICY_MESSAGE}


@pytest.mark.parametrize(
    "password", ["Aa1xxxxx", "Aa1" + "x" * 125], ids=["8-chars", "128-chars"]
)
def test_create_password_length_bounds(
    admin_client: httpx.Client, password: str
) -> None:
    body = user_body(unique("bound"), password=password)

    response = admin_client.post("/api/v2.0/users", json=body)

    assert response.status_code == 201, response.text


def test_create_nul_username_rejected(admin_client: httpx.Client) -> None:
    response = admin_client.post(
        "/api/v2.0/users",
        json={
            "username": "a\x00b",
            "email": "nul@example.com",
            "realname": "nul",
            "password": "Nul-Test-1234",
        },
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "username",
    ["a,b", 'a"b', "a~b", "a#b", "a%b", "a$b", "a:b", "a\nb", "", "u" * 256],
    ids=[
        "comma",
        "quote",
        "tilde",
        "hash",
        "percent",
        "dollar",
        "colon",
        "newline",
        "empty",
        "256-chars",
    ],
)
def test_create_bad_username(admin_client: httpx.Client, username: str) -> None:
    body = user_body(username, email=f"{unique('bad')}@example.com")

    response = admin_client.post("/api/v2.0/users", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "BAD_REQUEST"
    assert "username" in error_of(response)["message"]


def test_create_username_with_robot_prefix(admin_client: httpx.Client) -> None:
    prefix = unique("bot")
    update = admin_client.put(
        "/api/v2.0/configurations", json={"robot_name_prefix": prefix}
    )
    assert update.status_code == 200, update.text
    try:
        body = user_body(f"{prefix}ci", email=f"{unique('ci')}@example.com")
        response = admin_client.post("/api/v2.0/users", json=body)
    finally:
        restore = admin_client.put(
            "/api/v2.0/configurations", json={"robot_name_prefix": "robot$"}
        )
        assert restore.status_code == 200, restore.text

    assert response.status_code == 400, response.text
    assert "robot account prefix" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", ""),
        ("email", "no-at-sign"),
        ("email", "user@localhost"),
        ("email", "two words@example.com"),
        ("realname", ""),
        ("realname", "a#b"),
        ("realname", "r" * 256),
        ("comment", "c" * 31),
    ],
    ids=[
        "email-empty",
        "email-no-at",
        "email-no-domain",
        "email-space",
        "realname-empty",
        "realname-hash",
        "realname-256",
        "comment-31",
    ],
)
def test_create_bad_profile(admin_client: httpx.Client, field: str, value: str) -> None:
    body = user_body(unique("profile"), **{field: value})

    response = admin_client.post("/api/v2.0/users", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "BAD_REQUEST"
    assert field in error_of(response)["message"]


def test_create_by_non_admin_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    _, username = create_user(admin_client)

    with login(registry, username) as client:
        response = client.post("/api/v2.0/users", json=user_body(unique("child")))

    assert response.status_code == 403, response.text
    assert error_of(response)["code"] == "FORBIDDEN"


def test_create_by_anonymous_unauthorized(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.post("/api/v2.0/users", json=user_body(unique("anon")))

    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "UNAUTHORIZED"


def test_self_registration_never_makes_admin(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    update = admin_client.put(
        "/api/v2.0/configurations", json={"self_registration": True}
    )
    assert update.status_code == 200, update.text
    try:
        body = user_body(unique("self"), sysadmin_flag=True)
        response = anonymous_client.post("/api/v2.0/users", json=body)
    finally:
        restore = admin_client.put(
            "/api/v2.0/configurations", json={"self_registration": False}
        )
        assert restore.status_code == 200, restore.text

    assert response.status_code == 201, response.text
    created = admin_client.get(response.headers["Location"])
    assert created.json()["username"] == body["username"]
    assert created.json()["sysadmin_flag"] is False


# Listing and searching


def test_list_users_admin_only(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    _, username = create_user(admin_client)

    with login(registry, username) as client:
        as_user = client.get("/api/v2.0/users")
    as_anonymous = anonymous_client.get("/api/v2.0/users")

    assert as_user.status_code == 403, as_user.text
    assert error_of(as_user)["code"] == "FORBIDDEN"
    assert as_anonymous.status_code == 401, as_anonymous.text


def test_list_users_paged(admin_client: httpx.Client) -> None:
    group = unique("page")
    names = sorted(create_user(admin_client, group)[1] for _ in range(3))

    first = admin_client.get(
        "/api/v2.0/users",
        params={"q": f"username=~{group}", "sort": "username", "page_size": 2},
    )
    second = admin_client.get(
        "/api/v2.0/users",
        params={
            "q": f"username=~{group}",
            "sort": "username",
            "page": 2,
            "page_size": 2,
        },
    )

    assert first.status_code == 200, first.text
    assert [user["username"] for user in first.json()] == names[:2]
    assert first.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in first.headers["Link"]
    assert [user["username"] for user in second.json()] == names[2:]
    assert 'rel="prev"' in second.headers["Link"]


def test_list_users_sorted_descending(admin_client: httpx.Client) -> None:
    group = unique("desc")
    names = sorted(create_user(admin_client, group)[1] for _ in range(2))

    response = admin_client.get(
        "/api/v2.0/users", params={"username": group, "sort": "-username"}
    )

    assert [user["username"] for user in response.json()] == names[::-1]


def test_list_users_email_filter(admin_client: httpx.Client) -> None:
    _, username = create_user(admin_client)

    response = admin_client.get("/api/v2.0/users", params={"email": username})

    assert [user["username"] for user in response.json()] == [username]


def test_list_users_hides_builtin_admin(admin_client: httpx.Client) -> None:
    response = admin_client.get(
        "/api/v2.0/users", params={"q": "username=admin", "page_size": 100}
    )

    assert response.status_code == 200, response.text
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_list_users_bad_query_key(admin_client: httpx.Client) -> None:
    response = admin_client.get("/api/v2.0/users", params={"q": "password=x"})

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "BAD_REQUEST"


def test_search_by_project_admin(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    searcher_id, searcher = create_user(admin_client)
    add_member(registry, database, searcher_id, PROJECT_ADMIN)
    group = unique("find")
    target_id, target = create_user(admin_client, group)

    with login(registry, searcher) as client:
        response = client.get("/api/v2.0/users/search", params={"username": group})

    assert response.status_code == 200, response.text
    assert response.json() == [{"user_id": target_id, "username": target}]
    assert response.headers["X-Total-Count"] == "1"


def test_search_by_developer_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    user_id, username = create_user(admin_client)
    add_member(registry, database, user_id, DEVELOPER)

    with login(registry, username) as client:
        response = client.get("/api/v2.0/users/search", params={"username": "a"})

    assert response.status_code == 403, response.text
    assert error_of(response)["code"] == "FORBIDDEN"


def test_search_by_admin(admin_client: httpx.Client) -> None:
    target_id, target = create_user(admin_client, unique("admin-find"))

    response = admin_client.get("/api/v2.0/users/search", params={"username": target})

    assert response.json() == [{"user_id": target_id, "username": target}]


def test_search_escapes_wildcards(admin_client: httpx.Client) -> None:
    create_user(admin_client)

    response = admin_client.get("/api/v2.0/users/search", params={"username": "%"})

    assert response.status_code == 200, response.text
    assert response.json() == []


# Reading and updating profiles


def test_get_self(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        response = client.get(f"/api/v2.0/users/{user_id}")

    assert response.status_code == 200, response.text
    assert response.json()["username"] == username


def test_get_other_user_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    _, username = create_user(admin_client)
    other_id, _ = create_user(admin_client)

    with login(registry, username) as client:
        other = client.get(f"/api/v2.0/users/{other_id}")
        builtin_admin = client.get("/api/v2.0/users/1")

    assert other.status_code == 403, other.text
    assert error_of(other)["code"] == "FORBIDDEN"
    assert builtin_admin.status_code == 403, builtin_admin.text


def test_get_missing_user_hidden_from_non_admin(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    """A non-admin gets 403 for every other id, so ids of users cannot be probed."""
    _, username = create_user(admin_client)

    with login(registry, username) as client:
        response = client.get("/api/v2.0/users/2147483647")

    assert response.status_code == 403, response.text


def test_get_missing_user_as_admin(admin_client: httpx.Client) -> None:
    response = admin_client.get("/api/v2.0/users/2147483647")

    assert response.status_code == 404, response.text
    assert error_of(response)["code"] == "NOT_FOUND"


def test_current_user(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        response = client.get("/api/v2.0/users/current")

    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == user_id
    assert response.json()["sysadmin_flag"] is False


def test_current_user_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get("/api/v2.0/users/current")

    assert response.status_code == 401, response.text


def test_robot_has_no_current_user(
    registry: RunningRegistry, database: Database
) -> None:
    """A robot account is not a local user, so it has no profile and no user id."""
    name = unique("users-robot")
    secret = "Robot-Secret-1"
    with database.session() as session:
        session.add(
            Robot(
                name=name,
                level="system",
                secret_hash=hash_password(secret),
                duration=-1,
                expires_at=-1,
                permissions="[]",
            )
        )

    with login(registry, f"robot${name}", secret) as client:
        current = client.get("/api/v2.0/users/current")
        builtin_admin = client.get("/api/v2.0/users/1")
        password = change_password(client, 1, NEW_PASSWORD)

    assert current.status_code == 412, current.text
    assert error_of(current)["code"] == "PRECONDITION"
    assert builtin_admin.status_code == 403, builtin_admin.text
    assert password.status_code == 403, password.text


def test_update_own_profile(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)
    email = f"{unique('new')}@example.org"
    body = {
        "email": email,
        "realname": "New Name",
        "comment": "changed",
        "username": "renamed",
    }

    with login(registry, username) as client:
        response = client.put(f"/api/v2.0/users/{user_id}", json=body)
        after = client.get(f"/api/v2.0/users/{user_id}").json()

    assert response.status_code == 200, response.text
    assert after["email"] == email
    assert after["realname"] == "New Name"
    assert after["comment"] == "changed"
    assert after["username"] == username


def test_update_other_profile_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    _, username = create_user(admin_client)
    other_id, other = create_user(admin_client)
    body = {"email": f"{unique('x')}@example.com", "realname": "X", "comment": ""}

    with login(registry, username) as client:
        response = client.put(f"/api/v2.0/users/{other_id}", json=body)

    assert response.status_code == 403, response.text
    unchanged = admin_client.get(f"/api/v2.0/users/{other_id}").json()
    assert unchanged["email"] == f"{other}@example.com"


def test_update_profile_email_taken(admin_client: httpx.Client) -> None:
    user_id, _ = create_user(admin_client)
    _, other = create_user(admin_client)
    body = {"email": f"{other}@example.com", "realname": "X", "comment": ""}

    response = admin_client.put(f"/api/v2.0/users/{user_id}", json=body)

    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "CONFLICT"


def test_update_profile_bad_email(admin_client: httpx.Client) -> None:
    user_id, _ = create_user(admin_client)
    body = {"email": "not-an-address", "realname": "X", "comment": ""}

    response = admin_client.put(f"/api/v2.0/users/{user_id}", json=body)

    assert response.status_code == 400, response.text


# System administrator flag


def test_user_cannot_make_self_admin(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        response = client.put(
            f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": True}
        )
        listing = client.get("/api/v2.0/users")

    assert response.status_code == 403, response.text
    assert error_of(response)["code"] == "FORBIDDEN"
    assert listing.status_code == 403, listing.text
    after = admin_client.get(f"/api/v2.0/users/{user_id}").json()
    assert after["sysadmin_flag"] is False


def test_admin_cannot_change_own_flag(admin_client: httpx.Client) -> None:
    response = admin_client.put(
        "/api/v2.0/users/1/sysadmin", json={"sysadmin_flag": False}
    )

    assert response.status_code == 403, response.text
    assert admin_client.get("/api/v2.0/users/current").json()["sysadmin_flag"]


def test_sysadmin_flag_applies_at_once(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    """A remembered login must not keep the role it had before the change."""
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        before = client.get("/api/v2.0/users")
        grant = admin_client.put(
            f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": True}
        )
        granted = client.get("/api/v2.0/users")
        revoke = admin_client.put(
            f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": False}
        )
        revoked = client.get("/api/v2.0/users")

    assert before.status_code == 403, before.text
    assert grant.status_code == 200, grant.text
    assert granted.status_code == 200, granted.text
    assert revoke.status_code == 200, revoke.text
    assert revoked.status_code == 403, revoked.text


def test_sysadmin_flag_missing_user(admin_client: httpx.Client) -> None:
    response = admin_client.put(
        "/api/v2.0/users/2147483647/sysadmin", json={"sysadmin_flag": True}
    )

    assert response.status_code == 404, response.text


# Passwords


def change_password(
    client: httpx.Client, user_id: int, new: str, old: str | None = None
) -> httpx.Response:
    body = {"new_password": new}
    if old is not None:
        body["old_password"] = old
    return client.put(f"/api/v2.0/users/{user_id}/password", json=body)


def test_change_own_password(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        response = change_password(client, user_id, NEW_PASSWORD, PASSWORD)

    assert response.status_code == 200, response.text
    with login(registry, username, NEW_PASSWORD) as client:
        assert client.get("/api/v2.0/users/current").status_code == 200


def test_change_password_wrong_old(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        wrong = change_password(client, user_id, NEW_PASSWORD, "Not-The-Pass-1")
        missing = change_password(client, user_id, NEW_PASSWORD)

    assert wrong.status_code == 403, wrong.text
    assert error_of(wrong) == {
        "code": "FORBIDDEN",
        "message": "Current password is incorrect",
    }
    assert missing.status_code == 403, missing.text


def test_change_password_identical(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        response = change_password(client, user_id, PASSWORD, PASSWORD)

    assert response.status_code == 400, response.text
    assert error_of(response) == {
        "code": "BAD_REQUEST",
        "message": "New password is identical to old password",
    }


def test_change_password_weak(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)

    with login(registry, username) as client:
        response = change_password(client, user_id, "weakpass", PASSWORD)

    assert response.status_code == 400, response.text
    assert error_of(response)["message"] == POLICY_MESSAGE


def test_change_other_password_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    _, username = create_user(admin_client)
    other_id, other = create_user(admin_client)

    with login(registry, username) as client:
        response = change_password(client, other_id, NEW_PASSWORD, PASSWORD)

    assert response.status_code == 403, response.text
    with login(registry, other) as client:
        assert client.get("/api/v2.0/users/current").status_code == 200


def test_admin_resets_password_without_old(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)

    response = change_password(admin_client, user_id, NEW_PASSWORD)

    assert response.status_code == 200, response.text
    with login(registry, username, NEW_PASSWORD) as client:
        assert client.get("/api/v2.0/users/current").status_code == 200


def test_admin_changes_own_password_needs_old(admin_client: httpx.Client) -> None:
    response = change_password(admin_client, 1, NEW_PASSWORD, "Not-The-Pass-1")

    assert response.status_code == 403, response.text
    assert error_of(response)["message"] == "Current password is incorrect"


def test_old_password_rejected_after_change(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    """Logins remembered with the old password stop working on both surfaces at once."""
    user_id, username = create_user(admin_client)

    with login(registry, username) as old:
        assert old.get("/v2/").status_code == 200
        assert old.get("/api/v2.0/users/current").status_code == 200

        changed = change_password(old, user_id, NEW_PASSWORD, PASSWORD)
        registry_after = old.get("/v2/")
        api_after = old.get("/api/v2.0/users/current")

    assert changed.status_code == 200, changed.text
    assert registry_after.status_code == 401, registry_after.text
    assert api_after.status_code == 401, api_after.text
    with login(registry, username, NEW_PASSWORD) as new:
        assert new.get("/v2/").status_code == 200
        assert new.get("/api/v2.0/users/current").status_code == 200


# Deleting users


def test_delete_user(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    user_id, username = create_user(admin_client)
    add_member(registry, database, user_id, DEVELOPER)

    with login(registry, username) as client:
        assert client.get("/v2/").status_code == 200
        response = admin_client.delete(f"/api/v2.0/users/{user_id}")
        after = client.get("/v2/")

    assert response.status_code == 200, response.text
    assert after.status_code == 401, after.text
    assert admin_client.get(f"/api/v2.0/users/{user_id}").status_code == 404
    with database.session(read_only=True) as session:
        memberships = session.scalars(
            select(ProjectMember).where(
                ProjectMember.entity_type == "u", ProjectMember.entity_id == user_id
            )
        ).all()
    assert memberships == []


def test_delete_missing_user(admin_client: httpx.Client) -> None:
    response = admin_client.delete("/api/v2.0/users/2147483647")

    assert response.status_code == 404, response.text


def test_delete_by_non_admin_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    _, username = create_user(admin_client)
    other_id, _ = create_user(admin_client)

    with login(registry, username) as client:
        response = client.delete(f"/api/v2.0/users/{other_id}")

    assert response.status_code == 403, response.text
    assert admin_client.get(f"/api/v2.0/users/{other_id}").status_code == 200


def test_delete_self_and_builtin_admin_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    user_id, username = create_user(admin_client)
    grant = admin_client.put(
        f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": True}
    )
    assert grant.status_code == 200, grant.text

    with login(registry, username) as second_admin:
        builtin = second_admin.delete("/api/v2.0/users/1")
        itself = second_admin.delete(f"/api/v2.0/users/{user_id}")

    assert builtin.status_code == 403, builtin.text
    assert error_of(builtin)["message"] == "User with ID 1 cannot be deleted"
    assert itself.status_code == 403, itself.text
    assert admin_client.get("/api/v2.0/users/1").status_code == 200


# Permissions of the current user


def permissions_of(
    client: httpx.Client, project_id: int, relative: bool
) -> list[dict[str, str]]:
    response = client.get(
        "/api/v2.0/users/current/permissions",
        params={"scope": f"/project/{project_id}", "relative": str(relative).lower()},
    )
    assert response.status_code == 200, response.text
    permissions: list[dict[str, str]] = response.json()
    return permissions


def test_permissions_relative(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    user_id, username = create_user(admin_client)
    project_id = add_member(registry, database, user_id, DEVELOPER)

    with login(registry, username) as client:
        permissions = permissions_of(client, project_id, relative=True)

    assert {"resource": "repository", "action": "push"} in permissions
    assert {"resource": "repository", "action": "pull"} in permissions
    assert {"resource": "repository", "action": "delete"} not in permissions
    assert {"resource": "member", "action": "create"} not in permissions


def test_permissions_absolute(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    user_id, username = create_user(admin_client)
    project_id = add_member(registry, database, user_id, DEVELOPER)

    with login(registry, username) as client:
        permissions = permissions_of(client, project_id, relative=False)

    resource = f"/project/{project_id}/repository"
    assert {"resource": resource, "action": "push"} in permissions


def test_permissions_project_admin(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    user_id, username = create_user(admin_client)
    project_id = add_member(registry, database, user_id, PROJECT_ADMIN)

    with login(registry, username) as client:
        permissions = permissions_of(client, project_id, relative=True)

    assert {"resource": "member", "action": "create"} in permissions


def test_permissions_non_member_empty(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    owner_id, _ = create_user(admin_client)
    project_id = add_member(registry, database, owner_id, PROJECT_ADMIN)
    _, outsider = create_user(admin_client)

    with login(registry, outsider) as client:
        permissions = permissions_of(client, project_id, relative=True)

    assert permissions == []


def test_permissions_sysadmin_everything(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    owner_id, _ = create_user(admin_client)
    project_id = add_member(registry, database, owner_id, DEVELOPER)

    permissions = permissions_of(admin_client, project_id, relative=True)

    assert {"resource": "project", "action": "delete"} in permissions
    assert {"resource": "member", "action": "create"} in permissions


@pytest.mark.parametrize(
    "scope", ["", "/system", "/project/abc", "/project/99999999999999999999"]
)
def test_permissions_other_scope_empty(admin_client: httpx.Client, scope: str) -> None:
    response = admin_client.get(
        "/api/v2.0/users/current/permissions", params={"scope": scope}
    )

    assert response.status_code == 200, response.text
    assert response.json() == []


# Audit records


def test_audit_records_changes(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    user_id, username = create_user(admin_client)
    profile = {"email": f"{username}@example.net", "realname": "R", "comment": ""}
    steps = [
        admin_client.put(f"/api/v2.0/users/{user_id}", json=profile),
        change_password(admin_client, user_id, NEW_PASSWORD),
        admin_client.put(
            f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": True}
        ),
        admin_client.delete(f"/api/v2.0/users/{user_id}"),
    ]
    for response in steps:
        assert response.status_code in {200, 201}, response.text

    rows = audit_rows(database, username)

    assert [(row.operation, row.reason) for row in rows] == [
        ("create", ""),
        ("update", "profile updated"),
        ("update", "password changed"),
        ("update", "sysadmin flag set to true"),
        ("delete", ""),
    ]
    assert {row.username for row in rows} == {"admin"}
    assert {row.result for row in rows} == {"success"}
    for row in rows:
        for value in (row.resource, row.reason):
            assert PASSWORD not in value
            assert NEW_PASSWORD not in value


def test_openapi_has_user_models(anonymous_client: httpx.Client) -> None:
    schemas = anonymous_client.get("/api/v2.0/openapi.json").json()["components"][
        "schemas"
    ]

    for name in (
        "UserResp",
        "UserCreationReq",
        "UserProfile",
        "PasswordReq",
        "UserSysAdminFlag",
        "UserSearchRespItem",
        "Permission",
    ):
        assert name in schemas, sorted(schemas)


def test_updates_return_empty_body(admin_client: httpx.Client) -> None:
    """Updates and deletes return 200 with no body, as Harbor's do."""
    user_id, username = create_user(admin_client)
    responses = {
        "profile": admin_client.put(
            f"/api/v2.0/users/{user_id}",
            json={"email": f"{username}@example.com", "realname": "Renamed"},
        ),
        "sysadmin": admin_client.put(
            f"/api/v2.0/users/{user_id}/sysadmin", json={"sysadmin_flag": False}
        ),
        "password": change_password(admin_client, user_id, NEW_PASSWORD),
        "configurations": admin_client.put(
            "/api/v2.0/configurations", json={"token_expiration": 30}
        ),
        "delete": admin_client.delete(f"/api/v2.0/users/{user_id}"),
    }

    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        assert response.content == b"", (name, response.content)
