"""Scanner registration routes and the scanner of a project, on a live registry.

External adapters are played by a small HTTP server on a free loopback
port that serves the adapter metadata document, guarded by an API key.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall import __version__
from seawall.db import Database
from seawall.db.models import AuditLog, ScannerRegistration
from tests.api.test_artifacts import member_client, new_project, unique
from tests.support.seed import create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
API_KEY = "adapter-key-1"
PROJECT_ADMIN = 1
DEVELOPER = 2
BUILTIN_URL = "builtin://seawall"

ADAPTER_METADATA: dict[str, Any] = {
    "scanner": {"name": "StubScan", "vendor": "Test Kit", "version": "0.9"},
    "capabilities": [
        {
            "type": "vulnerability",
            "consumes_mime_types": ["application/vnd.oci.image.manifest.v1+json"],
            "produces_mime_types": [
                "application/vnd.security.vulnerability.report; version=1.1"
            ],
        }
    ],
    "properties": {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"},
}


class _AdapterHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # Every registration needs a URL of its own, so any path prefix works.
        if not self.path.endswith("/api/v1/metadata"):
            self.send_error(404)
            return
        if self.headers.get("X-ScannerAdapter-API-Key") != API_KEY:
            self.send_error(401)
            return
        body = json.dumps(ADAPTER_METADATA).encode()
        self.send_response(200)
        self.send_header(
            "Content-Type", "application/vnd.scanner.adapter.metadata+json; version=1.0"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def adapter_url() -> Iterator[str]:
    """The base URL of a stub scanner adapter on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AdapterHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def messages(response: httpx.Response) -> str:
    return " ".join(error["message"] for error in response.json()["errors"])


def builtin(client: httpx.Client) -> dict[str, Any]:
    response = client.get(f"{API}/scanners", params={"q": f"url={BUILTIN_URL}"})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    assert len(found) == 1
    return found[0]


def registration_body(adapter_url: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "url": f"{adapter_url}/{name}",
        "description": "stub adapter",
        "auth": "X-ScannerAdapter-API-Key",
        "access_credential": API_KEY,
        **extra,
    }


def register(client: httpx.Client, adapter_url: str, name: str) -> str:
    """Register a stub adapter under `name` and return its UUID."""
    response = client.post(f"{API}/scanners", json=registration_body(adapter_url, name))
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[1]


@pytest.fixture
def restore_default(admin_client: httpx.Client) -> Iterator[None]:
    """Make the built-in scanner the default again after a test changes it."""
    yield
    uuid_ = builtin(admin_client)["uuid"]
    response = admin_client.patch(f"{API}/scanners/{uuid_}", json={"is_default": True})
    assert response.status_code == 200, response.text


def test_builtin_scanner_registered(admin_client: httpx.Client) -> None:
    found = builtin(admin_client)
    assert found["name"] == "Seawall"
    assert found["adapter"] == "Seawall"
    assert found["version"] == __version__
    assert found["capabilities"] == {
        "support_vulnerability": True,
        "support_sbom": True,
    }
    assert found["access_credential"] == ""


def test_builtin_scanner_metadata(admin_client: httpx.Client) -> None:
    uuid_ = builtin(admin_client)["uuid"]
    response = admin_client.get(f"{API}/scanners/{uuid_}/metadata")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scanner"] == {
        "name": "Seawall",
        "vendor": "Seawall",
        "version": __version__,
    }
    assert {c["type"] for c in body["capabilities"]} == {"vulnerability", "sbom"}
    assert "harbor.scanner-adapter/scanner-type" in body["properties"]


def test_builtin_scanner_immutable(admin_client: httpx.Client) -> None:
    found = builtin(admin_client)
    update = admin_client.put(
        f"{API}/scanners/{found['uuid']}",
        json={"name": "Renamed", "url": "http://127.0.0.1:9/"},
    )
    assert update.status_code == 403
    assert "immutable" in messages(update)
    delete = admin_client.delete(f"{API}/scanners/{found['uuid']}")
    assert delete.status_code == 403
    assert builtin(admin_client)["name"] == "Seawall"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": ""}, "missing registration name"),
        ({"url": "ftp://127.0.0.1/x"}, "use an http:// or https:// URL"),
        ({"url": "http://"}, "use an http:// or https:// URL"),
        ({"auth": "Digest"}, "auth type Digest is not supported"),
        ({"auth": "Bearer", "access_credential": ""}, "access_credential is required"),
        ({"name": "Seawall"}, "reserved"),
    ],
)
def test_create_scanner_invalid(
    admin_client: httpx.Client,
    adapter_url: str,
    changes: dict[str, str],
    expected: str,
) -> None:
    body = {**registration_body(adapter_url, unique("stub")), **changes}
    response = admin_client.post(f"{API}/scanners", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert expected in messages(response)


def test_create_scanner_missing_fields(admin_client: httpx.Client) -> None:
    response = admin_client.post(f"{API}/scanners", json={"description": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "UNPROCESSABLE_ENTITY"


def test_create_scanner_unreachable(admin_client: httpx.Client) -> None:
    body = {"name": unique("down"), "url": "http://127.0.0.1:9"}
    response = admin_client.post(f"{API}/scanners", json=body)
    assert response.status_code == 400
    assert "failed to ping scanner adapter" in messages(response)


def test_create_and_read_scanner(admin_client: httpx.Client, adapter_url: str) -> None:
    name = unique("stub")
    uuid_ = register(admin_client, adapter_url, name)

    response = admin_client.get(f"{API}/scanners/{uuid_}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == name
    assert body["url"] == f"{adapter_url}/{name}"
    assert body["auth"] == "X-ScannerAdapter-API-Key"
    assert body["access_credential"] == ""
    assert body["is_default"] is False
    assert "skip_certVerify" in body

    metadata = admin_client.get(f"{API}/scanners/{uuid_}/metadata")
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["scanner"]["name"] == "StubScan"


def test_create_scanner_duplicate(admin_client: httpx.Client, adapter_url: str) -> None:
    name = unique("stub")
    register(admin_client, adapter_url, name)
    again = admin_client.post(
        f"{API}/scanners", json=registration_body(adapter_url, name)
    )
    assert again.status_code == 409
    assert messages(again) == "registration name or url already exists"


def test_update_keeps_credential(admin_client: httpx.Client, adapter_url: str) -> None:
    name = unique("stub")
    uuid_ = register(admin_client, adapter_url, name)
    body = registration_body(adapter_url, name, access_credential="")
    body["description"] = "changed"
    response = admin_client.put(f"{API}/scanners/{uuid_}", json=body)
    assert response.status_code == 200, response.text
    assert admin_client.get(f"{API}/scanners/{uuid_}").json()["description"] == (
        "changed"
    )
    # The stored key still works, so the adapter answers the metadata request.
    metadata = admin_client.get(f"{API}/scanners/{uuid_}/metadata")
    assert metadata.status_code == 200, metadata.text


def test_ping_scanner(admin_client: httpx.Client, adapter_url: str) -> None:
    good = {
        "name": "probe",
        "url": adapter_url,
        "auth": "APIKey",
        "access_credential": API_KEY,
    }
    assert admin_client.post(f"{API}/scanners/ping", json=good).status_code == 200
    wrong = {**good, "access_credential": "wrong-key"}
    response = admin_client.post(f"{API}/scanners/ping", json=wrong)
    assert response.status_code == 400
    assert "HTTP 401" in messages(response)


def test_list_scanners_query(admin_client: httpx.Client, adapter_url: str) -> None:
    prefix = unique("listed")
    for index in range(3):
        register(admin_client, adapter_url, f"{prefix}-{index}")
    response = admin_client.get(
        f"{API}/scanners", params={"q": f"name=~{prefix}", "page_size": 2}
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "3"
    assert len(response.json()) == 2
    assert 'rel="next"' in response.headers["Link"]


def test_set_default_and_delete(
    admin_client: httpx.Client, adapter_url: str, restore_default: None
) -> None:
    uuid_ = register(admin_client, adapter_url, unique("stub"))
    response = admin_client.patch(f"{API}/scanners/{uuid_}", json={"is_default": True})
    assert response.status_code == 200, response.text
    assert admin_client.get(f"{API}/scanners/{uuid_}").json()["is_default"] is True
    assert builtin(admin_client)["is_default"] is False

    deleted = admin_client.delete(f"{API}/scanners/{uuid_}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["uuid"] == uuid_
    assert admin_client.get(f"{API}/scanners/{uuid_}").status_code == 404
    # Deleting the default makes the built-in scanner the default again.
    assert builtin(admin_client)["is_default"] is True


def test_disabled_scanner_not_default(
    admin_client: httpx.Client, adapter_url: str
) -> None:
    name = unique("stub")
    uuid_ = register(admin_client, adapter_url, name)
    body = registration_body(adapter_url, name, disabled=True)
    assert admin_client.put(f"{API}/scanners/{uuid_}", json=body).status_code == 200
    response = admin_client.patch(f"{API}/scanners/{uuid_}", json={"is_default": True})
    assert response.status_code == 400
    assert "disabled" in messages(response)


def test_unknown_scanner_not_found(admin_client: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    assert admin_client.get(f"{API}/scanners/{missing}").status_code == 404
    assert admin_client.delete(f"{API}/scanners/{missing}").status_code == 404
    response = admin_client.get(f"{API}/scanners/{missing}/metadata")
    assert response.status_code == 404
    assert messages(response) == f"scanner {missing} not found"


def test_scanner_routes_need_admin(
    registry: RunningRegistry, anonymous_client: httpx.Client, adapter_url: str
) -> None:
    assert anonymous_client.get(f"{API}/scanners").status_code == 401
    body = registration_body(adapter_url, unique("stub"))
    assert anonymous_client.post(f"{API}/scanners", json=body).status_code == 401

    username, password = unique("plain"), "Plain-Pass-1"
    create_user(registry, username, password)
    with httpx.Client(
        base_url=registry.url, auth=(username, password), timeout=60
    ) as client:
        assert client.get(f"{API}/scanners").status_code == 403
        assert client.post(f"{API}/scanners", json=body).status_code == 403
        ping = {"name": "x", "url": adapter_url}
        assert client.post(f"{API}/scanners/ping", json=ping).status_code == 403


def test_scanner_creation_audited(
    registry: RunningRegistry, admin_client: httpx.Client, adapter_url: str
) -> None:
    name = unique("stub")
    register(admin_client, adapter_url, name)
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            rows = session.scalars(
                select(AuditLog).where(
                    AuditLog.resource_type == "scanner", AuditLog.resource == name
                )
            ).all()
            operations = [(row.operation, row.result) for row in rows]
    finally:
        database.dispose()
    assert operations == [("create", "success")]


def test_project_scanner_default(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    response = admin_client.get(f"{API}/projects/{project}/scanner")
    assert response.status_code == 200, response.text
    assert response.json()["url"] == BUILTIN_URL


def test_project_scanner_choice(
    registry: RunningRegistry, admin_client: httpx.Client, adapter_url: str
) -> None:
    project = new_project(registry)
    uuid_ = register(admin_client, adapter_url, unique("stub"))
    with member_client(registry, project, PROJECT_ADMIN) as owner:
        candidates = owner.get(f"{API}/projects/{project}/scanner/candidates")
        assert candidates.status_code == 200, candidates.text
        assert int(candidates.headers["X-Total-Count"]) >= 2

        chosen = owner.put(f"{API}/projects/{project}/scanner", json={"uuid": uuid_})
        assert chosen.status_code == 200, chosen.text
        current = owner.get(f"{API}/projects/{project}/scanner")
        assert current.status_code == 200
        assert current.json()["uuid"] == uuid_

        missing = owner.put(
            f"{API}/projects/{project}/scanner", json={"uuid": str(uuid.uuid4())}
        )
        assert missing.status_code == 404

    # Deleting the chosen registration sends the project back to the default.
    assert admin_client.delete(f"{API}/scanners/{uuid_}").status_code == 200
    fallback = admin_client.get(f"{API}/projects/{project}/scanner")
    assert fallback.json()["url"] == BUILTIN_URL


def test_project_scanner_permissions(
    registry: RunningRegistry, anonymous_client: httpx.Client
) -> None:
    project = new_project(registry)
    builtin_uuid = builtin_uuid_of(registry)
    assert anonymous_client.get(f"{API}/projects/{project}/scanner").status_code == 401
    with member_client(registry, project, DEVELOPER) as developer:
        assert developer.get(f"{API}/projects/{project}/scanner").status_code == 200
        chosen = developer.put(
            f"{API}/projects/{project}/scanner", json={"uuid": builtin_uuid}
        )
        assert chosen.status_code == 403
        listed = developer.get(f"{API}/projects/{project}/scanner/candidates")
        assert listed.status_code == 403


def builtin_uuid_of(registry: RunningRegistry) -> str:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            return str(
                session.scalars(
                    select(ScannerRegistration.uuid).where(
                        ScannerRegistration.url == BUILTIN_URL
                    )
                ).one()
            )
    finally:
        database.dispose()
