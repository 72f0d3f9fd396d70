"""Run the registry's HTTP server in a process that holds only the server.

`seawall serve` reads the settings, prepares the database, then replaces
itself with this module. The process that remains supervises the worker
processes, which fork from it and load the registry themselves, so it
needs nothing but Granian.
"""

from __future__ import annotations

import sys

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings

APP_FACTORY = "seawall.app:create_app_from_environment"
HEADER_READ_TIMEOUT_MS = 5000


def run(address: str, port: int, workers: int) -> None:
    """Serve the registry app on `address:port` until stopped."""
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
