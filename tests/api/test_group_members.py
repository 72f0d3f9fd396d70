"""User groups as project members on a live server.

Local logins belong to no group, so these tests check how group members
are added, listed, changed and removed, and that a group's role reaches
no local user. Roles granted through a login's groups are checked in
`tests/unit/test_group_roles.py`.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.support.seed import add_member, create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
GROUPS = f"{API}/usergroups"
PASSWORD = "Group-Member-1"
PROJECT_ADMIN, DEVELOPER, GUEST = 1, 2, 3
LDAP, HTTP, OIDC = 1, 2, 3


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, response.text
    error: dict[str, Any] = errors[0]
    return error


def new_group(client: httpx.Client, name: str, group_type: int = HTTP) -> int:
    body: dict[str, Any] = {"group_name": name, "group_type": group_type}
    if group_type == LDAP:
        body["ldap_group_dn"] = f"cn={name},dc=example"
    response = client.post(GROUPS, json=body)
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def add(
    client: httpx.Client, project: str, role_id: int | None, **body: Any
) -> httpx.Response:
    payload: dict[str, Any] = dict(body)
    if role_id is not None:
        payload["role_id"] = role_id
    return client.post(f"{API}/projects/{project}/members", json=payload)


def member_id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def member(client: httpx.Client, project: str, mid: int) -> dict[str, Any]:
    response = client.get(f"{API}/projects/{project}/members/{mid}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def groups_named(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    response = client.get(GROUPS, params={"group_name": name})
    assert response.status_code == 200, response.text
    return [g for g in response.json() if g["group_name"] == name]


def audit_rows(registry: RunningRegistry, resource: str) -> list[tuple[str, str, str]]:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            records = session.scalars(
                select(AuditLog)
                .where(AuditLog.resource == resource)
                .order_by(AuditLog.id)
            ).all()
            return [(r.operation, r.resource_type, r.reason) for r in records]
    finally:
        database.dispose()


@pytest.fixture
def project(admin_client: httpx.Client) -> str:
    """A new private project created by admin."""
    name = unique("gm")
    response = admin_client.post(f"{API}/projects", json={"project_name": name})
    assert response.status_code == 201, response.text
    return name


# Adding by id


def test_add_group_by_id(admin_client: httpx.Client, project: str) -> None:
    name = unique("ops")
    gid = new_group(admin_client, name)

    response = add(admin_client, project, GUEST, member_group={"id": gid})

    mid = member_id(response)
    assert response.headers["Location"] == f"{API}/projects/{project}/members/{mid}"
    entity = member(admin_client, project, mid)
    assert entity == {
        "id": mid,
        "project_id": entity["project_id"],
        "entity_name": name,
        "role_name": "guest",
        "role_id": GUEST,
        "entity_id": gid,
        "entity_type": "g",
    }


@pytest.mark.parametrize("gid", [987654321, 2**40])
def test_add_unknown_group_id(
    admin_client: httpx.Client, project: str, gid: int
) -> None:
    response = add(admin_client, project, GUEST, member_group={"id": gid})

    assert response.status_code == 400
    assert error_of(response)["message"] == f"Group {gid} not found"


def test_add_group_twice(admin_client: httpx.Client, project: str) -> None:
    gid = new_group(admin_client, unique("twice"))
    member_id(add(admin_client, project, GUEST, member_group={"id": gid}))

    response = add(admin_client, project, DEVELOPER, member_group={"id": gid})

    assert response.status_code == 409
    assert error_of(response)["message"] == (
        "The project member specified already exist"
    )


def test_add_group_invalid_role(admin_client: httpx.Client, project: str) -> None:
    gid = new_group(admin_client, unique("role"))

    response = add(admin_client, project, 9, member_group={"id": gid})

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("invalid role")


# Adding by name or DN


def test_add_existing_group_by_name(admin_client: httpx.Client, project: str) -> None:
    name = unique("named")
    gid = new_group(admin_client, name, OIDC)

    response = add(
        admin_client,
        project,
        GUEST,
        member_group={"group_name": name, "group_type": OIDC},
    )

    assert member(admin_client, project, member_id(response))["entity_id"] == gid


def test_add_existing_group_by_name_only(
    admin_client: httpx.Client, project: str
) -> None:
    name = unique("only")
    gid = new_group(admin_client, name, OIDC)

    response = add(admin_client, project, GUEST, member_group={"group_name": name})

    assert member(admin_client, project, member_id(response))["entity_id"] == gid


def test_add_ambiguous_name_needs_type(
    admin_client: httpx.Client, project: str
) -> None:
    name = unique("amb")
    new_group(admin_client, name, HTTP)
    new_group(admin_client, name, OIDC)

    response = add(admin_client, project, GUEST, member_group={"group_name": name})

    assert response.status_code == 400
    assert "set member_group.group_type" in error_of(response)["message"]


def test_add_new_group_by_name(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    name = unique("fresh")

    response = add(
        admin_client,
        project,
        DEVELOPER,
        member_group={"group_name": name, "group_type": HTTP},
    )

    entity = member(admin_client, project, member_id(response))
    created = groups_named(admin_client, name)
    assert [(g["id"], g["group_type"]) for g in created] == [
        (entity["entity_id"], HTTP)
    ]
    assert audit_rows(registry, name) == [
        (
            "create",
            "user-group",
            f"group type {HTTP}, added as member of project {project}",
        )
    ]
    assert audit_rows(registry, f"{project}/{name}") == [
        ("create", "member", "role developer for user group")
    ]


def test_add_new_group_invalid_type(admin_client: httpx.Client, project: str) -> None:
    response = add(
        admin_client,
        project,
        GUEST,
        member_group={"group_name": unique("typ"), "group_type": 7},
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("group_type must be")


def test_add_new_ldap_group_by_name(admin_client: httpx.Client, project: str) -> None:
    response = add(
        admin_client,
        project,
        GUEST,
        member_group={"group_name": unique("nodn"), "group_type": LDAP},
    )

    assert response.status_code == 400
    assert "ldap_group_dn" in error_of(response)["message"]


def test_failed_add_creates_no_group(admin_client: httpx.Client, project: str) -> None:
    name = unique("rollback")

    response = add(
        admin_client,
        project,
        None,
        member_group={"group_name": name, "group_type": HTTP},
    )

    assert response.status_code == 400
    assert groups_named(admin_client, name) == []


def test_add_new_ldap_group_by_dn(admin_client: httpx.Client, project: str) -> None:
    name = unique("dn")
    dn = f"CN={name},OU=Groups,DC=Example"

    response = add(
        admin_client,
        project,
        GUEST,
        member_group={"ldap_group_dn": dn, "group_name": name},
    )

    entity = member(admin_client, project, member_id(response))
    group = admin_client.get(f"{GROUPS}/{entity['entity_id']}").json()
    assert group["group_name"] == name
    assert group["group_type"] == LDAP
    assert group["ldap_group_dn"] == dn.lower()


def test_add_ldap_dn_without_name(admin_client: httpx.Client, project: str) -> None:
    dn = f"cn={unique('anon')},dc=example"

    response = add(admin_client, project, GUEST, member_group={"ldap_group_dn": dn})

    assert member(admin_client, project, member_id(response))["entity_name"] == dn


def test_add_existing_ldap_group_by_dn(
    admin_client: httpx.Client, project: str
) -> None:
    name = unique("known")
    gid = new_group(admin_client, name, LDAP)

    response = add(
        admin_client,
        project,
        GUEST,
        member_group={"ldap_group_dn": f"CN={name},DC=EXAMPLE"},
    )

    assert member(admin_client, project, member_id(response))["entity_id"] == gid


def test_add_ldap_name_taken_uses_dn(admin_client: httpx.Client, project: str) -> None:
    name = unique("taken")
    new_group(admin_client, name, LDAP)
    dn = f"cn={unique('other')},dc=example"

    response = add(
        admin_client,
        project,
        GUEST,
        member_group={"ldap_group_dn": dn, "group_name": name},
    )

    assert member(admin_client, project, member_id(response))["entity_name"] == dn


def test_add_invalid_dn(admin_client: httpx.Client, project: str) -> None:
    response = add(
        admin_client, project, GUEST, member_group={"ldap_group_dn": "no equals"}
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("invalid DN syntax")


# Which field wins


def test_group_id_wins_over_username(admin_client: httpx.Client, project: str) -> None:
    gid = new_group(admin_client, unique("win"))

    response = add(
        admin_client,
        project,
        GUEST,
        member_user={"username": "admin"},
        member_group={"id": gid},
    )

    assert member(admin_client, project, member_id(response))["entity_type"] == "g"


def test_username_wins_over_dn(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    username = unique("winner")
    create_user(registry, username, PASSWORD)

    response = add(
        admin_client,
        project,
        GUEST,
        member_user={"username": username},
        member_group={"ldap_group_dn": f"cn={unique('loser')},dc=example"},
    )

    entity = member(admin_client, project, member_id(response))
    assert (entity["entity_type"], entity["entity_name"]) == ("u", username)


def test_dn_wins_over_group_name(admin_client: httpx.Client, project: str) -> None:
    named = unique("named")
    new_group(admin_client, named, HTTP)
    dn_name = unique("bydn")
    gid = new_group(admin_client, dn_name, LDAP)

    response = add(
        admin_client,
        project,
        GUEST,
        member_group={
            "ldap_group_dn": f"cn={dn_name},dc=example",
            "group_name": named,
            "group_type": HTTP,
        },
    )

    assert member(admin_client, project, member_id(response))["entity_id"] == gid


# Listing, changing and removing


def test_list_users_and_groups(admin_client: httpx.Client, project: str) -> None:
    stem = unique("mix")
    gid = new_group(admin_client, f"{stem}-group")
    member_id(add(admin_client, project, DEVELOPER, member_group={"id": gid}))

    response = admin_client.get(f"{API}/projects/{project}/members")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "2"
    assert [
        (m["entity_name"], m["entity_type"], m["role_name"]) for m in response.json()
    ] == [("admin", "u", "projectAdmin"), (f"{stem}-group", "g", "developer")]


def test_list_entityname_matches_group(
    admin_client: httpx.Client, project: str
) -> None:
    name = unique("findme")
    gid = new_group(admin_client, name)
    member_id(add(admin_client, project, GUEST, member_group={"id": gid}))

    response = admin_client.get(
        f"{API}/projects/{project}/members", params={"entityname": name[:10].upper()}
    )

    assert [m["entity_id"] for m in response.json()] == [gid]
    assert response.headers["X-Total-Count"] == "1"


def test_update_group_role(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    name = unique("promote")
    gid = new_group(admin_client, name)
    mid = member_id(add(admin_client, project, GUEST, member_group={"id": gid}))

    response = admin_client.put(
        f"{API}/projects/{project}/members/{mid}", json={"role_id": PROJECT_ADMIN}
    )

    assert response.status_code == 200
    assert member(admin_client, project, mid)["role_name"] == "projectAdmin"
    assert audit_rows(registry, f"{project}/{name}")[-1] == (
        "update",
        "member",
        "role projectAdmin for user group",
    )


def test_delete_group_member(admin_client: httpx.Client, project: str) -> None:
    gid = new_group(admin_client, unique("leave"))
    mid = member_id(add(admin_client, project, GUEST, member_group={"id": gid}))

    response = admin_client.delete(f"{API}/projects/{project}/members/{mid}")

    assert response.status_code == 200
    assert (
        admin_client.get(f"{API}/projects/{project}/members/{mid}").status_code == 404
    )
    assert admin_client.get(f"{GROUPS}/{gid}").status_code == 200


def test_deleting_group_removes_memberships(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    name = unique("doomed")
    gid = new_group(admin_client, name)
    mid = member_id(add(admin_client, project, GUEST, member_group={"id": gid}))

    response = admin_client.delete(f"{GROUPS}/{gid}")

    assert response.status_code == 200
    assert (
        admin_client.get(f"{API}/projects/{project}/members/{mid}").status_code == 404
    )
    listed = admin_client.get(f"{API}/projects/{project}/members").json()
    assert [m["entity_type"] for m in listed] == ["u"]
    assert audit_rows(registry, name)[-1] == (
        "delete",
        "user-group",
        "removed 1 project memberships",
    )


# Who may add groups, and what a group grants


def test_project_admin_adds_group(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    gid = new_group(admin_client, unique("delegated"))
    username = unique("padmin")
    add_member(registry, project, create_user(registry, username, PASSWORD), 1)

    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        response = add(client, project, GUEST, member_group={"id": gid})

    assert response.status_code == 201, response.text


def test_guest_cannot_add_group(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    gid = new_group(admin_client, unique("refused"))
    username = unique("guest")
    add_member(registry, project, create_user(registry, username, PASSWORD), GUEST)

    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        response = add(client, project, GUEST, member_group={"id": gid})

    assert response.status_code == 403


def test_group_role_reaches_no_local_user(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    # A local user named like a group gains nothing from the group's role.
    name = unique("lookalike")
    gid = new_group(admin_client, name)
    member_id(add(admin_client, project, DEVELOPER, member_group={"id": gid}))
    create_user(registry, name, PASSWORD)

    with httpx.Client(
        base_url=registry.url, auth=(name, PASSWORD), timeout=60
    ) as client:
        project_status = client.get(f"{API}/projects/{project}").status_code
        push_status = client.post(f"/v2/{project}/app/blobs/uploads/").status_code

    assert project_status == 403
    assert push_status == 403
