"""The vulnerability gate on a registry that has no advisories imported yet.

An empty advisory database matches nothing, so a scan against it finds no
vulnerability in any image. The gate rejects such images until advisories
are imported, and the next pull after an import rebuilds the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.scanning import (
    ADMIN,
    admin_api,
    artifact_path,
    create_project,
    import_unrelated_advisory,
    push,
    scan_and_wait,
    scanning_registry,
)
from tests.support.server import RunningRegistry

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@pytest.fixture(scope="module")
def empty_registry(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[RunningRegistry]:
    with scanning_registry(tmp_path_factory, testdata, "empty", zips=()) as running:
        yield running


def pull_manifest(registry: RunningRegistry, repository: str) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{repository}/manifests/1.0",
        headers={"Accept": MANIFEST_ACCEPT},
        auth=ADMIN,
        timeout=60,
    )


def test_gate_rejects_until_advisory_import(
    empty_registry: RunningRegistry, testdata: Path, tmp_path: Path
) -> None:
    with admin_api(empty_registry) as api:
        create_project(api, "gated", prevent_vul="true", severity="high")
        push(empty_registry, testdata, "clean", "1.0", "gated/app:1.0")
        overview = scan_and_wait(api, "gated", "app", "1.0")
        log = api.get(
            f"{artifact_path('gated', 'app', '1.0')}/scan/{overview['report_id']}/log"
        )

    rejected = pull_manifest(empty_registry, "gated/app")
    assert rejected.status_code == 412, rejected.text
    (error,) = rejected.json()["errors"]
    assert error["message"].startswith(
        "current image was scanned before any vulnerability advisories were imported"
    )
    assert log.status_code == 200, log.text
    assert "no vulnerability advisories are imported" in log.text
    server_log = empty_registry.log_path.read_text(errors="replace")
    assert "scan ran without vulnerability advisories" in server_log

    import_unrelated_advisory(empty_registry, tmp_path)

    allowed = pull_manifest(empty_registry, "gated/app")
    assert allowed.status_code == 200, allowed.text
