"""Run the registry's HTTP server in a process that holds only the server.

`seawall serve` reads the settings, prepares the database, then replaces
itself with this module. The process that remains supervises the worker
processes, which fork from it and load the registry themselves, so it
needs nothing but Granian.
"""

from __future__ import annotations

import os
import signal
import sys

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings

APP_FACTORY = "seawall.app:create_app_from_environment"
HEADER_READ_TIMEOUT_MS = 5000


def restore_default_stop_signals() -> None:
    """Let SIGINT and SIGTERM end a new worker until Granian takes them over.

    Workers fork from this process and inherit Granian's main-process
    handlers, which only wake the main process's loop. A worker that gets
    a stop signal while it still builds the app would ignore it, keep
    serving, and leave the main process waiting for it forever.

    NOTE: a signal that arrives between the fork and this hook is still lost.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run(address: str, port: int, workers: int) -> None:
    """Serve the registry app on `address:port` until stopped."""
    os.register_at_fork(after_in_child=restore_default_stop_signals)
    Granian(
        APP_FACTORY,
        address=address,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_enabled=True,
        backlog=4096,
        runtime_threads=2,
        # A client gets this long to send its request headers, so idle
        # connections cannot hold every slot for long.
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
    ).serve()


def main(argv: list[str]) -> None:
    address, port, workers = argv
    run(address, int(port), int(workers))


if __name__ == "__main__":
    main(sys.argv[1:])
