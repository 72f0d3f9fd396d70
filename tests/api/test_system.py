"""System routes: ping, health, systeminfo, configurations, the OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import AuditLog
from tests.support.seed import create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"


def test_ping_pong(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{API}/ping")

    assert response.status_code == 200
    assert response.text == "Pong"


def test_health_components(anonymous_client: httpx.Client) -> None:
    body = anonymous_client.get(f"{API}/health").json()

    assert body["status"] == "healthy"
    assert {"name": "database", "status": "healthy"} in body["components"]


def test_systeminfo_anonymous_subset(anonymous_client: httpx.Client) -> None:
    body = anonymous_client.get(f"{API}/systeminfo").json()

    assert body["auth_mode"] == "db_auth"
    assert "external_url" not in body
    assert "project_creation_restriction" not in body


def test_systeminfo_logged_in(
    admin_client: httpx.Client, registry: RunningRegistry
) -> None:
    body = admin_client.get(f"{API}/systeminfo").json()

    assert body["external_url"] == registry.url
    assert body["registry_url"] == registry.host
    assert body["project_creation_restriction"] in {"everyone", "adminonly"}
    server_time = datetime.strptime(body["current_time"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(server_time - datetime.now(UTC)) < timedelta(minutes=5)


def test_request_id_generated(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{API}/ping")

    assert len(response.headers["X-Request-Id"]) >= 16


def test_request_id_echoed(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(
        f"{API}/ping", headers={"X-Request-Id": "trace-123"}
    )

    assert response.headers["X-Request-Id"] == "trace-123"


def test_unknown_route_envelope(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{API}/no-such-thing")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"


def test_wrong_method_envelope(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.delete(f"{API}/ping")

    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"


def test_configurations_shape(admin_client: httpx.Client) -> None:
    body = admin_client.get(f"{API}/configurations").json()

    assert body["auth_mode"] == {"value": "db_auth", "editable": True}
    assert body["robot_name_prefix"]["value"] == "robot$"
    assert body["token_expiration"]["value"] == 30


def test_configurations_anonymous_401(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get(f"{API}/configurations")

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_configurations_user_403(registry: RunningRegistry) -> None:
    username = f"cfg{uuid.uuid4().hex[:8]}"
    create_user(registry, username, "Config-Test-1")
    with httpx.Client(
        base_url=registry.url, auth=(username, "Config-Test-1")
    ) as client:
        read = client.get(f"{API}/configurations")
        write = client.put(f"{API}/configurations", json={"self_registration": True})

    assert read.status_code == 403
    assert write.status_code == 403


@pytest.mark.parametrize(
    "change",
    [
        {"self_registration": "yes"},
        {"project_creation_restriction": "nobody"},
        {"token_expiration": 0},
        {"robot_name_prefix": "a+b"},
        {"auth_mode": "ldap_auth"},
        {"no_such_key": 1},
    ],
)
def test_configurations_invalid_rejected(
    admin_client: httpx.Client, change: dict[str, object]
) -> None:
    response = admin_client.put(f"{API}/configurations", json=change)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_invalid_change_applies_nothing(admin_client: httpx.Client) -> None:
    before = admin_client.get(f"{API}/configurations").json()

    admin_client.put(
        f"{API}/configurations", json={"token_expiration": 45, "self_registration": "x"}
    )

    after = admin_client.get(f"{API}/configurations").json()
    assert after["token_expiration"] == before["token_expiration"]


def test_configuration_change_applies_and_audits(
    admin_client: httpx.Client, registry: RunningRegistry
) -> None:
    response = admin_client.put(f"{API}/configurations", json={"token_expiration": 31})
    token = httpx.get(
        f"{registry.url}/service/token", params={"scope": "repository:library/x:pull"}
    ).json()
    admin_client.put(f"{API}/configurations", json={"token_expiration": 30})
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            resources = list(
                session.scalars(
                    select(AuditLog.resource).where(
                        AuditLog.resource_type == "configuration"
                    )
                )
            )
    finally:
        database.dispose()

    assert response.status_code == 200
    assert token["expires_in"] == 31 * 60
    assert "token_expiration" in resources


def test_refused_change_audited(
    anonymous_client: httpx.Client, registry: RunningRegistry
) -> None:
    anonymous_client.put(f"{API}/configurations", json={"self_registration": True})
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            failures = list(
                session.scalars(
                    select(AuditLog).where(
                        AuditLog.resource == f"{API}/configurations",
                        AuditLog.result == "failure",
                    )
                )
            )
    finally:
        database.dispose()

    assert any(row.reason.startswith("401") for row in failures)


def test_openapi_lists_api_routes(anonymous_client: httpx.Client) -> None:
    document = anonymous_client.get(f"{API}/openapi.json").json()

    for path in ["/projects", "/users", "/robots", "/configurations", "/systeminfo"]:
        assert path in document["paths"], path
    assert "ProjectReq" in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("content", "headers", "expected"),
    [
        (
            b'{"project_name": "x"',
            {"Content-Type": "application/json"},
            "request body is not valid JSON: ",
        ),
        (
            b'{"project_name": "x"}',
            {},
            "request body must be a JSON object; send it with "
            "Content-Type: application/json",
        ),
        (
            b"[1]",
            {"Content-Type": "application/json"},
            "request body must be a JSON object",
        ),
        (
            b'{"project_name": 5}',
            {"Content-Type": "application/json"},
            "project_name: Input should be a valid string",
        ),
    ],
)
def test_invalid_body_messages(
    admin_client: httpx.Client, content: bytes, headers: dict[str, str], expected: str
) -> None:
    response = admin_client.post(f"{API}/projects", content=content, headers=headers)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["code"] == "UNPROCESSABLE_ENTITY"
    assert error["message"].startswith(expected), error["message"]
    assert not error["message"].startswith(":")
