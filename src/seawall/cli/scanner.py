"""`seawall scanner`: run Seawall's scanner as a Harbor pluggable scanner adapter."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import click
import structlog

from seawall.cli.options import load_settings
from seawall.logs import configure_logging
from seawall.settings import Settings

logger = structlog.get_logger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"
# Settings that apply to the adapter; the rest belong to the registry server.
ADAPTER_SETTINGS = (
    "config",
    "data_dir",
    "database_url",
    "log_format",
    "log_level",
    "scan_workers",
    "scan_max_layer_bytes",
    "max_manifest_bytes",
)
_CLICK_TYPES: dict[object, click.types.ParamType[Any]] = {int: click.INT}


def adapter_settings_options(command: Any) -> Any:
    """Add one `--option` per adapter setting, with the setting's description."""
    for name in reversed(ADAPTER_SETTINGS):
        field = Settings.model_fields[name]
        command = click.option(
            f"--{name.replace('_', '-')}",
            name,
            default=None,
            type=_CLICK_TYPES.get(field.annotation),
            help=f"{field.description} [env SEAWALL_{name.upper()}; default {field.default}]",
        )(command)
    return command


@click.group(short_help="Serve Seawall's scanner to Harbor as a scanner adapter.")
def scanner() -> None:
    """Run Seawall's scanner as a scanner adapter for Harbor or another registry."""


@scanner.command()
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    help="Address and port the adapter binds, HOST:PORT.",
)
@click.option(
    "--api-key",
    default=None,
    help=(
        "Key that clients must send in X-ScannerAdapter-API-Key or as a Bearer "
        "token. Other local users can read command lines, so prefer --api-key-file."
    ),
)
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File whose first line is the API key.",
)
@adapter_settings_options
def serve(
    listen: str, api_key: str | None, api_key_file: Path | None, **options: Any
) -> None:
    """Serve the scanner adapter API on /api/v1 with the advisories of DATABASE_URL.

    Import advisories into the same database with `seawall vulndb import`.
    """
    from seawall.cli.migrate import open_schema
    from seawall.scan.adapter.server import AdapterOptions, create_adapter_app

    settings = load_settings({**options, "listen": listen})
    configure_logging(settings.log_format, settings.log_level)
    key = _api_key(api_key, api_key_file)
    open_schema(settings)
    app = create_adapter_app(settings, AdapterOptions(api_key=key))
    if not key:
        logger.warning(
            "scanner adapter runs without an API key; anyone who can reach it can "
            "make it pull from any registry",
            listen=settings.listen,
        )
    logger.info(
        "scanner adapter starting",
        listen=settings.listen,
        database=settings.resolved_database_url.split("@")[-1],
        scan_workers=settings.scan_workers,
    )
    asyncio.run(_serve(app, settings.host, settings.port))
    logger.info("scanner adapter stopped", listen=settings.listen)


def _api_key(api_key: str | None, api_key_file: Path | None) -> str:
    if api_key and api_key_file:
        raise click.UsageError("give either --api-key or --api-key-file, not both")
    if api_key_file is not None:
        lines = api_key_file.read_text().splitlines()
        key = lines[0].strip() if lines else ""
        if not key:
            raise click.UsageError(f"API key file {api_key_file} is empty")
        return key
    return api_key or ""


async def _serve(app: Any, host: str, port: int) -> None:
    # The adapter keeps scan results in memory, so it must run as one
    # process. Granian's embedded server runs the application object in this
    # process instead of starting worker processes.
    # NOTE: Granian 2.8 marks its embedded server as experimental.
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(app, address=host, port=port, interface=Interfaces.ASGI)
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, server.stop)
    await server.serve()
