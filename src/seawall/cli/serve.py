"""`seawall serve`: prepare the database and data folder, then run the server."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import click
import structlog

from seawall.cli.migrate import create_data_dir
from seawall.cli.options import load_settings, settings_options
from seawall.logs import configure_logging

logger = structlog.get_logger(__name__)

# Granian copies each response chunk into memory from its own jemalloc.
# With purging off, that jemalloc keeps the pages it frees, so a transfer
# does not fault in again what the previous one returned.
# docs/architecture.md gives the figures.
GRANIAN_ALLOCATOR_VARIABLE = "_RJEM_MALLOC_CONF"
GRANIAN_ALLOCATOR_OPTIONS = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def check_address_free(host: str, port: int) -> str:
    """Exit with a clear message when another program listens on `host:port`.

    Granian binds with `SO_REUSEPORT`, so a second registry on the same
    address would otherwise start and share the connections with the first.
    A plain socket cannot join such a group, so its bind fails while any
    program listens there. Returns the numeric address the probe bound,
    because Granian accepts only an IP address, without IPv6 brackets.
    """
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(
            f"cannot resolve listen address {host}: {exc}"
        ) from exc
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise click.ClickException(
                    f"cannot listen on {host}:{port}: {exc.strerror}"
                ) from exc
            raise click.ClickException(
                f"{host}:{port} is already in use by another program; stop it, "
                "or choose another address with SEAWALL_LISTEN or --listen"
            ) from exc
    return str(address[0])


def run_migrate() -> tuple[int, int | None]:
    """Run `seawall migrate` as a child and return its exit code and any stop signal.

    SIGINT and SIGTERM sent to this process reach the child as SIGTERM, and
    the child is waited for, so a stopped serve never leaves a migration
    running alone. The child starts with SIGINT ignored, so a Ctrl-C sent to
    the whole process group does not interrupt it with a traceback.
    NOTE: a SIGINT that arrives while the child is being started is ignored.
    """
    child: subprocess.Popen[bytes] | None = None
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if child is not None:
            child.terminate()

    previous_term = signal.signal(signal.SIGTERM, forward)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = subprocess.Popen([sys.executable, "-m", "seawall", "migrate"])
        signal.signal(signal.SIGINT, forward)
        if received:
            child.terminate()
        returncode = child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
    return returncode, received[0] if received else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@click.command()
@settings_options
def serve(**options: Any) -> None:
    """Run the registry server."""
    settings = load_settings(options)
    configure_logging(settings.log_format, settings.log_level)
    bind_address = check_address_free(settings.host, settings.port)
    create_data_dir(settings.data_dir)
    os.environ["SEAWALL_DATA_DIR"] = str(settings.data_dir.resolve())
    # A child process migrates and bootstraps, so none of that code stays
    # loaded here.
    returncode, stop_signal = run_migrate()
    if stop_signal is not None:
        raise click.ClickException(
            f"stopped by {signal.Signals(stop_signal).name} before the server started"
        )
    if returncode < 0:
        raise click.ClickException(
            "preparing the database failed: seawall migrate was killed by "
            f"{_signal_name(-returncode)}"
        )
    if returncode > 0:
        # The child has printed its reason on stderr already, as one line or
        # a traceback, so another line here would only repeat it.
        raise SystemExit(returncode)
    logger.info(
        "server starting",
        listen=settings.listen,
        data_dir=str(settings.data_dir),
        database=settings.resolved_database_url.split("@")[-1],
        workers=settings.workers,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # This process becomes a plain Granian main process, so the workers
    # that fork from it start without the modules loaded here. Settings
    # given as options reach the workers through the environment.
    arguments = [bind_address, str(settings.port), str(settings.workers)]
    launcher = [sys.executable, "-m", "seawall.launcher", *arguments]
    os.environ.setdefault(GRANIAN_ALLOCATOR_VARIABLE, GRANIAN_ALLOCATOR_OPTIONS)
    os.execv(sys.executable, launcher)  # noqa: S606 (fixed argument list, no shell)
