"""The projects API on a live server: create, list, read, update, delete, metadata."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.auth import hash_password
from seawall.db import Database
from seawall.db.models import AuditLog, Project, ProjectMember, Robot
from seawall.registry.cache import MetadataEpoch
from tests.e2e.protocol_helpers import push_image
from tests.support.seed import add_member, create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
PASSWORD = "Project-Test-1"
ROBOT_SECRET = "Robot-Secret-1"
HARBOR_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOT_EMPTY = "the project contains repositories, can not be deleted"
PROJECT_ADMIN, DEVELOPER, GUEST, MAINTAINER, LIMITED_GUEST = 1, 2, 3, 4, 5


def unique(prefix: str = "proj") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, response.text
    error: dict[str, Any] = errors[0]
    return error


def create(client: httpx.Client, name: str, **body: Any) -> int:
    """Create a project and return its id."""
    response = client.post(f"{API}/projects", json={"project_name": name, **body})
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def get(client: httpx.Client, name: str) -> dict[str, Any]:
    response = client.get(f"{API}/projects/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def names_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [project["name"] for project in response.json()]


@pytest.fixture
def user(registry: RunningRegistry) -> Iterator[tuple[int, httpx.Client]]:
    """A new user who is a member of nothing, with a logged-in client."""
    username = unique("user")
    user_id = create_user(registry, username, PASSWORD)
    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        yield user_id, client


def member_client(
    registry: RunningRegistry, project: str, role_id: int
) -> httpx.Client:
    """Return a client for a new user holding `role_id` in `project`."""
    username = unique("member")
    user_id = create_user(registry, username, PASSWORD)
    add_member(registry, project, user_id, role_id)
    return httpx.Client(base_url=registry.url, auth=(username, PASSWORD), timeout=60)


def create_robot(
    registry: RunningRegistry, name: str, project: str | None, grants: list[Any]
) -> tuple[str, str]:
    """Insert a robot account and return its login name and secret."""
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            project_id = None
            if project is not None:
                project_id = session.scalars(
                    select(Project.id).where(Project.name == project)
                ).one()
            session.add(
                Robot(
                    name=name,
                    level="project" if project else "system",
                    project_id=project_id,
                    secret_hash=hash_password(ROBOT_SECRET),
                    duration=-1,
                    expires_at=-1,
                    permissions=json.dumps(grants),
                )
            )
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir, "credential-epoch").bump()
    login = f"robot${project}+{name}" if project else f"robot${name}"
    return login, ROBOT_SECRET


def grant(kind: str, namespace: str, *pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "kind": kind,
        "namespace": namespace,
        "access": [{"resource": r, "action": a} for r, a in pairs],
    }


def audit_records(registry: RunningRegistry, resource: str) -> list[AuditLog]:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            return list(
                session.scalars(
                    select(AuditLog)
                    .where(AuditLog.resource == resource)
                    .order_by(AuditLog.id)
                )
            )
    finally:
        database.dispose()


# Creation


def test_create_returns_location_with_id(admin_client: httpx.Client) -> None:
    name = unique()
    response = admin_client.post(f"{API}/projects", json={"project_name": name})

    assert response.status_code == 201
    project_id = get(admin_client, name)["project_id"]
    assert response.headers["Location"] == f"{API}/projects/{project_id}"
    assert response.content == b""


def test_create_location_by_name(admin_client: httpx.Client) -> None:
    name = unique()
    response = admin_client.post(
        f"{API}/projects",
        json={"project_name": name},
        headers={"X-Resource-Name-In-Location": "true"},
    )

    assert response.status_code == 201
    assert response.headers["Location"] == f"{API}/projects/{name}"


def test_create_duplicate_conflict(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.post(f"{API}/projects", json={"project_name": name})

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "CONFLICT",
        "message": f"The project named {name} already exists",
    }


@pytest.mark.parametrize(
    "name", ["Upper", "a..b", "-lead", "trail-", "has space", "a/b", "ünï"]
)
def test_create_illegal_name(admin_client: httpx.Client, name: str) -> None:
    response = admin_client.post(f"{API}/projects", json={"project_name": name})

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(
        "project name is not in lower case or contains illegal characters"
    )


def test_create_empty_name(admin_client: httpx.Client) -> None:
    response = admin_client.post(f"{API}/projects", json={"project_name": ""})

    assert response.status_code == 400
    assert "is illegal in length" in error_of(response)["message"]


def test_create_name_too_long(admin_client: httpx.Client) -> None:
    response = admin_client.post(f"{API}/projects", json={"project_name": "a" * 256})

    assert response.status_code == 422


def test_create_longest_name(admin_client: httpx.Client) -> None:
    name = f"{uuid.uuid4().hex}{'a' * 223}"

    create(admin_client, name)

    assert get(admin_client, name)["name"] == name


def test_create_default_private(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    assert get(admin_client, name)["metadata"] == {"public": "false"}


def test_create_public_invalid(admin_client: httpx.Client) -> None:
    response = admin_client.post(
        f"{API}/projects",
        json={"project_name": unique(), "metadata": {"public": "yes"}},
    )

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "BAD_REQUEST",
        "message": "metadata.public should only be 'true' or 'false', but got: 'yes'",
    }


def test_create_deprecated_public(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, public=True)

    assert get(admin_client, name)["metadata"]["public"] == "true"


def test_create_metadata_public_wins(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, public=True, metadata={"public": "false"})

    assert get(admin_client, name)["metadata"]["public"] == "false"


def test_create_metadata_normalized(admin_client: httpx.Client) -> None:
    name = unique()
    metadata = {
        "public": "false",
        "auto_scan": "1",
        "prevent_vul": "TRUE",
        "severity": "High",
        "enable_content_trust": "false",
        "enable_content_trust_cosign": "t",
        "auto_sbom_generation": "False",
        "reuse_sys_cve_allowlist": "true",
    }
    create(admin_client, name, metadata=metadata)

    assert get(admin_client, name)["metadata"] == {
        "public": "false",
        "auto_scan": "true",
        "prevent_vul": "true",
        "severity": "high",
        "enable_content_trust": "false",
        "enable_content_trust_cosign": "true",
        "auto_sbom_generation": "false",
        "reuse_sys_cve_allowlist": "true",
    }


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"auto_scan": "yes"}, "metadata.auto_scan should only be 'true' or 'false'"),
        ({"severity": "urgent"}, "metadata.severity should be one of none, low"),
        ({"colour": "blue"}, "invalid metadata key 'colour'"),
        ({"retention_id": "7"}, "the retention_id in the request's payload"),
    ],
)
def test_create_metadata_rejected(
    admin_client: httpx.Client, metadata: dict[str, str], message: str
) -> None:
    response = admin_client.post(
        f"{API}/projects", json={"project_name": unique(), "metadata": metadata}
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(message)


def test_create_metadata_not_string(admin_client: httpx.Client) -> None:
    response = admin_client.post(
        f"{API}/projects",
        json={"project_name": unique(), "metadata": {"public": True}},
    )

    assert response.status_code == 422


def test_create_empty_retention_id(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, metadata={"retention_id": ""})

    assert "retention_id" not in get(admin_client, name)["metadata"]


def test_create_drops_proxy_speed(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, metadata={"proxy_speed_kb": "100"})

    assert "proxy_speed_kb" not in get(admin_client, name)["metadata"]


def test_create_allowlist_stored(admin_client: httpx.Client) -> None:
    name = unique()
    allowlist = {"items": [{"cve_id": "CVE-2019-10164"}], "expires_at": None}
    project_id = create(admin_client, name, cve_allowlist=allowlist)

    reported = get(admin_client, name)["cve_allowlist"]
    assert [item["cve_id"] for item in reported["items"]] == ["CVE-2019-10164"]
    assert reported["project_id"] == project_id


def test_create_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.post(f"{API}/projects", json={"project_name": unique()})

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"


def test_creator_is_project_admin(
    admin_client: httpx.Client, user: tuple[int, httpx.Client]
) -> None:
    user_id, client = user
    name = unique()
    create(client, name)

    project = get(client, name)
    assert project["owner_id"] == user_id
    assert project["current_user_role_id"] == PROJECT_ADMIN
    assert project["current_user_role_ids"] == [PROJECT_ADMIN]
    members = admin_client.get(f"{API}/projects/{name}/members").json()
    assert [(m["entity_id"], m["role_id"]) for m in members] == [
        (user_id, PROJECT_ADMIN)
    ]


def test_create_admin_only(
    admin_client: httpx.Client, user: tuple[int, httpx.Client]
) -> None:
    _, client = user
    setting = {"project_creation_restriction": "adminonly"}
    assert admin_client.put(f"{API}/configurations", json=setting).status_code == 200
    try:
        refused = client.post(f"{API}/projects", json={"project_name": unique()})
        allowed = admin_client.post(f"{API}/projects", json={"project_name": unique()})
    finally:
        reset = {"project_creation_restriction": "everyone"}
        admin_client.put(f"{API}/configurations", json=reset)

    assert refused.status_code == 403
    assert error_of(refused)["message"] == "Only system admin can create project"
    assert allowed.status_code == 201


def test_create_storage_limit_checked_for_admin(admin_client: httpx.Client) -> None:
    response = admin_client.post(
        f"{API}/projects", json={"project_name": unique(), "storage_limit": -5}
    )

    assert response.status_code == 400
    assert error_of(response)["message"] == "invalid non-positive value for quota limit"


def test_create_storage_limit_ignored_for_user(
    user: tuple[int, httpx.Client],
) -> None:
    _, client = user
    response = client.post(
        f"{API}/projects", json={"project_name": unique(), "storage_limit": -5}
    )

    assert response.status_code == 201


def test_create_proxy_cache_by_user(user: tuple[int, httpx.Client]) -> None:
    _, client = user
    response = client.post(
        f"{API}/projects", json={"project_name": unique(), "registry_id": 1}
    )

    assert response.status_code == 403
    assert error_of(response)["message"] == (
        "Only system admin can create proxy cache project"
    )


def test_create_proxy_cache_by_admin(admin_client: httpx.Client) -> None:
    response = admin_client.post(
        f"{API}/projects", json={"project_name": unique(), "registry_id": 1}
    )

    assert response.status_code == 400


def test_create_by_project_robot(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = unique()
    create(admin_client, project)
    login = create_robot(
        registry,
        unique("bot"),
        project,
        [grant("project", project, ("repository", "pull"))],
    )

    response = httpx.post(
        f"{registry.url}{API}/projects", json={"project_name": unique()}, auth=login
    )

    assert response.status_code == 403
    assert error_of(response)["message"] == "Only system level robot can create project"


def test_create_by_system_robot(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    login = create_robot(
        registry, unique("bot"), None, [grant("system", "/", ("project", "create"))]
    )
    name = unique()

    response = httpx.post(
        f"{registry.url}{API}/projects", json={"project_name": name}, auth=login
    )

    assert response.status_code == 201
    assert get(admin_client, name)["owner_name"] == "admin"


def test_create_by_robot_without_grant(registry: RunningRegistry) -> None:
    login = create_robot(
        registry, unique("bot"), None, [grant("project", "*", ("repository", "pull"))]
    )

    response = httpx.post(
        f"{registry.url}{API}/projects", json={"project_name": unique()}, auth=login
    )

    assert response.status_code == 403


def test_create_audited(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    records = audit_records(registry, name)
    assert [(r.operation, r.resource_type, r.result) for r in records] == [
        ("create", "project", "success")
    ]
    assert records[0].username == "admin"


# Existence check


def test_head_existing(admin_client: httpx.Client) -> None:
    response = admin_client.head(f"{API}/projects", params={"project_name": "library"})

    assert response.status_code == 200


def test_head_missing(admin_client: httpx.Client) -> None:
    response = admin_client.head(f"{API}/projects", params={"project_name": unique()})

    assert response.status_code == 404


def test_head_nul_name(admin_client: httpx.Client) -> None:
    response = admin_client.head(
        f"{API}/projects", params={"project_name": "library\x00"}
    )

    assert response.status_code == 400


def test_head_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.head(
        f"{API}/projects", params={"project_name": "library"}
    )

    assert response.status_code == 401


# Listing


def test_list_anonymous_public_only(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    private, public = unique(), unique()
    create(admin_client, private)
    create(admin_client, public, metadata={"public": "true"})

    names = names_of(anonymous_client.get(f"{API}/projects?page_size=100"))

    assert "library" in names
    assert public in names
    assert private not in names


def test_list_anonymous_private_empty(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{API}/projects", params={"public": "false"})

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert "Link" not in response.headers


def test_list_user_sees_member_projects(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    user: tuple[int, httpx.Client],
) -> None:
    user_id, client = user
    joined, other = unique(), unique()
    create(admin_client, joined)
    create(admin_client, other)
    add_member(registry, joined, user_id, GUEST)

    names = names_of(client.get(f"{API}/projects?page_size=100"))

    assert joined in names
    assert "library" in names
    assert other not in names


def test_list_user_private_filter(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    user: tuple[int, httpx.Client],
) -> None:
    user_id, client = user
    joined = unique()
    create(admin_client, joined)
    add_member(registry, joined, user_id, DEVELOPER)

    names = names_of(client.get(f"{API}/projects", params={"public": "false"}))

    assert names == [joined]


def test_list_user_roles_reported(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    user: tuple[int, httpx.Client],
) -> None:
    user_id, client = user
    joined = unique()
    create(admin_client, joined)
    add_member(registry, joined, user_id, MAINTAINER)

    listed = client.get(f"{API}/projects", params={"name": joined}).json()

    assert listed[0]["current_user_role_id"] == MAINTAINER
    assert listed[0]["current_user_role_ids"] == [MAINTAINER]


def test_list_sysadmin_sees_private(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    names = names_of(admin_client.get(f"{API}/projects", params={"name": name}))

    assert names == [name]


def test_list_name_fuzzy(admin_client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:10]
    first, second = f"fuzzy-{marker}-a", f"fuzzy-{marker}-b"
    create(admin_client, first)
    create(admin_client, second)
    create(admin_client, unique())

    names = names_of(admin_client.get(f"{API}/projects", params={"name": marker}))

    assert names == [first, second]


def test_list_name_wildcards_literal(admin_client: httpx.Client) -> None:
    names = names_of(admin_client.get(f"{API}/projects", params={"name": "%"}))

    assert names == []


def test_list_owner_filter(
    admin_client: httpx.Client, user: tuple[int, httpx.Client]
) -> None:
    _, client = user
    mine = unique()
    create(client, mine)
    owner = get(client, mine)["owner_name"]

    names = names_of(admin_client.get(f"{API}/projects", params={"owner": owner}))

    assert names == [mine]


def test_list_public_filter(admin_client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:10]
    public, private = f"pub-{marker}", f"priv-{marker}"
    create(admin_client, public, metadata={"public": "true"})
    create(admin_client, private)

    listed = admin_client.get(
        f"{API}/projects", params={"name": marker, "public": "true"}
    )

    assert names_of(listed) == [public]


def test_list_paged(admin_client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:10]
    for index in range(3):
        create(admin_client, f"page-{marker}-{index}")

    response = admin_client.get(
        f"{API}/projects", params={"name": marker, "page": 2, "page_size": 1}
    )

    assert names_of(response) == [f"page-{marker}-1"]
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="prev"' in response.headers["Link"]
    assert 'rel="next"' in response.headers["Link"]


def test_list_query_and_sort(admin_client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:10]
    for suffix in ("a", "b", "c"):
        create(admin_client, f"sort-{marker}-{suffix}")

    response = admin_client.get(
        f"{API}/projects", params={"q": f"name=~{marker}", "sort": "-name"}
    )

    assert names_of(response) == [f"sort-{marker}-{s}" for s in ("c", "b", "a")]


def test_list_query_public_term(admin_client: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:10]
    create(admin_client, f"qpub-{marker}", metadata={"public": "true"})
    create(admin_client, f"qpriv-{marker}")

    response = admin_client.get(
        f"{API}/projects", params={"q": f"name=~{marker},public=false"}
    )

    assert names_of(response) == [f"qpriv-{marker}"]


def test_list_bad_query_key(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{API}/projects", params={"q": "colour=blue"})

    assert response.status_code == 400


def test_list_name_case_insensitive(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    listed = admin_client.get(f"{API}/projects", params={"name": name.upper()})

    assert names_of(listed) == [name]


@pytest.mark.parametrize("parameter", ["name", "owner"])
def test_list_nul_filter_rejected(admin_client: httpx.Client, parameter: str) -> None:
    response = admin_client.get(f"{API}/projects", params={parameter: "lib\x00"})

    assert response.status_code == 400


def test_list_query_nul(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{API}/projects", params={"q": "name=lib\x00"})

    assert response.status_code == 400


def test_list_query_id_out_of_range(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{API}/projects", params={"q": f"project_id={2**40}"})

    assert response.status_code == 400
    assert "out of range" in error_of(response)["message"]


def test_list_without_detail(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    listed = admin_client.get(
        f"{API}/projects", params={"name": name, "with_detail": "false"}
    ).json()

    assert "owner_name" not in listed[0]
    assert "cve_allowlist" not in listed[0]
    assert listed[0]["metadata"] == {"public": "false"}


def test_list_robot_sees_granted(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    granted, other = unique(), unique()
    create(admin_client, granted)
    create(admin_client, other)
    login = create_robot(
        registry,
        unique("bot"),
        None,
        [grant("project", granted, ("repository", "pull"))],
    )

    response = httpx.get(f"{registry.url}{API}/projects?page_size=100", auth=login)

    names = names_of(response)
    assert granted in names
    assert "library" in names
    assert other not in names


def test_list_robot_cover_all(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    private = unique()
    create(admin_client, private)
    login = create_robot(
        registry, unique("bot"), None, [grant("project", "*", ("repository", "pull"))]
    )

    response = httpx.get(
        f"{registry.url}{API}/projects", params={"name": private}, auth=login
    )

    assert names_of(response) == [private]


# Reading one project


def test_get_shape(admin_client: httpx.Client) -> None:
    name = unique()
    project_id = create(admin_client, name, metadata={"severity": "low"})

    project = admin_client.get(f"{API}/projects/{project_id}").json()

    assert project["project_id"] == project_id
    assert project["name"] == name
    assert project["owner_name"] == "admin"
    assert project["repo_count"] == 0
    assert project["deleted"] is False
    assert project["metadata"] == {"public": "false", "severity": "low"}
    assert project["current_user_role_ids"] == [PROJECT_ADMIN]
    assert HARBOR_TIME.match(project["creation_time"])
    assert HARBOR_TIME.match(project["update_time"])
    assert project["cve_allowlist"]["items"] == []


def test_get_repo_count(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)
    push_image(admin_client, f"{name}/app", "1.0")
    push_image(admin_client, f"{name}/web", "1.0")

    assert get(admin_client, name)["repo_count"] == 2


def test_get_numeric_name_needs_header(admin_client: httpx.Client) -> None:
    name = str(uuid.uuid4().int)[:12]
    create(admin_client, name)

    by_name = admin_client.get(
        f"{API}/projects/{name}", headers={"X-Is-Resource-Name": "true"}
    )
    as_id = admin_client.get(f"{API}/projects/{name}")

    assert by_name.status_code == 200
    assert by_name.json()["name"] == name
    assert as_id.status_code == 404


def test_get_id_out_of_range(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{API}/projects/{2**40}")

    assert response.status_code == 404


def test_get_private_anonymous(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name)

    response = anonymous_client.get(f"{API}/projects/{name}")

    assert response.status_code == 401


def test_get_private_outsider(
    admin_client: httpx.Client, user: tuple[int, httpx.Client]
) -> None:
    _, client = user
    name = unique()
    create(admin_client, name)

    response = client.get(f"{API}/projects/{name}")

    assert response.status_code == 403


def test_get_public_anonymous(anonymous_client: httpx.Client) -> None:
    project = get(anonymous_client, "library")

    assert project["metadata"]["public"] == "true"
    assert "current_user_role_id" not in project


def test_get_missing(
    admin_client: httpx.Client, user: tuple[int, httpx.Client]
) -> None:
    _, client = user
    name = unique()

    assert admin_client.get(f"{API}/projects/{name}").status_code == 404
    assert client.get(f"{API}/projects/{name}").status_code == 403


# Updating


def test_update_merges_metadata(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, metadata={"public": "false", "severity": "low"})

    response = admin_client.put(
        f"{API}/projects/{name}", json={"metadata": {"auto_scan": "true"}}
    )

    assert response.status_code == 200
    assert response.content == b""
    assert get(admin_client, name)["metadata"] == {
        "public": "false",
        "severity": "low",
        "auto_scan": "true",
    }


def test_update_replaces_value(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, metadata={"severity": "low"})

    admin_client.put(f"{API}/projects/{name}", json={"metadata": {"severity": "HIGH"}})

    assert get(admin_client, name)["metadata"]["severity"] == "high"


def test_update_public_applies_at_once(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name)
    assert anonymous_client.get(f"{API}/projects/{name}").status_code == 401

    admin_client.put(f"{API}/projects/{name}", json={"metadata": {"public": "true"}})

    assert anonymous_client.get(f"{API}/projects/{name}").status_code == 200


def test_update_ignores_name(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.put(
        f"{API}/projects/{name}", json={"project_name": unique()}
    )

    assert response.status_code == 200
    assert get(admin_client, name)["name"] == name


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metadata": {"public": "1"}}, "metadata.public should only be"),
        ({"metadata": {"retention_id": "3"}}, "the retention_id in the request's"),
        ({"metadata": {"colour": "red"}}, "invalid metadata key 'colour'"),
        ({"cve_allowlist": {"project_id": 999999}}, "project_id in cve_allowlist"),
    ],
)
def test_update_rejected(
    admin_client: httpx.Client, body: dict[str, Any], message: str
) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.put(f"{API}/projects/{name}", json=body)

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(message)


def test_update_by_role(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)
    body = {"metadata": {"auto_scan": "true"}}
    expected = {PROJECT_ADMIN: 200, MAINTAINER: 403, DEVELOPER: 403, GUEST: 403}

    for role_id, status in expected.items():
        with member_client(registry, name, role_id) as client:
            response = client.put(f"{API}/projects/{name}", json=body)
            assert response.status_code == status, role_id


# Deleting


def test_delete_empty(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.delete(f"{API}/projects/{name}")

    assert response.status_code == 200
    assert admin_client.get(f"{API}/projects/{name}").status_code == 404
    head = admin_client.head(f"{API}/projects", params={"project_name": name})
    assert head.status_code == 404


def test_delete_name_reusable(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)
    admin_client.delete(f"{API}/projects/{name}")

    create(admin_client, name)

    assert get(admin_client, name)["name"] == name


def test_delete_not_empty(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)
    push_image(admin_client, f"{name}/app", "1.0")

    response = admin_client.delete(f"{API}/projects/{name}")

    assert response.status_code == 412
    assert error_of(response) == {"code": "PRECONDITION", "message": NOT_EMPTY}


def test_deletable_reports(admin_client: httpx.Client) -> None:
    empty, full = unique(), unique()
    create(admin_client, empty)
    create(admin_client, full)
    push_image(admin_client, f"{full}/app", "1.0")

    assert admin_client.get(f"{API}/projects/{empty}/_deletable").json() == {
        "deletable": True
    }
    assert admin_client.get(f"{API}/projects/{full}/_deletable").json() == {
        "deletable": False,
        "message": NOT_EMPTY,
    }


def test_delete_removes_robots_and_members(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    project_id = create(admin_client, name)
    login = create_robot(
        registry, unique("bot"), name, [grant("project", name, ("project", "read"))]
    )
    assert httpx.get(f"{registry.url}{API}/projects/{name}", auth=login).is_success

    admin_client.delete(f"{API}/projects/{name}")

    after = httpx.get(f"{registry.url}{API}/projects/{name}", auth=login)
    assert after.status_code == 401
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            members = session.scalars(
                select(ProjectMember).where(ProjectMember.project_id == project_id)
            ).all()
            robots = session.scalars(
                select(Robot).where(Robot.project_id == project_id)
            ).all()
    finally:
        database.dispose()
    assert members == []
    assert robots == []


def test_delete_by_developer(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name)

    with member_client(registry, name, DEVELOPER) as client:
        response = client.delete(f"{API}/projects/{name}")

    assert response.status_code == 403


# Summary


def test_summary_counts(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)
    push_image(admin_client, f"{name}/app", "1.0")
    member_client(registry, name, GUEST).close()
    member_client(registry, name, GUEST).close()

    summary = admin_client.get(f"{API}/projects/{name}/summary").json()

    assert summary == {
        "repo_count": 1,
        "project_admin_count": 1,
        "maintainer_count": 0,
        "developer_count": 0,
        "guest_count": 2,
        "limited_guest_count": 0,
    }


def test_summary_without_member_list(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name)

    with member_client(registry, name, LIMITED_GUEST) as client:
        summary = client.get(f"{API}/projects/{name}/summary").json()

    assert summary == {"repo_count": 0}


# Per-key metadata


def test_metadata_list(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, metadata={"auto_scan": "true"})

    response = admin_client.get(f"{API}/projects/{name}/metadatas/")

    assert response.json() == {"public": "false", "auto_scan": "true"}


def test_metadata_add(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.post(
        f"{API}/projects/{name}/metadatas/", json={"severity": "Critical"}
    )

    assert response.status_code == 200
    assert admin_client.get(f"{API}/projects/{name}/metadatas/severity").json() == {
        "severity": "critical"
    }


def test_metadata_add_existing(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.post(
        f"{API}/projects/{name}/metadatas/", json={"public": "true"}
    )

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"auto_scan": "true", "prevent_vul": "true"}, "the request body must contain"),
        ({}, "the request body must contain exactly one"),
        ({"retention_id": "1"}, "invalid metadata key 'retention_id'"),
        ({"auto_scan": "maybe"}, "metadata.auto_scan should only be"),
        ({"severity": "urgent"}, "metadata.severity should be one of"),
    ],
)
def test_metadata_add_rejected(
    admin_client: httpx.Client, body: dict[str, str], message: str
) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.post(f"{API}/projects/{name}/metadatas/", json=body)

    assert response.status_code == 400
    assert error_of(response)["message"].startswith(message)


def test_metadata_get_missing(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.get(f"{API}/projects/{name}/metadatas/auto_scan")

    assert response.status_code == 404


def test_metadata_update(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.put(
        f"{API}/projects/{name}/metadatas/public", json={"public": "1"}
    )

    assert response.status_code == 200
    assert get(admin_client, name)["metadata"]["public"] == "true"


def test_metadata_update_key_missing(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name)

    response = admin_client.put(
        f"{API}/projects/{name}/metadatas/public", json={"auto_scan": "true"}
    )

    assert response.status_code == 400


def test_metadata_delete(admin_client: httpx.Client) -> None:
    name = unique()
    create(admin_client, name, metadata={"auto_scan": "true"})

    response = admin_client.delete(f"{API}/projects/{name}/metadatas/auto_scan")

    assert response.status_code == 200
    assert "auto_scan" not in get(admin_client, name)["metadata"]
    again = admin_client.delete(f"{API}/projects/{name}/metadatas/auto_scan")
    assert again.status_code == 404


def test_metadata_public_applies_at_once(
    admin_client: httpx.Client, anonymous_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name, metadata={"public": "true"})
    assert anonymous_client.get(f"{API}/projects/{name}").status_code == 200

    admin_client.delete(f"{API}/projects/{name}/metadatas/public")

    assert anonymous_client.get(f"{API}/projects/{name}").status_code == 401


def test_metadata_by_role(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name)
    path = f"{API}/projects/{name}/metadatas"
    expected = {
        MAINTAINER: {"read": 200, "list": 403, "update": 403},
        GUEST: {"read": 403, "list": 403, "update": 403},
        PROJECT_ADMIN: {"read": 200, "list": 200, "update": 200},
    }

    for role_id, outcome in expected.items():
        with member_client(registry, name, role_id) as client:
            read = client.get(f"{path}/public")
            listed = client.get(f"{path}/")
            update = client.put(f"{path}/auto_scan", json={"auto_scan": "true"})
        assert read.status_code == outcome["read"], role_id
        assert listed.status_code == outcome["list"], role_id
        assert update.status_code == outcome["update"], role_id


def test_metadata_audited(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create(admin_client, name)

    admin_client.put(f"{API}/projects/{name}/metadatas/public", json={"public": "true"})

    records = audit_records(registry, f"{name}/public")
    assert [(r.operation, r.resource_type) for r in records] == [
        ("update", "project-metadata")
    ]
