"""Helpers for tests that scan images on a live registry of their own.

A scanning test module starts one registry with `scanning_registry`, which
imports the kit's OSV advisories through `seawall vulndb import`, pushes
the kit's OCI layouts with skopeo (`push`), and asks for scans through
Harbor's API (`scan_and_wait`, `wait_for_scan`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import ScannerRegistration, ScanReport
from seawall.registry.cache import MetadataEpoch
from tests.support import databases
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry

ADMIN = ("admin", ADMIN_PASSWORD)

# The advisory zips whose merged findings `expected-findings.json` lists.
ADVISORY_ZIPS = ("pypi.zip", "ghsa-pypi.zip", "maven.zip", "debian-12.zip")

GENERIC_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
HARBOR_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
BUILTIN_URL = "builtin://seawall"

SCAN_TIMEOUT_SECONDS = 120
FINISHED = ("Success", "Error", "Stopped")


def import_advisories(registry: RunningRegistry, *paths: Path) -> None:
    """Run `seawall vulndb import` against the registry's database."""
    env = {
        **os.environ,
        "SEAWALL_DATA_DIR": str(registry.data_dir),
        "SEAWALL_DATABASE_URL": registry.database_url,
        "SEAWALL_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    result = subprocess.run(
        [sys.executable, "-m", "seawall", "vulndb", "import", *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr


def all_versions_advisory(
    advisory_id: str, package: str, summary: str
) -> dict[str, Any]:
    """Return an OSV record that affects every release of the PyPI `package`."""
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": "2026-12-01T00:00:00Z",
        "summary": summary,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }


# An advisory for a package that no image of the kit contains.
UNRELATED_ADVISORY = all_versions_advisory(
    "SEAWALL-TEST-UNRELATED-1",
    "seawall-test-unrelated",
    "test advisory for a package no test image contains",
)


def import_unrelated_advisory(registry: RunningRegistry, folder: Path) -> None:
    """Import one advisory that matches no test image, from a folder made in `folder`.

    The gate rejects an image whose built-in report was matched while no
    advisory was imported. This gives the database an advisory without
    changing any finding.
    """
    advisories = folder / "unrelated-advisory"
    advisories.mkdir(exist_ok=True)
    name = f"{UNRELATED_ADVISORY['id']}.json"
    (advisories / name).write_text(json.dumps(UNRELATED_ADVISORY))
    import_advisories(registry, advisories)


@contextmanager
def scanning_registry(
    tmp_path_factory: pytest.TempPathFactory,
    testdata: Path,
    label: str,
    zips: tuple[str, ...] = ADVISORY_ZIPS,
) -> Iterator[RunningRegistry]:
    """Start a registry on its own database with the kit's `zips` imported."""
    data_dir = tmp_path_factory.mktemp(f"{label}-registry")
    with (
        databases.test_database_url(tmp_path_factory.mktemp(f"{label}-db")) as url,
        start_registry(data_dir, url) as running,
    ):
        if zips:
            import_advisories(running, *(testdata / "osv" / name for name in zips))
        yield running


def expected_findings(testdata: Path) -> dict[str, Any]:
    """The kit's machine-readable expected results, one key per `layout:tag`."""
    document: dict[str, Any] = json.loads(
        (testdata / "expected-findings.json").read_text()
    )
    return document


def skopeo_copy(
    source: str, destination: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("skopeo")
    assert binary is not None, "skopeo must be installed (apt-get install -y skopeo)"
    return subprocess.run(
        [
            binary,
            "--insecure-policy",
            "copy",
            *extra,
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            source,
            destination,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def push(
    registry: RunningRegistry, testdata: Path, layout: str, tag: str, target: str
) -> None:
    """Push `layout:tag` of the kit to `target` (`project/repository:tag`)."""
    extra = ["--all"] if layout == "multiarch" else []
    result = skopeo_copy(
        f"oci:{testdata / 'images' / layout}:{tag}",
        f"docker://{registry.host}/{target}",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        *extra,
    )
    assert result.returncode == 0, result.stderr


def admin_api(registry: RunningRegistry) -> httpx.Client:
    return httpx.Client(base_url=f"{registry.url}/api/v2.0", auth=ADMIN, timeout=60)


def create_project(api: httpx.Client, name: str, **metadata: str) -> None:
    response = api.post("/projects", json={"project_name": name, "metadata": metadata})
    assert response.status_code == 201, response.text


def set_metadata(api: httpx.Client, project: str, **metadata: str) -> None:
    response = api.put(f"/projects/{project}", json={"metadata": metadata})
    assert response.status_code == 200, response.text


def artifact_path(project: str, repository: str, reference: str) -> str:
    return f"/projects/{project}/repositories/{repository}/artifacts/{reference}"


def scan_and_wait(
    api: httpx.Client, project: str, repository: str, reference: str
) -> dict[str, Any]:
    """Request a vulnerability scan and return the overview once it succeeded."""
    response = api.post(f"{artifact_path(project, repository, reference)}/scan")
    assert response.status_code == 202, response.text
    return wait_for_scan(api, project, repository, reference)


def wait_for_scan(
    api: httpx.Client,
    project: str,
    repository: str,
    reference: str,
    *,
    expected_status: str = "Success",
) -> dict[str, Any]:
    """Poll `scan_overview` until the scan finishes; return that overview.

    The overview must end in `expected_status`. Raises `AssertionError`
    after `SCAN_TIMEOUT_SECONDS`.
    """
    path = artifact_path(project, repository, reference)
    deadline = time.monotonic() + SCAN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = api.get(path, params={"with_scan_overview": "true"})
        assert response.status_code == 200, response.text
        overviews = response.json().get("scan_overview") or {}
        overview = next(iter(overviews.values()), None)
        if overview and overview["scan_status"] in FINISHED:
            assert overview["scan_status"] == expected_status, overview
            return dict(overview)
        time.sleep(0.2)
    raise AssertionError(
        f"scan of {project}/{repository}:{reference} did not finish within "
        f"{SCAN_TIMEOUT_SECONDS} s"
    )


def wait_for_sbom(
    api: httpx.Client, project: str, repository: str, reference: str
) -> dict[str, Any]:
    """Poll `sbom_overview` until SBOM generation succeeds; return that overview."""
    path = artifact_path(project, repository, reference)
    deadline = time.monotonic() + SCAN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = api.get(path, params={"with_sbom_overview": "true"})
        assert response.status_code == 200, response.text
        overview = response.json().get("sbom_overview")
        if overview and overview["scan_status"] in FINISHED:
            assert overview["scan_status"] == "Success", overview
            return dict(overview)
        time.sleep(0.2)
    raise AssertionError(
        f"SBOM of {project}/{repository}:{reference} was not generated within "
        f"{SCAN_TIMEOUT_SECONDS} s"
    )


def builtin_registration_uuid(registry: RunningRegistry) -> str:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            return session.scalars(
                select(ScannerRegistration.uuid).where(
                    ScannerRegistration.url == BUILTIN_URL
                )
            ).one()
    finally:
        database.dispose()


def write_active_report(
    registry: RunningRegistry,
    digest: str,
    status: str,
    *,
    started: datetime | None = None,
) -> str:
    """Store a built-in vulnerability report of `digest` in `status`; return its id.

    Tests use it to hold a scan in Pending or Running without racing a real
    scan thread: no thread runs for the stored report.
    """
    registration_uuid = builtin_registration_uuid(registry)
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            row = session.scalars(
                select(ScanReport).where(
                    ScanReport.digest == digest,
                    ScanReport.registration_uuid == registration_uuid,
                    ScanReport.mime_type == GENERIC_REPORT,
                )
            ).one_or_none()
            if row is None:
                row = ScanReport(
                    digest=digest,
                    registration_uuid=registration_uuid,
                    mime_type=GENERIC_REPORT,
                )
                session.add(row)
            row.uuid = str(uuid.uuid4())
            row.status = status
            row.start_time = started or datetime.now(UTC)
            row.end_time = None
            row.log = ""
            report_id = row.uuid
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()
    return report_id
