"""`seawall migrate`: prepare the data folder and the database for a server.

`seawall serve` runs this as a separate process before it starts the
server, so the long-lived server processes never import the migration and
bootstrap code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import structlog

from seawall.cli.options import DATABASE_SETTINGS, load_settings, settings_options_for
from seawall.logs import configure_logging
from seawall.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.exc import OperationalError

logger = structlog.get_logger(__name__)

# libpq's port when a PostgreSQL URL names none.
POSTGRESQL_DEFAULT_PORT = 5432


def create_data_dir(path: Path) -> None:
    """Create the data folder, or exit with one line when it cannot hold files."""
    if path.exists() and not path.is_dir():
        raise click.ClickException(
            f"data folder {path} exists but is not a folder; set --data-dir "
            "or SEAWALL_DATA_DIR to a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(
            f"cannot create data folder {path}: {exc.strerror}"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise click.ClickException(
            f"data folder {path} is not writable by this user; change its "
            "permissions or set --data-dir or SEAWALL_DATA_DIR"
        )


def prepare(settings: Settings) -> None:
    """Create the data folder, migrate the schema and create the first objects."""
    # Imported here, so that `seawall serve`, which loads this module to
    # list its commands, does not load the database and bootstrap code.
    from seawall.auth.tokens import ensure_signing_key
    from seawall.context import signing_key_path
    from seawall.db import Database
    from seawall.db.migrate import upgrade_schema
    from seawall.registry.bootstrap import admin_has_default_password, bootstrap

    create_data_dir(settings.data_dir)
    os.environ["SEAWALL_DATA_DIR"] = str(settings.data_dir.resolve())
    ensure_signing_key(signing_key_path(settings))
    upgrade_schema(settings.resolved_database_url)
    _restrict_sqlite_files(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            bootstrap(session, settings.admin_password.get_secret_value())
            default_password = admin_has_default_password(session)
    finally:
        database.dispose()
    if default_password:
        logger.warning(
            "admin password is the public default; set SEAWALL_ADMIN_PASSWORD before "
            "the first start, or change the password, before anyone else can reach "
            "this registry",
            username="admin",
        )


def _restrict_sqlite_files(settings: Settings) -> None:
    """Make the default SQLite database readable by its owner only.

    It contains password hashes, and other local users have no reason to read it.
    """
    if settings.database_url:
        return
    database = settings.data_dir / "seawall.db"
    for path in (
        database,
        database.with_name("seawall.db-wal"),
        database.with_name("seawall.db-shm"),
    ):
        if path.exists():
            path.chmod(0o600)


def describe_database_error(url: str, error: OperationalError) -> str:
    """Return one line that explains the database failure, without the password of `url`.

    A PostgreSQL connection that fails before the server responds (refused,
    timed out, no such socket) is reported as a server that could not be
    reached. A server that responds and rejects the connection, for example
    because the database does not exist, gets the server's own reason.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    text = str(error.orig if error.orig is not None else error).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    if parsed.get_backend_name() == "sqlite":
        return (
            f"cannot open the SQLite database {parsed.database}: {reason}; check "
            "that its folder exists and is writable, or set SEAWALL_DATABASE_URL"
        )

    return _describe_postgresql_error(
        _server_address(parsed), str(parsed.database), reason
    )


def _describe_postgresql_error(where: str, database: str, reason: str) -> str:
    # libpq reports a failed connection as 'connection to server at "HOST",
    # port PORT failed: REASON' (or 'on socket "PATH"'), and REASON starts
    # with "FATAL:" when the server responded and rejected the connection.
    # psycopg enforces the connect timeout itself and names no server.
    if "connection to server " in reason:
        reason = reason.rpartition(" failed: ")[2].strip()
    elif "timeout expired" not in reason:
        return f"database {database} on {where} failed: {reason}"
    if reason.startswith("FATAL:"):
        reason = reason.removeprefix("FATAL:").strip()
        if reason.startswith('database "') and reason.endswith("does not exist"):
            advice = "create it first, for example with createdb"
        else:
            advice = "check the user and password in SEAWALL_DATABASE_URL"
        return f"database server at {where} rejected the connection: {reason}; {advice}"
    return (
        f"database server at {where} could not be reached: {reason}; check that "
        "it is running and that SEAWALL_DATABASE_URL names its host and port"
    )


def _server_address(url: URL) -> str:
    """Name the server of a PostgreSQL URL as HOST:PORT or by its socket folder."""
    port = url.port or POSTGRESQL_DEFAULT_PORT
    # libpq also takes the host from the query string, for a socket folder.
    host = url.host or url.query.get("host")
    if isinstance(host, tuple):
        host = ",".join(host)
    if not host:
        return f"the local Unix socket (port {port})"
    if host.startswith("/"):
        return f"the Unix socket in {host} (port {port})"
    return f"{host}:{port}"


def open_schema(settings: Settings) -> None:
    """Create the data folder and upgrade the database schema, or exit with one line."""
    from sqlalchemy.exc import OperationalError

    from seawall.db.migrate import upgrade_schema

    create_data_dir(settings.data_dir)
    try:
        upgrade_schema(settings.resolved_database_url)
    except OperationalError as exc:
        message = describe_database_error(settings.resolved_database_url, exc)
        raise click.ClickException(message) from None


@click.command(short_help="Prepare the data folder and upgrade the database.")
@settings_options_for(*DATABASE_SETTINGS, "admin_password")
def migrate(**options: Any) -> None:
    """Create the data folder, upgrade the database schema and create admin and library."""
    from sqlalchemy.exc import OperationalError

    settings = load_settings(options)
    configure_logging(settings.log_format, settings.log_level)
    try:
        prepare(settings)
    except OperationalError as exc:
        message = describe_database_error(settings.resolved_database_url, exc)
        raise click.ClickException(message) from None
