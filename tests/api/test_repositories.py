"""Repository routes of `/api/v2.0`, checked against repositories pushed on `/v2/`.

Every test creates its own project, because one registry process serves
the whole session. Nested repository names travel URL-encoded twice, as
Harbor's clients send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.e2e.protocol_helpers import push_image
from tests.support.seed import add_member, create_project, create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
DEVELOPER = 2
MAINTAINER = 4
GUEST = 3


def unique(prefix: str = "repo") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def repository_path(project: str, repository: str) -> str:
    """Return the API path of `project/repository`, the name encoded twice."""
    encoded = quote(quote(repository, safe=""), safe="")
    return f"{API}/projects/{project}/repositories/{encoded}"


def new_project(registry: RunningRegistry, *, public: bool = False) -> str:
    name = unique("proj")
    create_project(registry, name, public=public)
    return name


def member_client(
    registry: RunningRegistry, project: str, role_id: int
) -> httpx.Client:
    """Return a client logged in as a new user holding `role_id` in `project`."""
    username = unique("user")
    password = "Member-Pass-1"
    user_id = create_user(registry, username, password)
    add_member(registry, project, user_id, role_id)
    return httpx.Client(base_url=registry.url, auth=(username, password), timeout=60)


def audit_records(registry: RunningRegistry, resource: str) -> list[AuditLog]:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            return list(
                session.scalars(select(AuditLog).where(AuditLog.resource == resource))
            )
    finally:
        database.dispose()


def names_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()]


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


@pytest.fixture
def guest_client(registry: RunningRegistry) -> Iterator[tuple[str, httpx.Client]]:
    project = new_project(registry)
    with member_client(registry, project, GUEST) as client:
        yield project, client


def test_project_list_names(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")
    push_image(admin_client, f"{project}/team/app")

    response = admin_client.get(f"{API}/projects/{project}/repositories")

    assert sorted(names_of(response)) == [f"{project}/app", f"{project}/team/app"]
    assert response.headers["X-Total-Count"] == "2"


def test_project_list_shape(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    push_image(admin_client, f"{project}/app", "2.0")

    item = admin_client.get(f"{API}/projects/{project}/repositories").json()[0]

    assert set(item) == {
        "id",
        "project_id",
        "name",
        "description",
        "artifact_count",
        "pull_count",
        "creation_time",
        "update_time",
    }
    assert item["artifact_count"] == 2
    assert item["pull_count"] == 0
    assert item["description"] == ""
    assert item["creation_time"].endswith("Z")


def test_project_id_matches_projects(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")
    other = new_project(registry)
    push_image(admin_client, f"{other}/app")

    first = admin_client.get(f"{API}/projects/{project}/repositories").json()[0]
    second = admin_client.get(f"{API}/projects/{other}/repositories").json()[0]

    assert first["project_id"] != second["project_id"]
    assert first["name"] == f"{project}/app"


def test_get_nested_double_encoded(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/team/app")

    response = admin_client.get(repository_path(project, "team/app"))

    assert response.status_code == 200, response.text
    assert response.json()["name"] == f"{project}/team/app"
    assert response.json()["artifact_count"] == 1


def test_get_single_encoded_not_found(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/team/app")

    response = admin_client.get(f"{API}/projects/{project}/repositories/team%2Fapp")

    assert response.status_code == 404


def test_get_missing_repository(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)

    response = admin_client.get(repository_path(project, "absent"))

    assert response.status_code == 404
    assert error_code(response) == "NOT_FOUND"


def test_get_invalid_name(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)

    response = admin_client.get(repository_path(project, "Upper/Case"))

    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


def test_get_other_project_repository(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    owner = new_project(registry)
    push_image(admin_client, f"{owner}/app")
    other = new_project(registry)

    response = admin_client.get(repository_path(other, "app"))

    assert response.status_code == 404


def test_numeric_project_is_name(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    # `project_name` is always a name, so digits do not select a project by id.
    name = str(uuid.uuid4().int)[:12]
    create_project(registry, name, public=False)
    push_image(admin_client, f"{name}/app")

    response = admin_client.get(f"{API}/projects/{name}/repositories")

    assert names_of(response) == [f"{name}/app"]


def test_paging_headers(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    for name in ("a", "b", "c"):
        push_image(admin_client, f"{project}/{name}")
    path = f"{API}/projects/{project}/repositories"

    first = admin_client.get(path, params={"page_size": 2, "sort": "name"})
    second = admin_client.get(path, params={"page": 2, "page_size": 2, "sort": "name"})

    assert names_of(first) == [f"{project}/a", f"{project}/b"]
    assert first.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in first.headers["Link"]
    assert "page=2" in first.headers["Link"]
    assert names_of(second) == [f"{project}/c"]
    assert 'rel="prev"' in second.headers["Link"]
    assert 'rel="next"' not in second.headers["Link"]


def test_default_order_newest_first(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    for name in ("first", "second", "third"):
        push_image(admin_client, f"{project}/{name}")

    response = admin_client.get(f"{API}/projects/{project}/repositories")

    assert names_of(response) == [
        f"{project}/third",
        f"{project}/second",
        f"{project}/first",
    ]


def test_sort_descending_name(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    for name in ("b", "c", "a"):
        push_image(admin_client, f"{project}/{name}")

    response = admin_client.get(
        f"{API}/projects/{project}/repositories", params={"sort": "-name"}
    )

    assert names_of(response) == [f"{project}/c", f"{project}/b", f"{project}/a"]


def test_query_fuzzy_name(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/frontend")
    push_image(admin_client, f"{project}/backend")

    response = admin_client.get(
        f"{API}/projects/{project}/repositories", params={"q": "name=~front"}
    )

    assert names_of(response) == [f"{project}/frontend"]


def test_query_time_range(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")
    path = f"{API}/projects/{project}/repositories"

    since = admin_client.get(path, params={"q": "creation_time=[2000-01-01 00:00:00~]"})
    before = admin_client.get(
        path, params={"q": "creation_time=[~2000-01-01 00:00:00]"}
    )

    assert names_of(since) == [f"{project}/app"]
    assert names_of(before) == []


@pytest.mark.parametrize(
    "query",
    [
        "name",
        "unknown=1",
        "creation_time=[yesterday~]",
        "creation_time=~2024",
        "id=\u00b2",
        "id=--5",
        "id=\u0663",
        "id=" + "9" * 40,
    ],
)
def test_query_invalid(
    registry: RunningRegistry, admin_client: httpx.Client, query: str
) -> None:
    project = new_project(registry)

    response = admin_client.get(
        f"{API}/projects/{project}/repositories", params={"q": query}
    )

    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


def test_sort_invalid(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)

    response = admin_client.get(
        f"{API}/projects/{project}/repositories", params={"sort": "password"}
    )

    assert response.status_code == 400


def test_private_list_anonymous(
    registry: RunningRegistry, anonymous_client: httpx.Client
) -> None:
    project = new_project(registry)

    response = anonymous_client.get(f"{API}/projects/{project}/repositories")

    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"


def test_private_list_non_member(registry: RunningRegistry) -> None:
    project = new_project(registry)
    outsider_project = new_project(registry)

    with member_client(registry, outsider_project, GUEST) as client:
        response = client.get(f"{API}/projects/{project}/repositories")

    assert response.status_code == 403
    assert error_code(response) == "FORBIDDEN"


def test_private_list_guest(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    guest_client: tuple[str, httpx.Client],
) -> None:
    project, client = guest_client
    push_image(admin_client, f"{project}/app")

    response = client.get(f"{API}/projects/{project}/repositories")

    assert names_of(response) == [f"{project}/app"]


def test_public_list_anonymous(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    project = new_project(registry, public=True)
    push_image(admin_client, f"{project}/team/app")

    listed = anonymous_client.get(f"{API}/projects/{project}/repositories")
    single = anonymous_client.get(repository_path(project, "team/app"))

    assert names_of(listed) == [f"{project}/team/app"]
    assert single.status_code == 200


def test_missing_project_admin(admin_client: httpx.Client) -> None:
    response = admin_client.get(f"{API}/projects/{unique('absent')}/repositories")

    assert response.status_code == 404


def test_all_anonymous_public_only(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    anonymous_client: httpx.Client,
) -> None:
    public = new_project(registry, public=True)
    private = new_project(registry)
    push_image(admin_client, f"{public}/app")
    push_image(admin_client, f"{private}/app")

    response = anonymous_client.get(
        f"{API}/repositories", params={"q": f"name=~{public[5:]}", "page_size": 100}
    )
    hidden = anonymous_client.get(
        f"{API}/repositories", params={"q": f"name=~{private[5:]}"}
    )

    assert names_of(response) == [f"{public}/app"]
    assert names_of(hidden) == []
    assert hidden.headers["X-Total-Count"] == "0"


def test_all_member_sees_own(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    guest_client: tuple[str, httpx.Client],
) -> None:
    project, client = guest_client
    other = new_project(registry)
    push_image(admin_client, f"{project}/mine")
    push_image(admin_client, f"{other}/theirs")

    own = client.get(f"{API}/repositories", params={"q": f"name=~{project}"})
    foreign = client.get(f"{API}/repositories", params={"q": f"name=~{other}"})

    assert names_of(own) == [f"{project}/mine"]
    assert names_of(foreign) == []


def test_all_admin_sees_private(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")

    response = admin_client.get(f"{API}/repositories", params={"q": f"name=~{project}"})

    assert names_of(response) == [f"{project}/app"]
    assert response.json()[0]["artifact_count"] == 1


def test_update_empty_description(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")

    response = admin_client.put(
        repository_path(project, "app"), json={"description": ""}
    )

    assert response.status_code == 200


def test_update_description_stored(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")

    response = admin_client.put(
        repository_path(project, "app"), json={"description": "our app"}
    )
    stored = admin_client.get(repository_path(project, "app"))

    assert response.status_code == 200
    assert stored.json()["description"] == "our app"


def test_update_guest_forbidden(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    guest_client: tuple[str, httpx.Client],
) -> None:
    project, client = guest_client
    push_image(admin_client, f"{project}/app")

    response = client.put(repository_path(project, "app"), json={"description": ""})

    assert response.status_code == 403


def test_delete_repository(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    manifest = push_image(admin_client, f"{project}/team/app", "1.0")
    config_digest = manifest.document["config"]["digest"]

    response = admin_client.delete(repository_path(project, "team/app"))

    assert response.status_code == 200, response.text
    assert admin_client.get(repository_path(project, "team/app")).status_code == 404
    tags = admin_client.get(f"/v2/{project}/team/app/tags/list")
    assert tags.status_code == 404
    pulled = admin_client.get(f"/v2/{project}/team/app/manifests/{manifest.digest}")
    assert pulled.status_code == 404
    algorithm, _, hex_digest = config_digest.partition(":")
    blob_file = registry.data_dir / "blobs" / algorithm / hex_digest[:2] / hex_digest
    assert blob_file.is_file()


def test_delete_repository_push_again(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app", "1.0")
    admin_client.delete(repository_path(project, "app"))

    manifest = push_image(admin_client, f"{project}/app", "1.0")

    response = admin_client.get(f"/v2/{project}/app/manifests/1.0")
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == manifest.digest


def test_delete_repository_audited(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")

    admin_client.delete(repository_path(project, "app"))

    records = audit_records(registry, f"{project}/app")
    assert [(r.operation, r.resource_type, r.result) for r in records] == [
        ("delete", "repository", "success")
    ]
    assert records[0].username == "admin"


def test_delete_developer_forbidden(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")

    with member_client(registry, project, DEVELOPER) as client:
        response = client.delete(repository_path(project, "app"))

    assert response.status_code == 403
    assert admin_client.get(repository_path(project, "app")).status_code == 200


def test_delete_maintainer_allowed(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    push_image(admin_client, f"{project}/app")

    with member_client(registry, project, MAINTAINER) as client:
        response = client.delete(repository_path(project, "app"))

    assert response.status_code == 200


def test_delete_missing_repository(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)

    response = admin_client.delete(repository_path(project, "absent"))

    assert response.status_code == 404


def test_openapi_repository_shape(admin_client: httpx.Client) -> None:
    document = admin_client.get(f"{API}/openapi.json").json()

    properties = document["components"]["schemas"]["Repository"]["properties"]

    assert "artifact_count" in properties
    assert "pull_count" in properties
