"""Fixtures for the advisory database tests: empty databases and the kit's zips."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from seawall.db import Database
from seawall.db.migrate import upgrade_schema
from seawall.scan.model import Inventory, Package
from seawall.vulndb import import_sources
from tests.support.databases import test_database_url

ORIGINAL_ZIPS = ("pypi.zip", "npm.zip", "maven.zip", "debian-12.zip")
ALL_ZIPS = (*ORIGINAL_ZIPS, "ghsa-pypi.zip")
# Ecosystems whose advisories name source packages.
DISTRIBUTIONS = {"Debian", "Ubuntu", "Alpine"}


@contextmanager
def migrated_database(folder: Path) -> Iterator[Database]:
    with test_database_url(folder) as url:
        upgrade_schema(url)
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


@pytest.fixture
def advisory_db(tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated metadata database for one test."""
    with migrated_database(tmp_path) as database:
        yield database


@pytest.fixture(scope="session")
def kit_db(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[Database]:
    """A database holding all five OSV zips of the test kit."""
    folder = tmp_path_factory.mktemp("kit-db")
    with migrated_database(folder) as database:
        results = import_sources(
            database, [str(testdata / "osv" / z) for z in ALL_ZIPS]
        )
        failed = [result.message for result in results if not result.ok]
        assert failed == []
        yield database


@pytest.fixture(scope="session")
def original_kit_db(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[Database]:
    """A database holding the four original zips (no ghsa-pypi.zip)."""
    folder = tmp_path_factory.mktemp("original-kit-db")
    with migrated_database(folder) as database:
        sources = [str(testdata / "osv" / z) for z in ORIGINAL_ZIPS]
        results = import_sources(database, sources)
        assert [result.message for result in results if not result.ok] == []
        yield database


@pytest.fixture(scope="session")
def expected(testdata: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((testdata / "expected-findings.json").read_text())
    return data


def kit_inventory(packages: list[dict[str, Any]]) -> Inventory:
    """Build an inventory from the package list of one image in expected-findings.json."""
    result = []
    for entry in packages:
        release = entry["ecosystem"]
        base = release.split(":", 1)[0]
        source = entry.get("source") if base in DISTRIBUTIONS else None
        result.append(
            Package(
                name=entry["name"],
                version=entry["version"],
                ecosystem=base,
                ecosystem_release=release,
                purl=f"pkg:generic/{entry['name']}@{entry['version']}",
                source_name=source,
                layer_index=entry["layer"],
                location=entry["path"],
            )
        )
    return Inventory(manifest_digest="sha256:" + "0" * 64, packages=result)
