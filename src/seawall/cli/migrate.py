"""`seawall migrate`: prepare the data folder and the database for a server.

`seawall serve` runs this as a separate process before it starts the
server, so the long-lived server processes never import the migration and
bootstrap code.
"""

from __future__ import annotations

import os
from typing import Any

import click
import structlog

from seawall.cli.options import DATABASE_SETTINGS, load_settings, settings_options_for
from seawall.logs import configure_logging
from seawall.settings import Settings

logger = structlog.get_logger(__name__)


def prepare(settings: Settings) -> None:
    """Create the data folder, migrate the schema and create the first objects."""
    # Imported here, so that `seawall serve`, which loads this module to
    # list its commands, does not load the database and bootstrap code.
    from seawall.auth.tokens import ensure_signing_key
    from seawall.context import signing_key_path
    from seawall.db import Database
    from seawall.db.migrate import upgrade_schema
    from seawall.registry.bootstrap import admin_has_default_password, bootstrap

    settings.data_dir.mkdir(parents=True, exist_ok=True)
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
        where = settings.resolved_database_url.split("@")[-1]
        raise click.ClickException(
            f"cannot open the database {where}: {exc.orig}; create it first, "
            "for example with createdb, and check SEAWALL_DATABASE_URL"
        ) from None
