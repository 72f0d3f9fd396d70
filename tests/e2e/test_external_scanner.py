"""A registry that scans through an external adapter registered with Harbor's API.

The registry runs with no advisories of its own, so its built-in scanner
would find nothing. The adapter is a second Seawall process,
`seawall scanner serve`, with npm advisories in its own SQLite database. It
is registered with `POST /scanners`, chosen for a project with
`PUT /projects/{project}/scanner`, and pulls each image from the registry
with the short-lived bearer token the registry gives it for the scan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall import __version__
from tests.support import databases
from tests.support.process import json_log_records
from tests.support.scanning import expected_findings, push
from tests.support.seed import add_member, create_user
from tests.support.server import (
    ADMIN_PASSWORD,
    RunningRegistry,
    free_port,
    start_registry,
)

ADMIN = ("admin", ADMIN_PASSWORD)
SEAWALL = [sys.executable, "-m", "seawall"]
API_KEY = "external-scanner-key-" + "5" * 16
NODE_APP = "sha256:8b0401c8d7d4d5fa203e73c54bcc629c14ac1b750db78e81979ddae9f8a2e77d"
GUEST_ROLE = 3
SCAN_DEADLINE_SECONDS = 120
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class RunningAdapter:
    """A `seawall scanner serve` process and the files it writes."""

    url: str
    log_path: Path


# --- processes -------------------------------------------------------------


def adapter_environment() -> dict[str, str]:
    # The adapter takes its settings from its options alone, not from the
    # registry's SEAWALL_* variables of the test process.
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SEAWALL_")
    }


@pytest.fixture(scope="module")
def adapter_data(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Path:
    """A data folder whose SQLite database contains the kit's npm advisories."""
    data_dir = tmp_path_factory.mktemp("adapter-data")
    result = subprocess.run(
        [
            *SEAWALL,
            "vulndb",
            "import",
            "--data-dir",
            str(data_dir),
            "--database-url",
            f"sqlite:///{data_dir / 'adapter.db'}",
            str(testdata / "osv" / "npm.zip"),
        ],
        env=adapter_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return data_dir


def wait_for_adapter(
    url: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"scanner adapter exited early:\n{log_path.read_text()}")
        try:
            httpx.get(f"{url}/api/v1/metadata", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"scanner adapter did not respond within 60 s:\n{log_path.read_text()}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def adapter_process(
    data_dir: Path, name: str, api_key: str = ""
) -> Iterator[tuple[RunningAdapter, subprocess.Popen[bytes]]]:
    """Run `seawall scanner serve` on a free port until the block exits."""
    url = f"http://127.0.0.1:{free_port()}"
    log_path = data_dir / f"{name}.log"
    key_options = ["--api-key", api_key] if api_key else []
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *SEAWALL,
                "scanner",
                "serve",
                "--listen",
                url.removeprefix("http://"),
                *key_options,
                "--data-dir",
                str(data_dir),
                "--database-url",
                f"sqlite:///{data_dir / 'adapter.db'}",
            ],
            env=adapter_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_adapter(url, process, log_path)
        yield RunningAdapter(url, log_path), process
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def open_adapter(adapter_data: Path) -> Iterator[RunningAdapter]:
    with adapter_process(adapter_data, "open-adapter") as (adapter, _):
        yield adapter


@pytest.fixture(scope="module")
def keyed_adapter(adapter_data: Path) -> Iterator[RunningAdapter]:
    with adapter_process(adapter_data, "keyed-adapter", API_KEY) as (adapter, _):
        yield adapter


@pytest.fixture(scope="module")
def scanning_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRegistry]:
    data_dir = tmp_path_factory.mktemp("scanning-registry")
    with (
        databases.test_database_url(tmp_path_factory.mktemp("scanning-db")) as url,
        start_registry(data_dir, url, {"SEAWALL_LOG_FORMAT": "json"}) as running,
    ):
        yield running


@pytest.fixture
def api(scanning_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{scanning_registry.url}/api/v2.0", auth=ADMIN, timeout=60
    ) as client:
        yield client


# --- API helpers ---------------------------------------------------------------


def register(api: httpx.Client, name: str, url: str, **settings: str) -> str:
    """Register an adapter with `POST /scanners` and return its UUID."""
    response = api.post("/scanners", json={"name": name, "url": url, **settings})
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


def create_project(api: httpx.Client, name: str, scanner: str, **metadata: str) -> None:
    response = api.post("/projects", json={"project_name": name, "metadata": metadata})
    assert response.status_code == 201, response.text
    response = api.put(f"/projects/{name}/scanner", json={"uuid": scanner})
    assert response.status_code == 200, response.text


def push_node_app(registry: RunningRegistry, testdata: Path, project: str) -> None:
    push(registry, testdata, "node-app", "1.0", f"{project}/web:1.0")


def artifact_path(project: str) -> str:
    return f"/projects/{project}/repositories/web/artifacts/1.0"


def scan_and_wait(api: httpx.Client, project: str) -> dict[str, Any]:
    """Scan `<project>/web:1.0` and return its `scan_overview` once the scan ends."""
    path = artifact_path(project)
    response = api.post(f"{path}/scan")
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + SCAN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        artifact = api.get(path, params={"with_scan_overview": "true"}).json()
        overview = next(iter((artifact.get("scan_overview") or {}).values()), None)
        if overview and overview["scan_status"] not in ("Pending", "Running"):
            return dict(overview)
        time.sleep(0.2)
    raise AssertionError(f"scan of {project}/web:1.0 did not finish")


def scan_log(api: httpx.Client, project: str, overview: dict[str, Any]) -> str:
    response = api.get(f"{artifact_path(project)}/scan/{overview['report_id']}/log")
    assert response.status_code == 200, response.text
    return response.text


def expected_node_app(testdata: Path) -> set[tuple[str, str, str, str]]:
    kit = expected_findings(testdata)
    return {
        (item["package"], item["id"], item["severity"].title(), item["fixed_in"])
        for item in kit["node-app:1.0"]["findings"]
    }


def reported_node_app(
    api: httpx.Client, project: str
) -> set[tuple[str, str, str, str]]:
    response = api.get(f"{artifact_path(project)}/additions/vulnerabilities")
    assert response.status_code == 200, response.text
    (document,) = response.json().values()
    return {
        (item["package"], ghsa_id(item), item["severity"], item["fix_version"])
        for item in document["vulnerabilities"]
    }


def ghsa_id(item: dict[str, Any]) -> str:
    """The GHSA id of a report item, whichever of its ids the adapter put first."""
    ids: list[str] = [item["id"], *item.get("vendor_attributes", {}).get("ids", [])]
    return next((i for i in ids if i.startswith("GHSA-")), ids[0])


def pull_manifest(
    registry: RunningRegistry, project: str, auth: tuple[str, str]
) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{project}/web/manifests/1.0",
        auth=auth,
        headers={"Accept": MANIFEST_ACCEPT},
        timeout=60,
    )


def scanner_pulls(registry: RunningRegistry, subject: str) -> list[dict[str, Any]]:
    """Log records of reads the vulnerability gate let through for `subject`."""
    return [
        record
        for record in json_log_records(registry.log_path)
        if record.get("user") == subject
        and record.get("event", "").startswith("vulnerability gate passed")
    ]


# --- tests ---------------------------------------------------------------------


def test_adapter_scans_gated_project(
    scanning_registry: RunningRegistry,
    api: httpx.Client,
    open_adapter: RunningAdapter,
    testdata: Path,
) -> None:
    scanner = register(api, "osv-adapter", open_adapter.url)
    create_project(api, "gated", scanner, prevent_vul="true", severity="high")
    push_node_app(scanning_registry, testdata, "gated")
    guest = ("gated-guest", "Guest-Pass-1")
    guest_id = create_user(scanning_registry, *guest)
    add_member(scanning_registry, "gated", guest_id, GUEST_ROLE)
    rejected = pull_manifest(scanning_registry, "gated", guest)
    assert rejected.status_code == 412
    assert "without vulnerability scanning" in rejected.json()["errors"][0]["message"]

    overview = scan_and_wait(api, "gated")

    # The registry has no advisories, so the six findings come from the
    # adapter's database, and the overview names the adapter's scanner.
    assert overview["scan_status"] == "Success", scan_log(api, "gated", overview)
    assert overview["summary"]["total"] == 6
    assert overview["severity"] == "Critical"
    metadata = api.get(f"/scanners/{scanner}/metadata")
    assert metadata.status_code == 200, metadata.text
    assert overview["scanner"] == metadata.json()["scanner"]
    assert overview["scanner"] == {
        "name": "Seawall",
        "vendor": "Seawall",
        "version": __version__,
    }
    assert reported_node_app(api, "gated") == expected_node_app(testdata)
    assert "scanning with osv-adapter" in scan_log(api, "gated", overview)
    adapter_log = open_adapter.log_path.read_text()
    assert "repository=gated/web" in adapter_log
    assert f"digest={NODE_APP} findings=6" in adapter_log

    # The adapter read manifest and layers through the closed gate with the
    # registry's token, which names the registration and grants scanner-pull.
    passed = scanner_pulls(scanning_registry, "scanner:osv-adapter")
    assert any(record.get("digest") == NODE_APP for record in passed), passed
    assert {record.get("repository") for record in passed} == {"gated/web"}
    assert all("scanner-pull" in record.get("reason", "") for record in passed)

    # The guest is still refused, now for the findings, until they are allowlisted.
    rejected = pull_manifest(scanning_registry, "gated", guest)
    assert rejected.status_code == 412
    message = rejected.json()["errors"][0]["message"]
    assert message.startswith("current image with 6 vulnerabilities")
    cves = sorted(
        alias
        for item in expected_findings(testdata)["node-app:1.0"]["findings"]
        for alias in item["aliases"]
    )
    assert len(cves) == 6
    response = api.put(
        "/projects/gated",
        json={
            "metadata": {"reuse_sys_cve_allowlist": "false"},
            "cve_allowlist": {"items": [{"cve_id": cve} for cve in cves]},
        },
    )
    assert response.status_code == 200, response.text
    assert pull_manifest(scanning_registry, "gated", guest).status_code == 200


def test_adapter_down_gives_error(
    scanning_registry: RunningRegistry,
    api: httpx.Client,
    adapter_data: Path,
    testdata: Path,
) -> None:
    with adapter_process(adapter_data, "stopped-adapter") as (adapter, process):
        scanner = register(api, "stopped-adapter", adapter.url)
        stop_process(process)
    create_project(api, "offline", scanner)
    push_node_app(scanning_registry, testdata, "offline")

    overview = scan_and_wait(api, "offline")

    assert overview["scan_status"] == "Error"
    assert "summary" not in overview
    log = scan_log(api, "offline", overview)
    assert f"adapter {adapter.url} could not be reached" in log
    assert "scanning with stopped-adapter" in log


def test_api_key_registration(
    scanning_registry: RunningRegistry,
    api: httpx.Client,
    keyed_adapter: RunningAdapter,
    testdata: Path,
) -> None:
    # Registration pings the adapter, so a wrong key is caught there first.
    response = api.post(
        "/scanners",
        json={
            "name": "keyed-adapter",
            "url": keyed_adapter.url,
            "auth": "APIKey",
            "access_credential": "not-the-key",
        },
    )
    assert response.status_code == 400
    assert "missing or invalid API key" in response.json()["errors"][0]["message"]
    response = api.post(
        "/scanners", json={"name": "keyed-adapter", "url": keyed_adapter.url}
    )
    assert response.status_code == 400
    assert "HTTP 401" in response.json()["errors"][0]["message"]

    scanner = register(
        api,
        "keyed-adapter",
        keyed_adapter.url,
        auth="APIKey",
        access_credential=API_KEY,
    )
    create_project(api, "keyed", scanner)
    push_node_app(scanning_registry, testdata, "keyed")
    overview = scan_and_wait(api, "keyed")
    assert overview["scan_status"] == "Success", scan_log(api, "keyed", overview)
    assert overview["summary"]["total"] == 6
    assert reported_node_app(api, "keyed") == expected_node_app(testdata)

    # An update does not ping the adapter, so a wrong key surfaces in the scan.
    response = api.put(
        f"/scanners/{scanner}",
        json={
            "name": "keyed-adapter",
            "url": keyed_adapter.url,
            "auth": "APIKey",
            "access_credential": "not-the-key",
        },
    )
    assert response.status_code == 200, response.text
    overview = scan_and_wait(api, "keyed")
    assert overview["scan_status"] == "Error"
    log = scan_log(api, "keyed", overview)
    assert "HTTP 401: missing or invalid API key" in log
    assert "not-the-key" not in log
