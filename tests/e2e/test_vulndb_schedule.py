"""A server with `vulndb_source` set imports that folder's advisories on its own."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from seawall.db import Database
from seawall.vulndb.store import import_history
from tests.support import databases
from tests.support.server import ADMIN_PASSWORD, start_registry


def test_configured_source_is_imported_at_start(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> None:
    source = tmp_path_factory.mktemp("advisories")
    shutil.copy(testdata / "osv" / "npm.zip", source / "npm.zip")
    data_dir = tmp_path_factory.mktemp("schedule-registry")
    with (
        databases.test_database_url(tmp_path_factory.mktemp("schedule-db")) as url,
        start_registry(
            data_dir, url, {"SEAWALL_VULNDB_SOURCE": str(source)}
        ) as running,
    ):
        database = Database(url)
        try:
            deadline = time.monotonic() + 60
            history = []
            while time.monotonic() < deadline and not history:
                with database.session(read_only=True) as session:
                    history = [
                        (row.source, row.record_count)
                        for row in import_history(session)
                    ]
                time.sleep(0.2)
        finally:
            database.dispose()
        assert len(history) == 1
        imported_from, count = history[0]
        assert imported_from.endswith("npm.zip")
        assert count > 0

        scanners = httpx.get(
            f"{running.url}/api/v2.0/scanners",
            auth=("admin", ADMIN_PASSWORD),
            timeout=60,
        ).json()
        (builtin,) = [item for item in scanners if item["name"] == "Seawall"]
        metadata = httpx.get(
            f"{running.url}/api/v2.0/scanners/{builtin['uuid']}/metadata",
            auth=("admin", ADMIN_PASSWORD),
            timeout=60,
        ).json()
        updated = metadata["properties"][
            "harbor.scanner-adapter/vulnerability-database-updated-at"
        ]
        assert updated.startswith("20")
