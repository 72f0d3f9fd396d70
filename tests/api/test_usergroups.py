"""The user groups API on a live server: create, list, search, rename and delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.support.seed import create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
GROUPS = f"{API}/usergroups"
PASSWORD = "Group-Test-1"
LDAP, HTTP, OIDC = 1, 2, 3


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, response.text
    error: dict[str, Any] = errors[0]
    return error


def create(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post(GROUPS, json=body)


def group_id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def new_group(client: httpx.Client, name: str, group_type: int = HTTP) -> int:
    body: dict[str, Any] = {"group_name": name, "group_type": group_type}
    if group_type == LDAP:
        body["ldap_group_dn"] = f"cn={name},ou=groups,dc=example,dc=com"
    return group_id(create(client, body))


def audit_rows(
    registry: RunningRegistry, resource: str
) -> list[tuple[str, str, str, str]]:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            records = session.scalars(
                select(AuditLog)
                .where(AuditLog.resource == resource)
                .order_by(AuditLog.id)
            ).all()
            return [(r.operation, r.resource_type, r.result, r.reason) for r in records]
    finally:
        database.dispose()


@pytest.fixture
def user_client(registry: RunningRegistry) -> Iterator[httpx.Client]:
    """A client for a new local user who is no system administrator."""
    username = unique("plain")
    create_user(registry, username, PASSWORD)
    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        yield client


# Creating


def test_create_http_group(admin_client: httpx.Client) -> None:
    name = unique("web")

    response = create(admin_client, {"group_name": name, "group_type": HTTP})

    gid = group_id(response)
    assert response.headers["Location"] == f"{GROUPS}/{gid}"
    body = admin_client.get(f"{GROUPS}/{gid}").json()
    assert body == {
        "id": gid,
        "group_name": name,
        "group_type": HTTP,
        "ldap_group_dn": "",
    }


def test_create_oidc_group(admin_client: httpx.Client) -> None:
    gid = new_group(admin_client, unique("oidc"), OIDC)

    assert admin_client.get(f"{GROUPS}/{gid}").json()["group_type"] == OIDC


def test_create_ldap_group_normalizes_dn(admin_client: httpx.Client) -> None:
    name = unique("ldap")
    dn = f"  CN={name},OU=Groups,DC=Example,DC=Com "

    response = create(
        admin_client, {"group_name": name, "group_type": LDAP, "ldap_group_dn": dn}
    )

    body = admin_client.get(f"{GROUPS}/{group_id(response)}").json()
    assert body["ldap_group_dn"] == f"cn={name},ou=groups,dc=example,dc=com"
    assert body["group_type"] == LDAP


def test_create_ldap_escaped_comma(admin_client: httpx.Client) -> None:
    dn = f"cn=smith\\, {unique('j')},dc=example"

    response = create(
        admin_client,
        {"group_name": unique("esc"), "group_type": 1, "ldap_group_dn": dn},
    )

    assert response.status_code == 201, response.text


def test_create_ldap_without_dn(admin_client: httpx.Client) -> None:
    response = create(admin_client, {"group_name": unique("l"), "group_type": LDAP})

    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "ldap_group_dn is required for an LDAP group"
    )


@pytest.mark.parametrize(
    "dn",
    ["not a dn", "cn=", "=devs", "cn=devs,", "cn=devs\\", "c n=devs", "cn=a,,dc=b"],
)
def test_create_ldap_invalid_dn(admin_client: httpx.Client, dn: str) -> None:
    response = create(
        admin_client,
        {"group_name": unique("bad"), "group_type": LDAP, "ldap_group_dn": dn},
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("invalid DN syntax")


def test_create_dn_on_http_group(admin_client: httpx.Client) -> None:
    response = create(
        admin_client,
        {"group_name": unique("h"), "group_type": HTTP, "ldap_group_dn": "cn=x"},
    )

    assert response.status_code == 400
    assert "only to LDAP groups" in error_of(response)["message"]


@pytest.mark.parametrize("name", [None, "", "   "])
def test_create_missing_name(admin_client: httpx.Client, name: str | None) -> None:
    response = create(admin_client, {"group_name": name, "group_type": HTTP})

    assert response.status_code == 400
    assert error_of(response)["message"] == "group_name is required"


def test_create_name_too_long(admin_client: httpx.Client) -> None:
    response = create(admin_client, {"group_name": "g" * 256, "group_type": HTTP})

    assert response.status_code == 400
    assert "at most 255 characters" in error_of(response)["message"]


@pytest.mark.parametrize("group_type", [None, 0, 4, -1])
def test_create_invalid_type(
    admin_client: httpx.Client, group_type: int | None
) -> None:
    response = create(
        admin_client, {"group_name": unique("t"), "group_type": group_type}
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(
        "group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC)"
    )


def test_create_without_body(admin_client: httpx.Client) -> None:
    response = admin_client.post(GROUPS)

    assert response.status_code == 400


def test_create_duplicate_name(admin_client: httpx.Client) -> None:
    name = unique("dup")
    new_group(admin_client, name, HTTP)

    response = create(admin_client, {"group_name": name, "group_type": HTTP})

    assert response.status_code == 409
    assert error_of(response)["message"] == (
        f"user group {name} of type {HTTP} already exists"
    )


def test_same_name_other_type(admin_client: httpx.Client) -> None:
    name = unique("both")
    first = new_group(admin_client, name, HTTP)

    second = new_group(admin_client, name, OIDC)

    assert second != first


def test_create_duplicate_dn(admin_client: httpx.Client) -> None:
    dn = f"cn={unique('shared')},dc=example"
    group_id(
        create(
            admin_client,
            {"group_name": unique("a"), "group_type": LDAP, "ldap_group_dn": dn},
        )
    )

    response = create(
        admin_client,
        {"group_name": unique("b"), "group_type": LDAP, "ldap_group_dn": dn.upper()},
    )

    assert response.status_code == 409
    assert "already exists" in error_of(response)["message"]


def test_create_audited(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    name = unique("aud")

    new_group(admin_client, name, OIDC)

    assert audit_rows(registry, name) == [
        ("create", "user-group", "success", "group type 3")
    ]


# Reading and listing


def test_get_missing_group(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{GROUPS}/987654321")

    assert response.status_code == 404
    assert error_of(response)["message"] == (
        "the user group with id 987654321 is not found"
    )


def test_get_id_beyond_column(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{GROUPS}/{2**40}")

    assert response.status_code == 404


@pytest.mark.parametrize("gid", [0, -3])
def test_get_non_positive_id(admin_client: httpx.Client, gid: int) -> None:
    response = admin_client.get(f"{GROUPS}/{gid}")

    assert response.status_code == 400


def test_list_filter_by_name(admin_client: httpx.Client) -> None:
    stem = unique("flt")
    ids = [new_group(admin_client, f"{stem}-{n}") for n in ("b", "a", "c")]
    new_group(admin_client, unique("other"))

    response = admin_client.get(GROUPS, params={"group_name": stem.upper()})

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    assert [g["group_name"] for g in response.json()] == [
        f"{stem}-a",
        f"{stem}-b",
        f"{stem}-c",
    ]
    assert sorted(g["id"] for g in response.json()) == sorted(ids)


def test_list_filter_by_dn(admin_client: httpx.Client) -> None:
    name = unique("dnf")
    gid = new_group(admin_client, name, LDAP)

    response = admin_client.get(
        GROUPS, params={"ldap_group_dn": f"CN={name},ou=groups,dc=example,dc=com"}
    )

    assert [g["id"] for g in response.json()] == [gid]


def test_list_paged(admin_client: httpx.Client) -> None:
    stem = unique("pg")
    for n in range(3):
        new_group(admin_client, f"{stem}-{n}")

    response = admin_client.get(
        GROUPS, params={"group_name": stem, "page": 2, "page_size": 2}
    )

    assert response.headers["X-Total-Count"] == "3"
    assert [g["group_name"] for g in response.json()] == [f"{stem}-2"]
    assert 'rel="prev"' in response.headers["Link"]


def test_list_like_wildcards_literal(admin_client: httpx.Client) -> None:
    stem = unique("wild")
    new_group(admin_client, f"{stem}_x")
    new_group(admin_client, f"{stem}ax")

    response = admin_client.get(GROUPS, params={"group_name": f"{stem}_"})

    assert [g["group_name"] for g in response.json()] == [f"{stem}_x"]


# Searching


def test_search_by_plain_user(
    admin_client: httpx.Client, user_client: httpx.Client
) -> None:
    name = unique("srch")
    gid = new_group(admin_client, name, LDAP)

    response = user_client.get(f"{GROUPS}/search", params={"groupname": name})

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "1"
    assert response.json() == [{"id": gid, "group_name": name, "group_type": LDAP}]


def test_search_closest_first(admin_client: httpx.Client) -> None:
    stem = unique("near")
    for name in (f"team-{stem}", f"{stem}-a-long-name", stem, f"{stem}s"):
        new_group(admin_client, name)

    response = admin_client.get(f"{GROUPS}/search", params={"groupname": stem})

    assert [g["group_name"] for g in response.json()] == [
        stem,
        f"{stem}s",
        f"team-{stem}",
        f"{stem}-a-long-name",
    ]


def test_search_paged(admin_client: httpx.Client) -> None:
    stem = unique("sp")
    for n in range(3):
        new_group(admin_client, f"{stem}-{n}")

    response = admin_client.get(
        f"{GROUPS}/search", params={"groupname": stem, "page": 1, "page_size": 2}
    )

    assert response.headers["X-Total-Count"] == "3"
    assert len(response.json()) == 2
    assert 'rel="next"' in response.headers["Link"]


def test_search_needs_groupname(user_client: httpx.Client) -> None:
    response = user_client.get(f"{GROUPS}/search")

    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "groupname is required to search user groups"
    )


def test_search_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{GROUPS}/search", params={"groupname": "a"})

    assert response.status_code == 401


# Renaming


def test_rename_group(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    old, new = unique("old"), unique("new")
    gid = new_group(admin_client, old)

    response = admin_client.put(
        f"{GROUPS}/{gid}", json={"group_name": new, "group_type": OIDC}
    )

    assert response.status_code == 200
    body = admin_client.get(f"{GROUPS}/{gid}").json()
    assert body["group_name"] == new
    assert body["group_type"] == HTTP
    assert audit_rows(registry, new) == [
        ("update", "user-group", "success", f"renamed from {old}")
    ]


def test_rename_to_same_name(admin_client: httpx.Client) -> None:
    name = unique("same")
    gid = new_group(admin_client, name)

    response = admin_client.put(f"{GROUPS}/{gid}", json={"group_name": name})

    assert response.status_code == 200


def test_rename_to_taken_name(admin_client: httpx.Client) -> None:
    taken = unique("taken")
    new_group(admin_client, taken)
    gid = new_group(admin_client, unique("mover"))

    response = admin_client.put(f"{GROUPS}/{gid}", json={"group_name": taken})

    assert response.status_code == 409


def test_rename_to_name_of_other_type(admin_client: httpx.Client) -> None:
    name = unique("cross")
    new_group(admin_client, name, OIDC)
    gid = new_group(admin_client, unique("mover"), HTTP)

    response = admin_client.put(f"{GROUPS}/{gid}", json={"group_name": name})

    assert response.status_code == 200


def test_rename_without_name(admin_client: httpx.Client) -> None:
    gid = new_group(admin_client, unique("keep"))

    response = admin_client.put(f"{GROUPS}/{gid}", json={"group_type": HTTP})

    assert response.status_code == 400
    assert error_of(response)["message"] == "group_name is required"


def test_rename_missing_group(admin_client: httpx.Client) -> None:
    response = admin_client.put(f"{GROUPS}/987654321", json={"group_name": "x"})

    assert response.status_code == 404


# Deleting


def test_delete_group(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    name = unique("gone")
    gid = new_group(admin_client, name)

    response = admin_client.delete(f"{GROUPS}/{gid}")

    assert response.status_code == 200
    assert admin_client.get(f"{GROUPS}/{gid}").status_code == 404
    assert audit_rows(registry, name)[-1] == (
        "delete",
        "user-group",
        "success",
        "removed 0 project memberships",
    )


def test_delete_missing_group(admin_client: httpx.Client) -> None:
    response = admin_client.delete(f"{GROUPS}/987654321")

    assert response.status_code == 404


def test_delete_non_positive_id(admin_client: httpx.Client) -> None:
    response = admin_client.delete(f"{GROUPS}/0")

    assert response.status_code == 400


# Who may manage groups


def test_plain_user_cannot_manage(
    admin_client: httpx.Client, user_client: httpx.Client
) -> None:
    gid = new_group(admin_client, unique("guarded"))

    listed = user_client.get(GROUPS)
    read = user_client.get(f"{GROUPS}/{gid}")
    created = create(user_client, {"group_name": unique("x"), "group_type": HTTP})
    renamed = user_client.put(f"{GROUPS}/{gid}", json={"group_name": unique("y")})
    deleted = user_client.delete(f"{GROUPS}/{gid}")

    assert listed.status_code == 403
    assert read.status_code == 403
    assert created.status_code == 403
    assert renamed.status_code == 403
    assert deleted.status_code == 403
    assert admin_client.get(f"{GROUPS}/{gid}").status_code == 200


def test_anonymous_cannot_list(anonymous_client: httpx.Client) -> None:
    assert anonymous_client.get(GROUPS).status_code == 401


def test_anonymous_cannot_create(anonymous_client: httpx.Client) -> None:
    response = create(anonymous_client, {"group_name": "x", "group_type": HTTP})

    assert response.status_code == 401


def test_robot_with_group_grant(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    permission = {
        "kind": "system",
        "namespace": "/",
        "access": [{"resource": "user-group", "action": "list"}],
    }
    robot = admin_client.post(
        f"{API}/robots",
        json={"name": unique("ug"), "level": "system", "permissions": [permission]},
    )
    assert robot.status_code == 201, robot.text
    login = (robot.json()["name"], robot.json()["secret"])

    with httpx.Client(base_url=registry.url, auth=login, timeout=60) as client:
        listed = client.get(GROUPS)
        created = create(client, {"group_name": unique("r"), "group_type": HTTP})

    assert listed.status_code == 200
    assert created.status_code == 403
