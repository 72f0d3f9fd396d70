"""Read directly written upload ranges back into the page cache.

An `O_DIRECT` write leaves nothing in the page cache, so the first pull of
a new blob would read the disk. After each direct write, the appender
requests a read of the range (`POSIX_FADV_WILLNEED`), and the disk fills
the pages by DMA at little CPU cost. The range is then queued here, and a
background thread reads it once more with `pread`.

That second read is for virtual machines whose host backs guest memory
lazily and takes free pages back. There, the first access of a page by
any guest CPU is slow, even after the disk filled it: about 1 to 1.7 s
per GiB on the 2-core development VM, against 0.12 s once accessed. The
thread pays that cost off the request path, so a pull right after the
push reads memory at full speed. Elsewhere the second read costs one copy.

The thread reads with `pread` into a reused buffer rather than through a
mapping: an upload cut back after a failed append would turn a mapped
access past its new end into SIGBUS, while `pread` returns short.
"""

from __future__ import annotations

import mmap
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import structlog

logger = structlog.get_logger(__name__)

# Linux caps one readahead request at the larger of the device's readahead
# window and its largest transfer; 1 MiB fits within that on common disks.
READ_BACK_SLICE = 1024 * 1024
# Ranges queued beyond this are left to the first pull, so a burst of
# pushes cannot queue unbounded work or hold many file descriptors.
MAX_PENDING_BYTES = 256 * 1024 * 1024
# The thread reads into one buffer of this size, which stays resident.
SCRATCH_BYTES = 1024 * 1024


def request_read_back(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to read a file range into the page cache without waiting."""
    end = offset + length
    while offset < end:
        count = min(READ_BACK_SLICE, end - offset)
        os.posix_fadvise(fd, offset, count, os.POSIX_FADV_WILLNEED)
        offset += count


class PageCacheWarmer:
    """One background thread that reads queued file ranges once, in order."""

    def __init__(self, max_pending: int = MAX_PENDING_BYTES) -> None:
        self.max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._executor: ThreadPoolExecutor | None = None
        self._scratch: memoryview | None = None

    def submit(self, fd: int, offset: int, length: int) -> bool:
        """Queue a read of `length` bytes at `offset` of the file open as `fd`.

        The range is read through a duplicate of `fd`, so the caller may
        close its own at once. Returns False, and queues nothing, when the
        queue already contains `max_pending` bytes.
        """
        with self._lock:
            if self._pending + length > self.max_pending:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="page-cache-warmer"
                )
            duplicate = os.dup(fd)
            self._pending += length
        try:
            self._executor.submit(self._read, duplicate, offset, length)
        except RuntimeError:
            # The interpreter is shutting down and takes no new work.
            self._done(duplicate, length)
            return False
        return True

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued range was read; return False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _read(self, fd: int, offset: int, length: int) -> None:
        try:
            if self._scratch is None:
                self._scratch = memoryview(mmap.mmap(-1, SCRATCH_BYTES))
            end = offset + length
            while offset < end:
                count = os.preadv(
                    fd, [self._scratch[: min(SCRATCH_BYTES, end - offset)]], offset
                )
                if count == 0:
                    break  # the file was cut back since the range was queued
                offset += count
        except OSError as exc:
            # The pages only stay unread, and the first pull reads them.
            logger.warning(
                "reading an upload back into the page cache failed",
                offset=offset,
                error=str(exc),
            )
        finally:
            self._done(fd, length)

    def _done(self, fd: int, length: int) -> None:
        os.close(fd)
        with self._idle:
            self._pending -= length
            self._idle.notify_all()


PAGE_CACHE_WARMER = PageCacheWarmer()
