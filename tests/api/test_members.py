"""The project members API on a live server: add, list, change and remove members."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.support.seed import add_member, create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
PASSWORD = "Member-Test-1"
PROJECT_ADMIN, DEVELOPER, GUEST, MAINTAINER, LIMITED_GUEST = 1, 2, 3, 4, 5
ROLE_NAMES = {
    PROJECT_ADMIN: "projectAdmin",
    DEVELOPER: "developer",
    GUEST: "guest",
    MAINTAINER: "maintainer",
    LIMITED_GUEST: "limitedGuest",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, response.text
    error: dict[str, Any] = errors[0]
    return error


def login(registry: RunningRegistry, username: str) -> httpx.Client:
    return httpx.Client(base_url=registry.url, auth=(username, PASSWORD), timeout=60)


@pytest.fixture
def project(admin_client: httpx.Client) -> str:
    """A new private project created by admin."""
    name = unique("team")
    response = admin_client.post(f"{API}/projects", json={"project_name": name})
    assert response.status_code == 201, response.text
    return name


@pytest.fixture
def person(registry: RunningRegistry) -> tuple[int, str]:
    """A new user who belongs to no project: its id and username."""
    username = unique("person")
    return create_user(registry, username, PASSWORD), username


@pytest.fixture
def person_client(
    registry: RunningRegistry, person: tuple[int, str]
) -> Iterator[httpx.Client]:
    with login(registry, person[1]) as client:
        yield client


def add(
    client: httpx.Client, project: str, role_id: int | None, **member_user: Any
) -> httpx.Response:
    body: dict[str, Any] = {"member_user": member_user}
    if role_id is not None:
        body["role_id"] = role_id
    return client.post(f"{API}/projects/{project}/members", json=body)


def member_id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def member_with_role(
    registry: RunningRegistry, project: str, role_id: int
) -> httpx.Client:
    """Return a client for a new user who has the role `role_id` in `project`."""
    username = unique("holder")
    add_member(registry, project, create_user(registry, username, PASSWORD), role_id)
    return login(registry, username)


def start_push(client: httpx.Client, project: str) -> int:
    """Return the status of starting a blob upload, the first step of a push."""
    return client.post(f"/v2/{project}/app/blobs/uploads/").status_code


# Adding


def test_add_by_username(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    user_id, username = person

    response = add(admin_client, project, GUEST, username=username)

    mid = member_id(response)
    assert response.headers["Location"] == f"{API}/projects/{project}/members/{mid}"
    entity = admin_client.get(f"{API}/projects/{project}/members/{mid}").json()
    assert entity == {
        "id": mid,
        "project_id": entity["project_id"],
        "entity_name": username,
        "role_name": "guest",
        "role_id": GUEST,
        "entity_id": user_id,
        "entity_type": "u",
    }


def test_add_by_user_id(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    user_id, username = person

    mid = member_id(add(admin_client, project, DEVELOPER, user_id=user_id))

    entity = admin_client.get(f"{API}/projects/{project}/members/{mid}").json()
    assert entity["entity_name"] == username
    assert entity["role_name"] == "developer"


def test_add_location_by_id(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    project_id = admin_client.get(f"{API}/projects/{project}").json()["project_id"]

    response = admin_client.post(
        f"{API}/projects/{project_id}/members",
        json={"role_id": GUEST, "member_user": {"user_id": person[0]}},
    )

    mid = member_id(response)
    assert response.headers["Location"] == f"{API}/projects/{project_id}/members/{mid}"


@pytest.mark.parametrize("role_id", list(ROLE_NAMES))
def test_add_every_role(
    registry: RunningRegistry, admin_client: httpx.Client, project: str, role_id: int
) -> None:
    username = unique("role")
    create_user(registry, username, PASSWORD)

    mid = member_id(add(admin_client, project, role_id, username=username))

    entity = admin_client.get(f"{API}/projects/{project}/members/{mid}").json()
    assert entity["role_id"] == role_id
    assert entity["role_name"] == ROLE_NAMES[role_id]


def test_add_duplicate(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    add(admin_client, project, GUEST, username=person[1])

    response = add(admin_client, project, DEVELOPER, user_id=person[0])

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "CONFLICT",
        "message": "The project member specified already exist",
    }


def test_add_unknown_username(admin_client: httpx.Client, project: str) -> None:
    username = unique("ghost")

    response = add(admin_client, project, GUEST, username=username)

    assert response.status_code == 404
    assert error_of(response)["message"] == f"user {username} is not found"


def test_add_unknown_user_id(admin_client: httpx.Client, project: str) -> None:
    response = add(admin_client, project, GUEST, user_id=987654321)

    assert response.status_code == 400
    assert error_of(response)["message"] == "User 987654321 not found"


def test_add_user_id_out_of_range(admin_client: httpx.Client, project: str) -> None:
    response = add(admin_client, project, GUEST, user_id=2**40)

    assert response.status_code == 400
    assert error_of(response)["message"] == f"User {2**40} not found"


def test_add_nul_username(admin_client: httpx.Client, project: str) -> None:
    response = add(admin_client, project, GUEST, username="admin\x00")

    assert response.status_code == 400


@pytest.mark.parametrize("role_id", [0, 6, -1, 99])
def test_add_invalid_role(
    admin_client: httpx.Client, project: str, person: tuple[int, str], role_id: int
) -> None:
    response = add(admin_client, project, role_id, username=person[1])

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(
        "invalid role: must be a built-in project role (1-5)"
    )


def test_add_missing_role(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    response = add(admin_client, project, None, username=person[1])

    assert response.status_code == 400
    assert error_of(response)["message"] == "role can not be empty"


def test_add_unknown_group_without_type(
    admin_client: httpx.Client, project: str
) -> None:
    name = unique("devs")
    response = admin_client.post(
        f"{API}/projects/{project}/members",
        json={"role_id": GUEST, "member_group": {"group_name": name}},
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(f"user group {name} not found")


def test_add_nobody(admin_client: httpx.Client, project: str) -> None:
    response = admin_client.post(
        f"{API}/projects/{project}/members", json={"role_id": GUEST}
    )

    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "at least one of member_user or member_group must be provided"
    )


def test_add_user_id_wins_over_group(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    response = admin_client.post(
        f"{API}/projects/{project}/members",
        json={
            "role_id": GUEST,
            "member_user": {"user_id": person[0]},
            "member_group": {"id": 5},
        },
    )

    assert response.status_code == 201


def test_add_to_missing_project(admin_client: httpx.Client) -> None:
    response = add(admin_client, unique("none"), GUEST, username="admin")

    assert response.status_code == 404


def test_add_audited(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    project: str,
    person: tuple[int, str],
) -> None:
    add(admin_client, project, GUEST, username=person[1])

    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            records = session.scalars(
                select(AuditLog).where(AuditLog.resource == f"{project}/{person[1]}")
            ).all()
            rows = [(r.operation, r.resource_type, r.reason) for r in records]
    finally:
        database.dispose()
    assert rows == [("create", "member", "role guest")]


# Listing


def test_list_members(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    add(admin_client, project, MAINTAINER, username=person[1])

    response = admin_client.get(f"{API}/projects/{project}/members")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "2"
    assert [(m["entity_name"], m["role_name"]) for m in response.json()] == [
        ("admin", "projectAdmin"),
        (person[1], "maintainer"),
    ]


def test_list_entityname_filter(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    marker = uuid.uuid4().hex[:8]
    wanted = f"find-{marker}-me"
    for username in (wanted, unique("other")):
        create_user(registry, username, PASSWORD)
        add(admin_client, project, GUEST, username=username)

    response = admin_client.get(
        f"{API}/projects/{project}/members", params={"entityname": marker}
    )

    assert [m["entity_name"] for m in response.json()] == [wanted]
    assert response.headers["X-Total-Count"] == "1"


def test_list_entityname_nul(admin_client: httpx.Client, project: str) -> None:
    response = admin_client.get(
        f"{API}/projects/{project}/members", params={"entityname": "adm\x00"}
    )

    assert response.status_code == 400


def test_list_paged(
    registry: RunningRegistry, admin_client: httpx.Client, project: str
) -> None:
    for _ in range(2):
        username = unique("paged")
        create_user(registry, username, PASSWORD)
        add(admin_client, project, GUEST, username=username)

    response = admin_client.get(
        f"{API}/projects/{project}/members", params={"page": 1, "page_size": 2}
    )

    assert len(response.json()) == 2
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]


@pytest.mark.parametrize(
    ("role_id", "status"),
    [
        (PROJECT_ADMIN, 200),
        (MAINTAINER, 200),
        (DEVELOPER, 200),
        (GUEST, 200),
        (LIMITED_GUEST, 403),
    ],
)
def test_list_by_role(
    registry: RunningRegistry, project: str, role_id: int, status: int
) -> None:
    with member_with_role(registry, project, role_id) as client:
        response = client.get(f"{API}/projects/{project}/members")

    assert response.status_code == status


def test_list_outsider(project: str, person_client: httpx.Client) -> None:
    response = person_client.get(f"{API}/projects/{project}/members")

    assert response.status_code == 403


def test_list_public_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{API}/projects/library/members")

    assert response.status_code == 401


# Reading, changing and removing one member


def test_get_other_projects_member(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    other = unique("other")
    admin_client.post(f"{API}/projects", json={"project_name": other})
    mid = member_id(add(admin_client, other, GUEST, username=person[1]))

    response = admin_client.get(f"{API}/projects/{project}/members/{mid}")

    assert response.status_code == 404


@pytest.mark.parametrize("mid", ["0", "-3", "abc", str(2**40)])
def test_get_invalid_member_id(
    admin_client: httpx.Client, project: str, mid: str
) -> None:
    response = admin_client.get(f"{API}/projects/{project}/members/{mid}")

    assert response.status_code == 422


def test_update_role(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    mid = member_id(add(admin_client, project, GUEST, username=person[1]))

    response = admin_client.put(
        f"{API}/projects/{project}/members/{mid}", json={"role_id": MAINTAINER}
    )

    assert response.status_code == 200
    entity = admin_client.get(f"{API}/projects/{project}/members/{mid}").json()
    assert entity["role_id"] == MAINTAINER
    assert entity["role_name"] == "maintainer"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"role_id": 9}, "invalid role: must be a built-in project role (1-5)"),
        ({}, "role can not be empty"),
    ],
)
def test_update_role_rejected(
    admin_client: httpx.Client,
    project: str,
    person: tuple[int, str],
    body: dict[str, Any],
    message: str,
) -> None:
    mid = member_id(add(admin_client, project, GUEST, username=person[1]))

    response = admin_client.put(f"{API}/projects/{project}/members/{mid}", json=body)

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(message)


def test_update_missing_member(admin_client: httpx.Client, project: str) -> None:
    response = admin_client.put(
        f"{API}/projects/{project}/members/987654", json={"role_id": GUEST}
    )

    assert response.status_code == 404


def test_delete_member(
    admin_client: httpx.Client, project: str, person: tuple[int, str]
) -> None:
    mid = member_id(add(admin_client, project, GUEST, username=person[1]))

    response = admin_client.delete(f"{API}/projects/{project}/members/{mid}")

    assert response.status_code == 200
    after = admin_client.get(f"{API}/projects/{project}/members/{mid}")
    assert after.status_code == 404


def test_delete_missing_member(admin_client: httpx.Client, project: str) -> None:
    response = admin_client.delete(f"{API}/projects/{project}/members/987654")

    assert response.status_code == 404


# Who may manage members


@pytest.mark.parametrize("role_id", [MAINTAINER, DEVELOPER, GUEST, LIMITED_GUEST])
def test_manage_needs_project_admin(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    project: str,
    person: tuple[int, str],
    role_id: int,
) -> None:
    mid = member_id(add(admin_client, project, GUEST, username=person[1]))

    with member_with_role(registry, project, role_id) as client:
        created = add(client, project, GUEST, username="admin")
        updated = client.put(
            f"{API}/projects/{project}/members/{mid}", json={"role_id": DEVELOPER}
        )
        deleted = client.delete(f"{API}/projects/{project}/members/{mid}")

    assert created.status_code == 403
    assert updated.status_code == 403
    assert deleted.status_code == 403


def test_project_admin_manages(
    registry: RunningRegistry, project: str, person: tuple[int, str]
) -> None:
    with member_with_role(registry, project, PROJECT_ADMIN) as client:
        mid = member_id(add(client, project, GUEST, username=person[1]))
        updated = client.put(
            f"{API}/projects/{project}/members/{mid}", json={"role_id": DEVELOPER}
        )
        deleted = client.delete(f"{API}/projects/{project}/members/{mid}")

    assert updated.status_code == 200
    assert deleted.status_code == 200


def test_anonymous_cannot_add(anonymous_client: httpx.Client) -> None:
    response = add(anonymous_client, "library", GUEST, username="admin")

    assert response.status_code == 401


# Changes apply to the next request


def test_role_change_applies_at_once(
    admin_client: httpx.Client,
    project: str,
    person: tuple[int, str],
    person_client: httpx.Client,
) -> None:
    assert start_push(person_client, project) == 403
    mid = member_id(add(admin_client, project, GUEST, username=person[1]))
    assert person_client.get(f"{API}/projects/{project}").status_code == 200
    assert start_push(person_client, project) == 403

    admin_client.put(
        f"{API}/projects/{project}/members/{mid}", json={"role_id": DEVELOPER}
    )

    assert start_push(person_client, project) == 202


def test_removal_applies_at_once(
    admin_client: httpx.Client,
    project: str,
    person: tuple[int, str],
    person_client: httpx.Client,
) -> None:
    mid = member_id(add(admin_client, project, MAINTAINER, username=person[1]))
    assert person_client.get(f"{API}/projects/{project}").status_code == 200

    admin_client.delete(f"{API}/projects/{project}/members/{mid}")

    assert person_client.get(f"{API}/projects/{project}").status_code == 403
    assert start_push(person_client, project) == 403


def test_member_sees_project_in_list(
    admin_client: httpx.Client,
    project: str,
    person: tuple[int, str],
    person_client: httpx.Client,
) -> None:
    add(admin_client, project, LIMITED_GUEST, username=person[1])

    listed = person_client.get(f"{API}/projects", params={"name": project}).json()

    assert [p["name"] for p in listed] == [project]
    assert listed[0]["current_user_role_id"] == LIMITED_GUEST
