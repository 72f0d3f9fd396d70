"""The robot account API: `/api/v2.0/robots` and `/api/v2.0/robots/{robot_id}`."""

from __future__ import annotations

import string
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select, update

from seawall.auth import hash_password
from seawall.db import Database
from seawall.db.models import AuditLog, Project, ProjectMember, User
from seawall.db.models import Robot as RobotRow
from seawall.policy import ProjectRole
from seawall.registry.cache import MetadataEpoch
from tests.support.seed import create_project
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

ROBOTS = "/api/v2.0/robots"
USER_PASSWORD = "Robot-Test-User-1"
DAY = 86_400
DEFAULT_DURATION_DAYS = 30
SECRET_RULE = (
    "the secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)
PUSH_PULL = [("repository", "push"), ("repository", "pull")]


# Helpers


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def database(registry: RunningRegistry) -> Iterator[Database]:
    """A connection to the live registry's database, for seeding and checks."""
    db = Database(registry.database_url)
    yield db
    db.dispose()


def project_permission(
    namespace: str, pairs: list[tuple[str, str]]
) -> dict[str, object]:
    return {
        "kind": "project",
        "namespace": namespace,
        "access": [{"resource": r, "action": a, "effect": "allow"} for r, a in pairs],
    }


def system_permission(pairs: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "kind": "system",
        "namespace": "/",
        "access": [{"resource": r, "action": a} for r, a in pairs],
    }


def robot_body(
    name: str, level: str, permissions: list[dict[str, object]], **extra: object
) -> dict[str, object]:
    return {"name": name, "level": level, "permissions": permissions, **extra}


def new_project(registry: RunningRegistry, database: Database) -> tuple[str, int]:
    name = unique("rp")
    create_project(registry, name, public=False)
    with database.session(read_only=True) as session:
        project_id = session.scalars(
            select(Project.id).where(Project.name == name)
        ).one()
    return name, project_id


def new_user(
    registry: RunningRegistry,
    database: Database,
    project_id: int | None = None,
    role: ProjectRole | None = None,
) -> tuple[str, str]:
    """Create a local user, optionally a member of a project, and return its login."""
    username = unique("ru")
    with database.session() as session:
        user = User(
            username=username,
            email=f"{username}@example.com",
            password_hash=hash_password(USER_PASSWORD),
        )
        session.add(user)
        session.flush()
        if project_id is not None and role is not None:
            session.add(
                ProjectMember(
                    project_id=project_id,
                    entity_type="u",
                    entity_id=user.id,
                    role_id=int(role),
                )
            )
    MetadataEpoch(registry.data_dir).bump()
    return username, USER_PASSWORD


def client_for(registry: RunningRegistry, login: tuple[str, str]) -> httpx.Client:
    return httpx.Client(base_url=registry.url, auth=login, timeout=60)


def create(client: httpx.Client, body: dict[str, object]) -> httpx.Response:
    return client.post(ROBOTS, json=body)


def created(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    response = create(client, body)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def login_status(registry: RunningRegistry, name: object, secret: object) -> int:
    response = httpx.get(
        f"{registry.url}/v2/", auth=(str(name), str(secret)), timeout=30
    )
    return response.status_code


def error_message(response: httpx.Response) -> str:
    message: str = response.json()["errors"][0]["message"]
    return message


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


def stored_robot(database: Database, robot_id: object) -> RobotRow:
    with database.session(read_only=True) as session:
        robot = session.get(RobotRow, robot_id)
        assert robot is not None
        return robot


def put_body(robot: dict[str, object], **changes: object) -> dict[str, object]:
    return {**robot, **changes}


# Create


def test_create_system_robot_shape(admin_client: httpx.Client) -> None:
    name = unique("sys")
    response = create(
        admin_client,
        robot_body(name, "system", [system_permission([("project", "list")])]),
    )

    body = response.json()
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{ROBOTS}/{body['id']}"
    assert body["name"] == f"robot${name}"
    assert set(body) == {"id", "name", "secret", "creation_time", "expires_at"}
    assert datetime.fromisoformat(body["creation_time"].replace("Z", "+00:00"))


def test_create_default_duration(admin_client: httpx.Client) -> None:
    before = int(time.time())
    body = created(
        admin_client,
        robot_body(unique("dur"), "system", [system_permission([("user", "list")])]),
    )

    expected = before + DEFAULT_DURATION_DAYS * DAY
    assert isinstance(body["expires_at"], int)
    assert expected - 5 <= body["expires_at"] <= expected + 60


def test_create_never_expires(admin_client: httpx.Client) -> None:
    body = created(
        admin_client,
        robot_body(
            unique("never"),
            "system",
            [system_permission([("user", "list")])],
            duration=-1,
        ),
    )

    assert body["expires_at"] == -1


def test_secret_generated_strong(admin_client: httpx.Client) -> None:
    body = created(
        admin_client,
        robot_body(unique("sec"), "system", [system_permission([("user", "read")])]),
    )

    secret = str(body["secret"])
    assert len(secret) == 32
    assert any(char in string.ascii_uppercase for char in secret)
    assert any(char in string.ascii_lowercase for char in secret)
    assert any(char in string.digits for char in secret)


def test_secret_stored_as_argon2(
    admin_client: httpx.Client, database: Database
) -> None:
    body = created(
        admin_client,
        robot_body(unique("hash"), "system", [system_permission([("user", "read")])]),
    )

    robot = stored_robot(database, body["id"])
    assert robot.secret_hash.startswith("$argon2id$")
    assert str(body["secret"]) not in robot.secret_hash


def test_requested_secret_ignored(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    chosen = "Chosen-Secret-1"
    body = created(
        admin_client,
        robot_body(
            unique("ign"),
            "system",
            [system_permission([("user", "read")])],
            secret=chosen,
        ),
    )

    assert body["secret"] != chosen
    assert login_status(registry, body["name"], chosen) == 401


def test_create_project_robot_name(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("ci", "project", [project_permission(project, PUSH_PULL)]),
    )

    robot = stored_robot(database, body["id"])
    assert body["name"] == f"robot${project}+ci"
    assert robot.project_id == project_id
    assert robot.name == "ci"
    assert robot.level == "project"


def test_new_robot_can_log_in(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("login", "project", [project_permission(project, PUSH_PULL)]),
    )

    assert login_status(registry, body["name"], body["secret"]) == 200
    assert login_status(registry, body["name"], "Wrong-Secret-1") == 401


def test_creator_recorded(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    body = created(
        admin_client,
        robot_body(unique("who"), "system", [system_permission([("user", "read")])]),
    )

    robot = stored_robot(database, body["id"])
    assert robot.creator_type == "local"
    assert robot.creator_ref > 0


@pytest.mark.parametrize(
    "name", ["", "CI", "ci+x", "-ci", "ci-", "c..i", "c i", "ci$", "ü"]
)
def test_invalid_name_rejected(admin_client: httpx.Client, name: str) -> None:
    response = create(
        admin_client,
        robot_body(name, "system", [system_permission([("user", "read")])]),
    )

    assert response.status_code == 400
    assert error_message(response) == (
        "robot name is not in lower case or contains illegal characters"
    )


def test_overlong_name_rejected(admin_client: httpx.Client) -> None:
    response = create(
        admin_client,
        robot_body("a" * 256, "system", [system_permission([("user", "read")])]),
    )

    assert response.status_code == 400
    assert "at most 255 characters" in error_message(response)


@pytest.mark.parametrize("duration", [0, -2, 2**31 - 1, 2**40])
def test_invalid_duration_rejected(admin_client: httpx.Client, duration: int) -> None:
    response = create(
        admin_client,
        robot_body(
            unique("d"),
            "system",
            [system_permission([("user", "read")])],
            duration=duration,
        ),
    )

    assert response.status_code == 400
    assert error_message(response) == (
        f"bad request error duration input: {duration}, duration must be "
        "either -1(Never) or a positive integer"
    )


def test_invalid_level_rejected(admin_client: httpx.Client) -> None:
    response = create(
        admin_client,
        robot_body(unique("l"), "global", [system_permission([("user", "read")])]),
    )

    assert response.status_code == 400
    assert error_message(response) == "bad request error level input: global"


def test_empty_permissions_rejected(admin_client: httpx.Client) -> None:
    response = create(admin_client, robot_body(unique("e"), "system", []))

    assert response.status_code == 400
    assert error_message(response) == "bad request empty permission"


def test_empty_access_rejected(admin_client: httpx.Client) -> None:
    response = create(
        admin_client, robot_body(unique("e"), "system", [system_permission([])])
    )

    assert response.status_code == 400
    assert error_message(response) == "bad request empty access"


def test_project_robot_two_permissions_rejected(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    permissions = [
        project_permission(project, [("repository", "pull")]),
        project_permission(project, [("repository", "push")]),
    ]

    response = create(admin_client, robot_body("two", "project", permissions))

    assert response.status_code == 400
    assert error_message(response) == "bad request permission"


@pytest.mark.parametrize(
    ("permission", "message"),
    [
        (
            project_permission("library", [("repository", "fly")]),
            "bad request permission: repository:fly",
        ),
        (
            project_permission("library", [("repository", "create")]),
            "bad request permission: repository:create",
        ),
        (
            project_permission("library", [("user", "create")]),
            "bad request permission: user:create",
        ),
        (
            system_permission([("repository", "pull")]),
            "bad request permission: repository:pull",
        ),
        (
            system_permission([("robot", "update")]),
            "bad request permission: robot:update",
        ),
        (
            {"kind": "cluster", "namespace": "/", "access": [{"resource": "user"}]},
            "bad request permission level: cluster",
        ),
    ],
    ids=[
        "unknown-action",
        "not-grantable-project",
        "system-resource-as-project",
        "project-resource-as-system",
        "robot-update",
        "unknown-kind",
    ],
)
def test_ungrantable_access_rejected(
    admin_client: httpx.Client, permission: dict[str, object], message: str
) -> None:
    response = create(admin_client, robot_body(unique("g"), "system", [permission]))

    assert response.status_code == 400
    assert error_message(response) == message


def test_system_kind_needs_root_namespace(admin_client: httpx.Client) -> None:
    permission = {**system_permission([("user", "read")]), "namespace": "library"}

    response = create(admin_client, robot_body(unique("ns"), "system", [permission]))

    assert response.status_code == 400
    assert 'needs namespace "/"' in error_message(response)


def test_deny_effect_rejected(admin_client: httpx.Client) -> None:
    permission = {
        "kind": "system",
        "namespace": "/",
        "access": [{"resource": "user", "action": "read", "effect": "deny"}],
    }

    response = create(admin_client, robot_body(unique("ef"), "system", [permission]))

    assert response.status_code == 400
    assert "only allow is supported" in error_message(response)


def test_project_robot_needs_project_kind(admin_client: httpx.Client) -> None:
    response = create(
        admin_client,
        robot_body("k", "project", [system_permission([("user", "read")])]),
    )

    assert response.status_code == 400
    assert "needs one permission of kind project" in error_message(response)


def test_project_robot_all_projects_rejected(admin_client: httpx.Client) -> None:
    response = create(
        admin_client,
        robot_body("star", "project", [project_permission("*", PUSH_PULL)]),
    )

    assert response.status_code == 400
    assert "namespace is a project name" in error_message(response)


def test_project_robot_missing_project(admin_client: httpx.Client) -> None:
    missing = unique("missing")

    response = create(
        admin_client,
        robot_body("ci", "project", [project_permission(missing, PUSH_PULL)]),
    )

    assert response.status_code == 404
    assert error_message(response) == f"project {missing} not found"


def test_system_robot_missing_namespace(admin_client: httpx.Client) -> None:
    missing = unique("missing")

    response = create(
        admin_client,
        robot_body(unique("s"), "system", [project_permission(missing, PUSH_PULL)]),
    )

    assert response.status_code == 404
    assert error_message(response) == f"project {missing} not found"


def test_duplicate_system_name_conflicts(admin_client: httpx.Client) -> None:
    name = unique("dup")
    body = robot_body(name, "system", [system_permission([("user", "read")])])
    created(admin_client, body)

    response = create(admin_client, body)

    assert response.status_code == 409
    assert error_message(response) == f"robot account robot${name} already exists"


def test_duplicate_project_name_conflicts(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = robot_body("ci", "project", [project_permission(project, PUSH_PULL)])
    created(admin_client, body)

    response = create(admin_client, body)

    assert response.status_code == 409
    assert error_code(response) == "CONFLICT"


def test_concurrent_duplicates_one_wins(
    registry: RunningRegistry, database: Database
) -> None:
    """System robots have no project, so only the registry's lock keeps names unique."""
    name = unique("race")
    body = robot_body(name, "system", [system_permission([("user", "read")])])

    def attempt(_: int) -> int:
        with client_for(registry, ("admin", ADMIN_PASSWORD)) as client:
            return create(client, body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))

    with database.session(read_only=True) as session:
        stored = session.scalars(
            select(RobotRow.id).where(
                RobotRow.name == name, RobotRow.project_id.is_(None)
            )
        ).all()
    assert statuses == [201] + [409] * 7
    assert len(stored) == 1


def test_same_name_other_scope_allowed(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    first, _ = new_project(registry, database)
    second, _ = new_project(registry, database)
    name = unique("shared")

    responses = [
        create(
            admin_client,
            robot_body(name, "project", [project_permission(first, PUSH_PULL)]),
        ),
        create(
            admin_client,
            robot_body(name, "project", [project_permission(second, PUSH_PULL)]),
        ),
        create(
            admin_client,
            robot_body(name, "system", [system_permission([("user", "read")])]),
        ),
    ]

    assert [response.status_code for response in responses] == [201, 201, 201]


def test_system_robot_all_projects_allowed(admin_client: httpx.Client) -> None:
    body = created(
        admin_client,
        robot_body(
            unique("all"), "system", [project_permission("*", [("repository", "pull")])]
        ),
    )

    assert str(body["name"]).startswith("robot$")


def test_anonymous_create_unauthorized(anonymous_client: httpx.Client) -> None:
    response = create(
        anonymous_client,
        robot_body(unique("anon"), "system", [system_permission([("user", "read")])]),
    )

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"


# Who may create


def test_project_admin_creates_project_robot(
    registry: RunningRegistry, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    login = new_user(registry, database, project_id, ProjectRole.PROJECT_ADMIN)
    with client_for(registry, login) as client:
        response = create(
            client,
            robot_body("ci", "project", [project_permission(project, PUSH_PULL)]),
        )

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "role", [ProjectRole.MAINTAINER, ProjectRole.DEVELOPER, ProjectRole.GUEST]
)
def test_other_roles_cannot_create(
    registry: RunningRegistry, database: Database, role: ProjectRole
) -> None:
    project, project_id = new_project(registry, database)
    login = new_user(registry, database, project_id, role)
    with client_for(registry, login) as client:
        response = create(
            client,
            robot_body("ci", "project", [project_permission(project, PUSH_PULL)]),
        )

    assert response.status_code == 403
    assert "robot:create" in error_message(response)


def test_project_admin_cannot_create_system(
    registry: RunningRegistry, database: Database
) -> None:
    _, project_id = new_project(registry, database)
    login = new_user(registry, database, project_id, ProjectRole.PROJECT_ADMIN)
    with client_for(registry, login) as client:
        response = create(
            client,
            robot_body(unique("s"), "system", [system_permission([("user", "read")])]),
        )

    assert response.status_code == 403
    assert "system permission robot:create" in error_message(response)


def test_project_admin_other_project_forbidden(
    registry: RunningRegistry, database: Database
) -> None:
    _, own_id = new_project(registry, database)
    other, _ = new_project(registry, database)
    login = new_user(registry, database, own_id, ProjectRole.PROJECT_ADMIN)
    with client_for(registry, login) as client:
        response = create(
            client, robot_body("ci", "project", [project_permission(other, PUSH_PULL)])
        )

    assert response.status_code == 403


def test_missing_project_hidden_from_users(
    registry: RunningRegistry, database: Database
) -> None:
    login = new_user(registry, database)
    with client_for(registry, login) as client:
        response = create(
            client,
            robot_body(
                "ci", "project", [project_permission(unique("nope"), PUSH_PULL)]
            ),
        )

    assert response.status_code == 403


# Robots creating robots


def test_system_robot_creates_subset(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    creator = created(
        admin_client,
        robot_body(
            unique("maker"),
            "system",
            [system_permission([("robot", "create"), ("user", "read")])],
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        response = create(
            client,
            robot_body(
                unique("made"), "system", [system_permission([("user", "read")])]
            ),
        )

    assert response.status_code == 201, response.text


def test_system_robot_superset_denied(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    creator = created(
        admin_client,
        robot_body(
            unique("maker"), "system", [system_permission([("robot", "create")])]
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        response = create(
            client,
            robot_body(
                unique("made"), "system", [system_permission([("user", "create")])]
            ),
        )

    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    assert error_message(response) == (
        "permission scope is invalid. It must be equal to or more restrictive "
        f"than the creator robot's permissions: {creator['name']}"
    )


def test_system_robot_creator_recorded(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    creator = created(
        admin_client,
        robot_body(
            unique("maker"), "system", [system_permission([("robot", "create")])]
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        made = created(
            client,
            robot_body(
                unique("made"), "system", [system_permission([("robot", "create")])]
            ),
        )

    robot = stored_robot(database, made["id"])
    assert robot.creator_type == "robot"
    assert robot.creator_ref == creator["id"]


def test_project_robot_creates_subset(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    creator = created(
        admin_client,
        robot_body(
            "maker",
            "project",
            [
                project_permission(
                    project, [("robot", "create"), ("repository", "push")]
                )
            ],
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        response = create(
            client,
            robot_body(
                "puller",
                "project",
                [project_permission(project, [("repository", "pull")])],
            ),
        )

    assert response.status_code == 201, response.text


def test_project_robot_superset_denied(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    creator = created(
        admin_client,
        robot_body(
            "maker",
            "project",
            [
                project_permission(
                    project, [("robot", "create"), ("repository", "pull")]
                )
            ],
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        response = create(
            client,
            robot_body(
                "pusher",
                "project",
                [project_permission(project, [("repository", "push")])],
            ),
        )

    assert response.status_code == 403
    assert error_code(response) == "DENIED"


def test_project_robot_other_project_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    other, _ = new_project(registry, database)
    creator = created(
        admin_client,
        robot_body(
            "maker",
            "project",
            [
                project_permission(
                    project, [("robot", "create"), ("repository", "pull")]
                )
            ],
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        response = create(
            client,
            robot_body(
                "puller",
                "project",
                [project_permission(other, [("repository", "pull")])],
            ),
        )

    assert response.status_code == 403
    assert error_code(response) == "FORBIDDEN"


def test_project_robot_cannot_create_system(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    creator = created(
        admin_client,
        robot_body(
            "maker", "project", [project_permission(project, [("robot", "create")])]
        ),
    )
    with client_for(registry, (str(creator["name"]), str(creator["secret"]))) as client:
        response = create(
            client,
            robot_body(
                unique("sys"),
                "system",
                [project_permission(project, [("robot", "create")])],
            ),
        )

    assert response.status_code == 403


# List


def test_list_system_robots_default(admin_client: httpx.Client) -> None:
    name = unique("listed")
    created(
        admin_client,
        robot_body(name, "system", [system_permission([("user", "read")])]),
    )

    default = admin_client.get(ROBOTS, params={"q": f"name={name}"})
    explicit = admin_client.get(ROBOTS, params={"q": f"Level=system,name={name}"})

    assert default.status_code == 200, default.text
    assert [robot["name"] for robot in default.json()] == [f"robot${name}"]
    assert explicit.json() == default.json()
    assert default.headers["X-Total-Count"] == "1"


def test_list_hides_secret(admin_client: httpx.Client) -> None:
    name = unique("nosecret")
    created(
        admin_client,
        robot_body(name, "system", [system_permission([("user", "read")])]),
    )

    robots = admin_client.get(ROBOTS, params={"q": f"name={name}"}).json()

    assert "secret" not in robots[0]


def test_list_project_robots(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    for name in ["one", "two", "three"]:
        created(
            admin_client,
            robot_body(name, "project", [project_permission(project, PUSH_PULL)]),
        )

    response = admin_client.get(
        ROBOTS, params={"q": f"Level=project,ProjectID={project_id}", "page_size": 2}
    )

    assert response.status_code == 200, response.text
    assert [robot["name"] for robot in response.json()] == [
        f"robot${project}+one",
        f"robot${project}+two",
    ]
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]


def test_list_project_excludes_system(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    created(
        admin_client,
        robot_body("only", "project", [project_permission(project, PUSH_PULL)]),
    )
    created(
        admin_client,
        robot_body(unique("sys"), "system", [project_permission(project, PUSH_PULL)]),
    )

    response = admin_client.get(
        ROBOTS, params={"q": f"Level=project,ProjectID={project_id}"}
    )

    assert [robot["level"] for robot in response.json()] == ["project"]


def test_list_robot_shape(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    created(
        admin_client,
        robot_body(
            "shape",
            "project",
            [project_permission(project, PUSH_PULL)],
            description="builds",
            duration=7,
        ),
    )

    robot = admin_client.get(
        ROBOTS, params={"q": f"Level=project,ProjectID={project_id}"}
    ).json()[0]

    assert robot["description"] == "builds"
    assert robot["duration"] == 7
    assert robot["editable"] is True
    assert robot["disable"] is False
    assert robot["level"] == "project"
    assert robot["permissions"] == [project_permission(project, PUSH_PULL)]
    assert {"creation_time", "update_time", "expires_at", "id"} <= set(robot)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("Level=project", "must with project ID when to query project robots"),
        ("Level=project,ProjectID=abc", "Project ID must be int type."),
        ("Level=global", "bad request error level input"),
        ("level=system", "unsupported query key 'level'"),
    ],
)
def test_list_bad_query_rejected(
    admin_client: httpx.Client, query: str, message: str
) -> None:
    response = admin_client.get(ROBOTS, params={"q": query})

    assert response.status_code == 400
    assert message in error_message(response)


def test_list_system_needs_permission(
    registry: RunningRegistry, database: Database
) -> None:
    login = new_user(registry, database)
    with client_for(registry, login) as client:
        response = client.get(ROBOTS)

    assert response.status_code == 403


def test_list_anonymous_unauthorized(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(ROBOTS)

    assert response.status_code == 401


def test_guest_lists_project_robots(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    created(
        admin_client,
        robot_body("seen", "project", [project_permission(project, PUSH_PULL)]),
    )
    login = new_user(registry, database, project_id, ProjectRole.GUEST)
    with client_for(registry, login) as client:
        response = client.get(
            ROBOTS, params={"q": f"Level=project,ProjectID={project_id}"}
        )

    assert response.status_code == 200, response.text
    assert [robot["name"] for robot in response.json()] == [f"robot${project}+seen"]


def test_non_member_cannot_list_project(
    registry: RunningRegistry, database: Database
) -> None:
    _, project_id = new_project(registry, database)
    login = new_user(registry, database)
    with client_for(registry, login) as client:
        response = client.get(
            ROBOTS, params={"q": f"Level=project,ProjectID={project_id}"}
        )

    assert response.status_code == 403


# Read


def test_get_robot_by_id(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("get", "project", [project_permission(project, PUSH_PULL)]),
    )

    response = admin_client.get(f"{ROBOTS}/{body['id']}")

    robot = response.json()
    assert response.status_code == 200, response.text
    assert robot["id"] == body["id"]
    assert robot["name"] == body["name"]
    assert robot["expires_at"] == body["expires_at"]
    assert "secret" not in robot


def test_get_missing_robot(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{ROBOTS}/987654321")

    assert response.status_code == 404
    assert error_message(response) == "robot 987654321 not found"


def test_get_other_project_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    _, other_id = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("hidden", "project", [project_permission(project, PUSH_PULL)]),
    )
    login = new_user(registry, database, other_id, ProjectRole.PROJECT_ADMIN)
    with client_for(registry, login) as client:
        response = client.get(f"{ROBOTS}/{body['id']}")

    assert response.status_code == 403


# Update


def fetch(client: httpx.Client, robot_id: object) -> dict[str, object]:
    response = client.get(f"{ROBOTS}/{robot_id}")
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_update_editable_fields(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("edit", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    pull_only = [project_permission(project, [("repository", "pull")])]

    response = admin_client.put(
        f"{ROBOTS}/{body['id']}",
        json=put_body(robot, description="changed", permissions=pull_only),
    )

    updated = fetch(admin_client, body["id"])
    assert response.status_code == 200, response.text
    assert updated["description"] == "changed"
    assert updated["permissions"] == pull_only


def test_update_duration_counts_from_creation(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("long", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    created_at = int(stored_robot(database, body["id"]).created_at.timestamp())

    admin_client.put(f"{ROBOTS}/{body['id']}", json=put_body(robot, duration=90))

    updated = fetch(admin_client, body["id"])
    assert updated["duration"] == 90
    assert updated["expires_at"] == created_at + 90 * DAY


def test_update_duration_never(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("ever", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])

    admin_client.put(f"{ROBOTS}/{body['id']}", json=put_body(robot, duration=-1))

    assert fetch(admin_client, body["id"])["expires_at"] == -1


def test_update_short_name_accepted(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("short", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])

    response = admin_client.put(
        f"{ROBOTS}/{body['id']}", json=put_body(robot, name="short")
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "changes",
    [{"name": "robot$renamed"}, {"level": "project"}],
    ids=["name", "level"],
)
def test_update_name_level_immutable(
    admin_client: httpx.Client, changes: dict[str, object]
) -> None:
    body = created(
        admin_client,
        robot_body(unique("fixed"), "system", [system_permission([("user", "read")])]),
    )
    robot = fetch(admin_client, body["id"])

    response = admin_client.put(
        f"{ROBOTS}/{body['id']}", json=put_body(robot, **changes)
    )

    assert response.status_code == 400
    assert error_message(response) == "cannot update the level or name of robot"


def test_update_project_immutable(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    other, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("stay", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])

    response = admin_client.put(
        f"{ROBOTS}/{body['id']}",
        json=put_body(robot, permissions=[project_permission(other, PUSH_PULL)]),
    )

    assert response.status_code == 400
    assert error_message(response) == "cannot update the project id of robot"


def test_update_validates_permissions(admin_client: httpx.Client) -> None:
    body = created(
        admin_client,
        robot_body(unique("val"), "system", [system_permission([("user", "read")])]),
    )
    robot = fetch(admin_client, body["id"])

    response = admin_client.put(
        f"{ROBOTS}/{body['id']}", json=put_body(robot, permissions=[])
    )

    assert response.status_code == 400
    assert error_message(response) == "bad request empty permission"


def test_update_by_developer_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("guarded", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    login = new_user(registry, database, project_id, ProjectRole.DEVELOPER)
    with client_for(registry, login) as client:
        response = client.put(
            f"{ROBOTS}/{body['id']}", json=put_body(robot, description="mine")
        )

    assert response.status_code == 403


def test_update_by_project_admin(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("managed", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    login = new_user(registry, database, project_id, ProjectRole.PROJECT_ADMIN)
    with client_for(registry, login) as client:
        response = client.put(
            f"{ROBOTS}/{body['id']}", json=put_body(robot, description="admin")
        )

    assert response.status_code == 200, response.text


def test_disable_rejects_login_at_once(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("off", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    assert login_status(registry, body["name"], body["secret"]) == 200

    admin_client.put(f"{ROBOTS}/{body['id']}", json=put_body(robot, disable=True))

    assert fetch(admin_client, body["id"])["disable"] is True
    assert login_status(registry, body["name"], body["secret"]) == 401


def test_enable_again_allows_login(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body(
            "back", "project", [project_permission(project, PUSH_PULL)], disable=True
        ),
    )
    robot = fetch(admin_client, body["id"])
    assert login_status(registry, body["name"], body["secret"]) == 401

    admin_client.put(f"{ROBOTS}/{body['id']}", json=put_body(robot, disable=False))

    assert login_status(registry, body["name"], body["secret"]) == 200


def test_permission_change_applies_at_once(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("narrow", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    auth = (str(body["name"]), str(body["secret"]))
    upload = f"{registry.url}/v2/{project}/app/blobs/uploads/"
    assert httpx.post(upload, auth=auth, timeout=30).status_code == 202

    admin_client.put(
        f"{ROBOTS}/{body['id']}",
        json=put_body(
            robot, permissions=[project_permission(project, [("repository", "pull")])]
        ),
    )

    assert httpx.post(upload, auth=auth, timeout=30).status_code == 403


def test_expired_login_not_cached(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    """A remembered login must not outlive the robot's expiry time."""
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("brief", "project", [project_permission(project, PUSH_PULL)]),
    )
    expires_at = int(time.time()) + 3
    with database.session() as session:
        session.execute(
            update(RobotRow)
            .where(RobotRow.id == body["id"])
            .values(expires_at=expires_at)
        )
    assert login_status(registry, body["name"], body["secret"]) == 200

    time.sleep(max(0.0, expires_at - time.time()) + 1)

    assert login_status(registry, body["name"], body["secret"]) == 401


# Secret refresh


def test_refresh_generates_secret(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("fresh", "project", [project_permission(project, PUSH_PULL)]),
    )
    assert login_status(registry, body["name"], body["secret"]) == 200

    response = admin_client.patch(f"{ROBOTS}/{body['id']}", json={"secret": ""})

    secret = response.json()["secret"]
    assert response.status_code == 200, response.text
    assert len(secret) == 32
    assert secret != body["secret"]
    assert login_status(registry, body["name"], body["secret"]) == 401
    assert login_status(registry, body["name"], secret) == 200


def test_refresh_with_chosen_secret(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("chosen", "project", [project_permission(project, PUSH_PULL)]),
    )
    chosen = "My-Chosen-Secret-9"

    response = admin_client.patch(f"{ROBOTS}/{body['id']}", json={"secret": chosen})

    assert response.status_code == 200, response.text
    assert response.json() == {"secret": ""}
    assert login_status(registry, body["name"], chosen) == 200
    assert login_status(registry, body["name"], body["secret"]) == 401


@pytest.mark.parametrize(
    "secret",
    ["Short1", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "A1" + "a" * 127],
    ids=["short", "no-upper", "no-lower", "no-digit", "too-long"],
)
def test_refresh_weak_secret_rejected(admin_client: httpx.Client, secret: str) -> None:
    body = created(
        admin_client,
        robot_body(unique("weak"), "system", [system_permission([("user", "read")])]),
    )

    response = admin_client.patch(f"{ROBOTS}/{body['id']}", json={"secret": secret})

    assert response.status_code == 400
    assert error_message(response) == SECRET_RULE


def test_refresh_by_guest_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("kept", "project", [project_permission(project, PUSH_PULL)]),
    )
    login = new_user(registry, database, project_id, ProjectRole.GUEST)
    with client_for(registry, login) as client:
        response = client.patch(f"{ROBOTS}/{body['id']}", json={"secret": ""})

    assert response.status_code == 403
    assert login_status(registry, body["name"], body["secret"]) == 200


# Delete


def test_delete_robot(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("gone", "project", [project_permission(project, PUSH_PULL)]),
    )
    assert login_status(registry, body["name"], body["secret"]) == 200

    response = admin_client.delete(f"{ROBOTS}/{body['id']}")

    assert response.status_code == 200, response.text
    assert admin_client.get(f"{ROBOTS}/{body['id']}").status_code == 404
    assert login_status(registry, body["name"], body["secret"]) == 401


def test_delete_missing_robot(admin_client: httpx.Client) -> None:
    response = admin_client.delete(f"{ROBOTS}/987654322")

    assert response.status_code == 404


def test_delete_by_maintainer_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, project_id = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("stays", "project", [project_permission(project, PUSH_PULL)]),
    )
    login = new_user(registry, database, project_id, ProjectRole.MAINTAINER)
    with client_for(registry, login) as client:
        response = client.delete(f"{ROBOTS}/{body['id']}")

    assert response.status_code == 403


def test_project_robot_deletes_robot(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    target = created(
        admin_client,
        robot_body("target", "project", [project_permission(project, PUSH_PULL)]),
    )
    deleter = created(
        admin_client,
        robot_body(
            "deleter", "project", [project_permission(project, [("robot", "delete")])]
        ),
    )
    with client_for(registry, (str(deleter["name"]), str(deleter["secret"]))) as client:
        response = client.delete(f"{ROBOTS}/{target['id']}")

    assert response.status_code == 200, response.text


# Audit


def audit_records(database: Database, resource: object) -> list[AuditLog]:
    with database.session(read_only=True) as session:
        return list(
            session.scalars(
                select(AuditLog)
                .where(AuditLog.resource_type == "robot", AuditLog.resource == resource)
                .order_by(AuditLog.id)
            )
        )


def test_changes_audited(
    registry: RunningRegistry, admin_client: httpx.Client, database: Database
) -> None:
    project, _ = new_project(registry, database)
    body = created(
        admin_client,
        robot_body("audited", "project", [project_permission(project, PUSH_PULL)]),
    )
    robot = fetch(admin_client, body["id"])
    admin_client.put(f"{ROBOTS}/{body['id']}", json=put_body(robot, disable=True))
    refreshed = admin_client.patch(f"{ROBOTS}/{body['id']}", json={"secret": ""})
    admin_client.delete(f"{ROBOTS}/{body['id']}")

    records = audit_records(database, body["name"])

    assert [r.operation for r in records] == ["create", "update", "update", "delete"]
    assert {r.username for r in records} == {"admin"}
    assert {r.result for r in records} == {"success"}
    for record in records:
        text = f"{record.resource} {record.reason}"
        assert str(body["secret"]) not in text
        assert refreshed.json()["secret"] not in text


# API description


def test_openapi_shows_robot_shapes(anonymous_client: httpx.Client) -> None:
    schemas = anonymous_client.get("/api/v2.0/openapi.json").json()["components"][
        "schemas"
    ]

    assert set(schemas["RobotCreate"]["properties"]) == {
        "name",
        "description",
        "secret",
        "level",
        "disable",
        "duration",
        "permissions",
    }
    assert set(schemas["RobotCreated"]["properties"]) == {
        "id",
        "name",
        "secret",
        "creation_time",
        "expires_at",
    }
    assert set(schemas["RobotPermission"]["properties"]) == {
        "kind",
        "namespace",
        "access",
    }
