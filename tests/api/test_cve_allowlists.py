"""CVE allowlists on a live server: the system list, project lists, and which applies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog, Project
from seawall.registry.cache import MetadataEpoch
from seawall.scan.allowlists import Allowlist, effective_allowlist
from tests.support.seed import add_member, create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
SYSTEM = f"{API}/system/CVEAllowlist"
PASSWORD = "Allowlist-Test-1"
HARBOR_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MAINTAINER = 4


def unique(prefix: str = "allow") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, response.text
    error: dict[str, Any] = errors[0]
    return error


def create_project(client: httpx.Client, name: str, **body: Any) -> int:
    response = client.post(f"{API}/projects", json={"project_name": name, **body})
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def project_allowlist(client: httpx.Client, name: str) -> dict[str, Any]:
    response = client.get(f"{API}/projects/{name}")
    assert response.status_code == 200, response.text
    allowlist: dict[str, Any] = response.json()["cve_allowlist"]
    return allowlist


def put_system(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.put(SYSTEM, json=body)
    assert response.status_code == 200, response.text


def effective(registry: RunningRegistry, project: str) -> Allowlist:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            row = session.scalars(select(Project).where(Project.name == project)).one()
            return effective_allowlist(session, row)
    finally:
        database.dispose()


def audit_records(registry: RunningRegistry, resource: str) -> list[AuditLog]:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            statement = (
                select(AuditLog)
                .where(
                    AuditLog.resource == resource,
                    AuditLog.resource_type == "cve-allowlist",
                )
                .order_by(AuditLog.id)
            )
            return list(session.scalars(statement))
    finally:
        database.dispose()


@pytest.fixture
def system_list(admin_client: httpx.Client) -> Iterator[None]:
    """Restore the system list after a test, since the server is shared."""
    before = admin_client.get(SYSTEM).json()
    yield
    put_system(
        admin_client,
        {"expires_at": before.get("expires_at"), "items": before["items"]},
    )


@pytest.fixture
def user_client(registry: RunningRegistry) -> Iterator[httpx.Client]:
    username = unique("user")
    create_user(registry, username, PASSWORD)
    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        yield client


# System list: reading and permissions


def test_system_get_shape(user_client: httpx.Client) -> None:
    response = user_client.get(SYSTEM)

    assert response.status_code == 200
    body = response.json()
    assert body["project_id"] == 0
    assert isinstance(body["items"], list)


def test_system_get_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(SYSTEM)

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"


def test_system_put_anonymous(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.put(SYSTEM, json={"items": []})

    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"


def test_system_put_non_admin(
    user_client: httpx.Client, admin_client: httpx.Client, system_list: None
) -> None:
    before = admin_client.get(SYSTEM).json()

    response = user_client.put(SYSTEM, json={"items": [{"cve_id": "CVE-2000-1"}]})

    assert response.status_code == 403
    assert error_of(response)["code"] == "FORBIDDEN"
    assert admin_client.get(SYSTEM).json()["items"] == before["items"]


# System list: storing


def test_system_put_round_trip(admin_client: httpx.Client, system_list: None) -> None:
    body = {
        "expires_at": 4_102_444_800,
        "items": [
            {"cve_id": "CVE-2021-44228"},
            {
                "cve_id": "GHSA-jfh8-c2jp-5v3q",
                "expires_at": 4_000_000_000,
                "reason": "the JNDI lookup is disabled in our build",
            },
        ],
    }
    put_system(admin_client, body)

    stored = admin_client.get(SYSTEM).json()

    assert stored["project_id"] == 0
    assert stored["expires_at"] == 4_102_444_800
    assert stored["items"] == [
        {"cve_id": "CVE-2021-44228"},
        {
            "cve_id": "GHSA-jfh8-c2jp-5v3q",
            "expires_at": 4_000_000_000,
            "reason": "the JNDI lookup is disabled in our build",
        },
    ]
    assert stored["id"] > 0
    assert HARBOR_TIME.match(stored["creation_time"])
    assert HARBOR_TIME.match(stored["update_time"])


def test_system_put_replaces(admin_client: httpx.Client, system_list: None) -> None:
    put_system(
        admin_client,
        {
            "expires_at": 4_102_444_800,
            "items": [{"cve_id": "CVE-1"}, {"cve_id": "CVE-2"}],
        },
    )
    put_system(admin_client, {"items": [{"cve_id": "CVE-3"}]})

    stored = admin_client.get(SYSTEM).json()

    assert stored["items"] == [{"cve_id": "CVE-3"}]
    assert "expires_at" not in stored


def test_system_put_trims_ids(admin_client: httpx.Client, system_list: None) -> None:
    put_system(admin_client, {"items": [{"cve_id": "  CVE-2020-1  "}]})

    assert admin_client.get(SYSTEM).json()["items"] == [{"cve_id": "CVE-2020-1"}]


def test_system_put_null_items(admin_client: httpx.Client, system_list: None) -> None:
    put_system(admin_client, {"items": [{"cve_id": "CVE-2020-1"}]})
    put_system(admin_client, {"items": None})

    assert admin_client.get(SYSTEM).json()["items"] == []


def test_system_put_ignores_id(admin_client: httpx.Client, system_list: None) -> None:
    put_system(admin_client, {"id": 99999, "project_id": 0, "items": []})

    assert admin_client.get(SYSTEM).json()["id"] != 99999


def test_system_put_audited(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    before = len(audit_records(registry, "system"))

    put_system(admin_client, {"items": [{"cve_id": "CVE-2024-3094"}]})

    records = audit_records(registry, "system")
    assert len(records) == before + 1
    assert records[-1].operation == "update"
    assert records[-1].username == "admin"
    assert "CVE-2024-3094" in records[-1].reason


def test_system_put_bumps_epoch(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    epoch = MetadataEpoch(registry.data_dir)
    before = epoch.current()

    put_system(admin_client, {"items": [{"cve_id": "CVE-2024-3094"}]})

    assert epoch.current() != before


# System list: rejected bodies


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [{"cve_id": "CVE-2019-10164"}, {"cve_id": "CVE-2019-10164"}],
            "duplicate CVE ID in allowlist: CVE-2019-10164",
        ),
        (
            [{"cve_id": "CVE-2019-10164"}, {"cve_id": "cve-2019-10164"}],
            "duplicate CVE ID in allowlist: cve-2019-10164",
        ),
        ([{"cve_id": "  "}], "empty CVE ID in allowlist at items[0]"),
        ([{"cve_id": "CVE-1"}, {}], "empty CVE ID in allowlist at items[1]"),
        ([{"cve_id": "C" * 256}], "CVE ID at items[0] is longer than 255"),
        ([{"cve_id": "CVE-1\t2"}], "CVE ID at items[0] contains a control"),
        (
            [{"cve_id": "CVE-1", "reason": "r" * 1025}],
            "reason of CVE-1 is longer than 1024 characters",
        ),
        (
            [{"cve_id": "CVE-1", "expires_at": 2**63}],
            f"items[0].expires_at {2**63} is out of range",
        ),
    ],
)
def test_system_put_rejected(
    admin_client: httpx.Client, system_list: None, items: Any, message: str
) -> None:
    response = admin_client.put(SYSTEM, json={"items": items})

    assert response.status_code == 400
    assert error_of(response)["code"] == "BAD_REQUEST"
    assert error_of(response)["message"].startswith(message)


def test_system_put_reason_at_limit(
    admin_client: httpx.Client, system_list: None
) -> None:
    reason = "r" * 1024
    put_system(admin_client, {"items": [{"cve_id": "CVE-1", "reason": reason}]})

    assert admin_client.get(SYSTEM).json()["items"][0]["reason"] == reason


def test_system_put_other_project_id(
    admin_client: httpx.Client, system_list: None
) -> None:
    response = admin_client.put(SYSTEM, json={"project_id": 3, "items": []})

    assert response.status_code == 400
    assert (
        "project_id of the system CVE allowlist must be 0"
        in (error_of(response)["message"])
    )


@pytest.mark.parametrize(
    "body",
    [
        {"items": "CVE-1"},
        {"items": [{"cve_id": 5}]},
        {"items": [{"cve_id": "CVE-1", "expires_at": "tomorrow"}]},
        {"items": [{"cve_id": "CVE-1", "expires_at": 1.5}]},
        {"items": [{"cve_id": "CVE-1", "reason": ["a"]}]},
        {"expires_at": "never", "items": []},
        {"expires_at": True, "items": []},
        ["CVE-1"],
    ],
)
def test_system_put_wrong_types(
    admin_client: httpx.Client, system_list: None, body: Any
) -> None:
    before = admin_client.get(SYSTEM).json()

    response = admin_client.put(SYSTEM, json=body)

    assert response.status_code == 422
    assert error_of(response)["code"] == "UNPROCESSABLE_ENTITY"
    assert admin_client.get(SYSTEM).json()["items"] == before["items"]


def test_system_put_invalid_json(admin_client: httpx.Client, system_list: None) -> None:
    response = admin_client.put(
        SYSTEM, content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert error_of(response)["code"] == "UNPROCESSABLE_ENTITY"


# Project lists


def test_project_create_stores_allowlist(admin_client: httpx.Client) -> None:
    name = unique()
    allowlist = {
        "expires_at": 4_102_444_800,
        "items": [
            {"cve_id": "CVE-2019-10164"},
            {"cve_id": "PYSEC-2023-1", "expires_at": 4_000_000_000, "reason": "dev"},
        ],
    }
    project_id = create_project(admin_client, name, cve_allowlist=allowlist)

    stored = project_allowlist(admin_client, name)

    assert stored["project_id"] == project_id
    assert stored["expires_at"] == 4_102_444_800
    assert stored["items"] == allowlist["items"]
    assert stored["id"] > 0
    assert HARBOR_TIME.match(stored["creation_time"])


def test_project_create_ignores_project_id(admin_client: httpx.Client) -> None:
    name = unique()
    allowlist = {"project_id": 424242, "items": [{"cve_id": "CVE-1"}]}
    project_id = create_project(admin_client, name, cve_allowlist=allowlist)

    assert project_allowlist(admin_client, name)["project_id"] == project_id


def test_project_create_duplicate_rejected(admin_client: httpx.Client) -> None:
    name = unique()
    items = [{"cve_id": "CVE-2019-10164"}, {"cve_id": "CVE-2019-10164"}]

    response = admin_client.post(
        f"{API}/projects",
        json={"project_name": name, "cve_allowlist": {"items": items}},
    )

    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "duplicate CVE ID in allowlist: CVE-2019-10164"
    )
    assert admin_client.get(f"{API}/projects/{name}").status_code == 404


def test_project_create_wrong_type(admin_client: httpx.Client) -> None:
    response = admin_client.post(
        f"{API}/projects",
        json={"project_name": unique(), "cve_allowlist": {"expires_at": "soon"}},
    )

    assert response.status_code == 422
    assert error_of(response)["code"] == "UNPROCESSABLE_ENTITY"


def test_project_without_list_reports_empty(admin_client: httpx.Client) -> None:
    name = unique()
    project_id = create_project(admin_client, name)

    stored = project_allowlist(admin_client, name)

    assert stored["items"] == []
    assert stored["project_id"] == project_id
    assert "expires_at" not in stored
    assert HARBOR_TIME.match(stored["creation_time"])


def test_project_update_replaces_list(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create_project(admin_client, name, cve_allowlist={"items": [{"cve_id": "CVE-1"}]})
    epoch = MetadataEpoch(registry.data_dir)
    before = epoch.current()
    update = {
        "expires_at": 4_102_444_800,
        "items": [{"cve_id": "CVE-2", "reason": "vendor says unaffected"}],
    }

    response = admin_client.put(
        f"{API}/projects/{name}", json={"cve_allowlist": update}
    )

    assert response.status_code == 200
    stored = project_allowlist(admin_client, name)
    assert stored["items"] == update["items"]
    assert stored["expires_at"] == 4_102_444_800
    assert epoch.current() != before


def test_project_update_own_project_id(admin_client: httpx.Client) -> None:
    name = unique()
    project_id = create_project(admin_client, name)
    update = {"project_id": project_id, "items": [{"cve_id": "CVE-7"}]}

    response = admin_client.put(
        f"{API}/projects/{name}", json={"cve_allowlist": update}
    )

    assert response.status_code == 200
    assert project_allowlist(admin_client, name)["items"] == [{"cve_id": "CVE-7"}]


def test_project_update_keeps_list(admin_client: httpx.Client) -> None:
    name = unique()
    items = [{"cve_id": "CVE-1"}]
    create_project(admin_client, name, cve_allowlist={"items": items})

    response = admin_client.put(
        f"{API}/projects/{name}", json={"metadata": {"auto_scan": "true"}}
    )

    assert response.status_code == 200
    assert project_allowlist(admin_client, name)["items"] == items


def test_project_update_duplicate_rejected(admin_client: httpx.Client) -> None:
    name = unique()
    items = [{"cve_id": "CVE-1"}]
    create_project(admin_client, name, cve_allowlist={"items": items})
    update = {"items": [{"cve_id": "GHSA-x"}, {"cve_id": "GHSA-x"}]}

    response = admin_client.put(
        f"{API}/projects/{name}",
        json={"metadata": {"auto_scan": "true"}, "cve_allowlist": update},
    )

    assert response.status_code == 400
    assert error_of(response)["message"] == "duplicate CVE ID in allowlist: GHSA-x"
    assert project_allowlist(admin_client, name)["items"] == items
    metadata = admin_client.get(f"{API}/projects/{name}").json()["metadata"]
    assert "auto_scan" not in metadata


def test_project_update_by_maintainer(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create_project(admin_client, name)
    username = unique("maintainer")
    add_member(registry, name, create_user(registry, username, PASSWORD), MAINTAINER)
    update = {"items": [{"cve_id": "CVE-1"}]}

    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        response = client.put(f"{API}/projects/{name}", json={"cve_allowlist": update})

    assert response.status_code == 403
    assert project_allowlist(admin_client, name)["items"] == []


def test_project_update_audited(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    create_project(admin_client, name, cve_allowlist={"items": [{"cve_id": "CVE-1"}]})
    update = {"items": [{"cve_id": "CVE-2"}]}

    admin_client.put(f"{API}/projects/{name}", json={"cve_allowlist": update})

    records = audit_records(registry, name)
    assert [r.operation for r in records] == ["create", "update"]
    assert "CVE-1" in records[0].reason
    assert "CVE-2" in records[1].reason


def test_project_list_shows_allowlist(admin_client: httpx.Client) -> None:
    name = unique()
    items = [{"cve_id": "CVE-2022-22965", "reason": "no Spring MVC"}]
    create_project(admin_client, name, cve_allowlist={"items": items})

    listed = admin_client.get(f"{API}/projects", params={"name": name}).json()

    assert listed[0]["cve_allowlist"]["items"] == items


def test_project_read_by_guest(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    name = unique()
    items = [{"cve_id": "CVE-1"}]
    create_project(admin_client, name, cve_allowlist={"items": items})
    username = unique("guest")
    add_member(registry, name, create_user(registry, username, PASSWORD), 3)

    with httpx.Client(
        base_url=registry.url, auth=(username, PASSWORD), timeout=60
    ) as client:
        stored = project_allowlist(client, name)

    assert stored["items"] == items


# Which list applies


def test_effective_reuses_system_by_default(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    put_system(admin_client, {"items": [{"cve_id": "CVE-SYSTEM-1"}]})
    name = unique()
    create_project(admin_client, name, cve_allowlist={"items": [{"cve_id": "CVE-P"}]})

    chosen = effective(registry, name)

    assert chosen.project_id is None
    assert [item.cve_id for item in chosen.items] == ["CVE-SYSTEM-1"]


def test_effective_reuse_true(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    put_system(admin_client, {"items": [{"cve_id": "CVE-SYSTEM-2"}]})
    name = unique()
    create_project(
        admin_client,
        name,
        metadata={"reuse_sys_cve_allowlist": "true"},
        cve_allowlist={"items": [{"cve_id": "CVE-P"}]},
    )

    chosen = effective(registry, name)

    assert [item.cve_id for item in chosen.items] == ["CVE-SYSTEM-2"]


def test_effective_project_list(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    put_system(admin_client, {"items": [{"cve_id": "CVE-SYSTEM-3"}]})
    name = unique()
    project_id = create_project(
        admin_client,
        name,
        metadata={"reuse_sys_cve_allowlist": "false"},
        cve_allowlist={
            "expires_at": 4_102_444_800,
            "items": [{"cve_id": "CVE-P", "expires_at": 4_000_000_000, "reason": "r"}],
        },
    )

    chosen = effective(registry, name)

    assert chosen.project_id == project_id
    assert chosen.expires_at == 4_102_444_800
    assert [(i.cve_id, i.expires_at, i.reason) for i in chosen.items] == [
        ("CVE-P", 4_000_000_000, "r")
    ]


def test_effective_follows_metadata_change(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    put_system(admin_client, {"items": [{"cve_id": "CVE-SYSTEM-4"}]})
    name = unique()
    create_project(admin_client, name, cve_allowlist={"items": [{"cve_id": "CVE-P"}]})

    response = admin_client.put(
        f"{API}/projects/{name}/metadatas/reuse_sys_cve_allowlist",
        json={"reuse_sys_cve_allowlist": "false"},
    )

    assert response.status_code == 200
    assert [item.cve_id for item in effective(registry, name).items] == ["CVE-P"]


def test_effective_project_list_empty(
    registry: RunningRegistry, admin_client: httpx.Client, system_list: None
) -> None:
    put_system(admin_client, {"items": [{"cve_id": "CVE-SYSTEM-5"}]})
    name = unique()
    project_id = create_project(
        admin_client, name, metadata={"reuse_sys_cve_allowlist": "false"}
    )

    chosen = effective(registry, name)

    assert chosen.items == ()
    assert chosen.project_id == project_id
