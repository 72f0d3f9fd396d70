"""`seawall serve`: prepare the database and data folder, then run the server."""

from __future__ import annotations

import os
from typing import Any

import click
import structlog
from pydantic import SecretStr, ValidationError

from seawall.auth.tokens import ensure_signing_key
from seawall.context import signing_key_path
from seawall.db import Database, upgrade_schema
from seawall.logs import configure_logging
from seawall.registry.bootstrap import admin_has_default_password, bootstrap
from seawall.settings import Settings

logger = structlog.get_logger(__name__)

HEADER_READ_TIMEOUT_MS = 5000


def _settings_options(command: Any) -> Any:
    """Add one `--option` per settings field, with its variable and description."""
    for name, field in reversed(Settings.model_fields.items()):
        env = f"SEAWALL_{name.upper()}"
        default = field.default
        if isinstance(default, SecretStr):
            default = "(hidden)"
        help_text = f"{field.description} [env {env}; default {default}]"
        command = click.option(
            f"--{name.replace('_', '-')}", name, default=None, help=help_text
        )(command)
    return command


def _load_settings(given: dict[str, Any]) -> Settings:
    values = {key: value for key, value in given.items() if value is not None}
    try:
        settings = Settings(**values)
    except (ValidationError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    # Worker processes rebuild their settings from the environment, so
    # command-line values are passed on as variables.
    for key, value in values.items():
        os.environ[f"SEAWALL_{key.upper()}"] = str(value)
    return settings


def prepare(settings: Settings) -> None:
    """Create the data folder, migrate the schema and create the first objects."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["SEAWALL_DATA_DIR"] = str(settings.data_dir.resolve())
    ensure_signing_key(signing_key_path(settings))
    upgrade_schema(settings.resolved_database_url)
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


@click.command()
@_settings_options
def serve(**options: Any) -> None:
    """Run the registry server."""
    settings = _load_settings(options)
    configure_logging(settings.log_format, settings.log_level)
    prepare(settings)
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    logger.info(
        "server starting",
        listen=settings.listen,
        data_dir=str(settings.data_dir),
        database=settings.resolved_database_url.split("@")[-1],
        workers=settings.workers,
    )
    Granian(
        "seawall.app:create_app_from_environment",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        log_enabled=True,
        backlog=4096,
        # A client gets this long to send its request headers, so idle
        # connections cannot hold every slot for long.
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
    ).serve()
