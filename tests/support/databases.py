"""Metadata databases for tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def selected_backend() -> str:
    backend = os.environ.get("SEAWALL_TEST_DATABASE", "sqlite")
    if backend not in {"sqlite", "postgresql"}:
        raise ValueError(
            f"SEAWALL_TEST_DATABASE must be sqlite or postgresql, got {backend!r}"
        )
    return backend


@contextmanager
def test_database_url(folder: Path) -> Iterator[str]:
    """Yield a SQLAlchemy URL for an empty database of the selected backend."""
    if selected_backend() == "sqlite":
        yield f"sqlite:///{folder / 'seawall.db'}"
        return
    admin_url = os.environ.get("SEAWALL_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"seawall_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
