"""Run the registry's HTTP server in a process that holds only the server.

`seawall serve` reads the settings, prepares the database, then replaces
itself with this module. The process that remains supervises the worker
processes, which fork from it and load the registry themselves, so it
needs nothing but Granian. A worker that exits on its own, for example
one the kernel's OOM killer ends with SIGKILL, is replaced by a new one.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from typing import Any

from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import logger
from granian.server.mp import MPServer

APP_FACTORY = "seawall.app:create_app_from_environment"
HEADER_READ_TIMEOUT_MS = 5000

# More worker crashes than this, per configured worker, within the window
# stop the whole server with exit status 1, so a worker that cannot start
# is not replaced in a loop forever.
MAX_CRASHES_PER_WORKER = 3
CRASH_WINDOW_SECONDS = 60.0


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


def describe_exit(exitcode: int | None) -> str:
    """Describe a `multiprocessing` exit code, negative for a signal."""
    if exitcode is None:
        return "exited"
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"was killed by signal {-exitcode}"


class RespawningServer(MPServer):
    """Granian's process server that replaces crashed workers up to a crash rate.

    Granian 2.8 replaces a worker that exits on its own when
    `respawn_failed_workers` is set, and stops when the same worker crashes
    again within 5.5 s of being replaced. With two or more workers that
    crash in turn, it tracks only the latest replacement and never stops,
    so this class counts the crashes of all workers within a time window.

    NOTE: this overrides `_respawn_workers` and sets fields of Granian
    2.8's main loop, which are not a public interface and may change.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.respawn_failed_workers = True
        self.crash_times: deque[float] = deque()

    def _respawn_workers(
        self,
        workers: list[int],
        spawn_target: Any,
        target_loader: Any,
        delay: float = 0,
    ) -> None:
        # Granian also calls this for live workers, to replace them on
        # SIGHUP or at their lifetime or memory limit, which are not crashes.
        crashed = [idx for idx in workers if not self.wrks[idx].inner.is_alive()]
        if crashed and not self.record_crashes(crashed):
            # The main loop stops at its next turn, and a non-empty list
            # of failed workers makes Granian exit with status 1.
            self.interrupt_children.extend(crashed)
            self.interrupt_signal = True
            self.main_loop_interrupt.set()
            return
        super()._respawn_workers(workers, spawn_target, target_loader, delay)

    def record_crashes(self, crashed: list[int]) -> bool:
        """Log the crashed workers and return whether the server may replace them."""
        now = time.monotonic()
        limit = MAX_CRASHES_PER_WORKER * self.workers
        while self.crash_times and now - self.crash_times[0] > CRASH_WINDOW_SECONDS:
            self.crash_times.popleft()
        for idx in crashed:
            self.crash_times.append(now)
            worker = self.wrks[idx]
            logger.warning(
                f"worker-{idx + 1} (PID {worker.inner.pid}) "
                f"{describe_exit(worker.inner.exitcode)}; worker crashes in the "
                f"last {CRASH_WINDOW_SECONDS:.0f} s: {len(self.crash_times)} of "
                f"at most {limit}"
            )
        if len(self.crash_times) <= limit:
            return True
        logger.error(
            f"workers crashed {len(self.crash_times)} times in "
            f"{CRASH_WINDOW_SECONDS:.0f} s, more than {limit}; stopping the server"
        )
        return False


def run(address: str, port: int, workers: int) -> None:
    """Serve the registry app on `address:port` until stopped."""
    os.register_at_fork(after_in_child=restore_default_stop_signals)
    RespawningServer(
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
