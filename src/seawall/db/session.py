"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Without a limit, a connection waits forever on a server that accepts the
# TCP connection but sends nothing back, and for the system's TCP timeout,
# which takes minutes, on a host that drops packets. A `connect_timeout` in the
# database URL replaces this value.
POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets readers run beside the single writer. busy_timeout makes a
    # second worker process wait for the write lock instead of failing.
    # The driver's own transaction handling is turned off, because it sends
    # no BEGIN before a SAVEPOINT and nested blocks would commit on their own.
    # `_begin_sqlite` starts every transaction instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    # A transaction that will write takes the write lock at its start.
    # A deferred one that reads first and writes later could find the
    # database changed under it and fail with SQLITE_BUSY instead of waiting.
    if connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


WRITE_OPTION = "seawall_write"


def make_engine(url: str) -> Engine:
    """Create an engine with the per-backend connection settings."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    # Parameters stay out of error messages, which reach the log, because they
    # can hold password and secret hashes.
    return create_engine(
        url,
        connect_args=postgresql_connect_args(url),
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def postgresql_connect_args(url: str) -> dict[str, Any]:
    """Return the driver arguments that `url` does not set itself."""
    if "connect_timeout" in make_url(url).query:
        return {}
    return {"connect_timeout": POSTGRESQL_CONNECT_TIMEOUT_SECONDS}


class Database:
    """An engine with its session factory; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._writers = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
        )
        self._readers = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """Open a session that commits once on success and rolls back on error.

        On SQLite a session that may write takes the write lock when it
        begins, so writers queue instead of failing. Pass `read_only=True`
        for sessions that only read, so they run beside writers.
        """
        factory = self._readers if read_only else self._writers
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
