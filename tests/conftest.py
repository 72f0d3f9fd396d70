"""Fixtures shared by every test layer: a live registry on a free loopback port.

The metadata backend comes from `SEAWALL_TEST_DATABASE`: `sqlite` (default)
or `postgresql`, which creates a fresh database on the PostgreSQL server
named by `SEAWALL_TEST_POSTGRES_URL` and drops it afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import test_database_url
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with test_database_url(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[RunningRegistry]:
    """A `seawall serve` process shared by the whole session."""
    data_dir = tmp_path_factory.mktemp("registry-data")
    with start_registry(data_dir, database_url) as running:
        yield running


@pytest.fixture
def admin_client(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
    ) as client:
        yield client


@pytest.fixture
def anonymous_client(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=60) as client:
        yield client


TESTDATA = Path(
    os.environ.get(
        "SEAWALL_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
)


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared registry test kit: OCI layouts, advisories and keys."""
    if not (TESTDATA / "images").is_dir():
        pytest.fail(
            f"test data not found at {TESTDATA}; put the registry test kit there "
            "or set SEAWALL_TESTDATA to its folder"
        )
    return TESTDATA
