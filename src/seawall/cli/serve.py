"""`seawall serve`: prepare the database and data folder, then run the server."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import click
import structlog

from seawall.cli.options import load_settings, settings_options
from seawall.logs import configure_logging

logger = structlog.get_logger(__name__)

HEADER_READ_TIMEOUT_MS = 5000


@click.command()
@settings_options
def serve(**options: Any) -> None:
    """Run the registry server."""
    settings = load_settings(options)
    configure_logging(settings.log_format, settings.log_level)
    os.environ["SEAWALL_DATA_DIR"] = str(settings.data_dir.resolve())
    # A child process migrates and bootstraps, so this long-lived process,
    # which the server's workers fork from, stays small.
    result = subprocess.run([sys.executable, "-m", "seawall", "migrate"], check=False)
    if result.returncode != 0:
        raise click.ClickException("preparing the database failed; see the log above")
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
        runtime_threads=2,
        # A client gets this long to send its request headers, so idle
        # connections cannot hold every slot for long.
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
    ).serve()
