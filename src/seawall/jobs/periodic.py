"""Timed background work of a server process.

With several server processes on one data folder, work that must happen
once per interval (advisory imports, scheduled scans) runs only in the
process that holds an exclusive lock on a file in the data folder. The
first process to take the lock keeps it until it exits. The others try
again each round, so the work moves on when that process dies.
"""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import Callable
from pathlib import Path
from typing import IO

import structlog
from starlette.concurrency import run_in_threadpool

logger = structlog.get_logger(__name__)


class LeaderLock:
    """An exclusive lock on a file, taken without waiting and kept once held."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def held(self) -> bool:
        if self._file is not None:
            return True
        file = self._path.open("a")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def every(
    seconds: float, name: str, work: Callable[[], object], *, lock: Path | None = None
) -> None:
    """Run `work` in a thread now and then every `seconds`, logging failures."""
    leader = LeaderLock(lock) if lock is not None else None
    try:
        while True:
            try:
                if leader is None or leader.held():
                    await run_in_threadpool(work)
            except Exception:
                logger.exception("periodic work failed", job=name)
            await asyncio.sleep(seconds)
    finally:
        if leader is not None:
            leader.release()
