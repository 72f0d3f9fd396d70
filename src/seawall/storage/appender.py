"""Append request bodies to an upload file with direct I/O where possible.

Writing a large blob through the page cache costs the kernel a page
allocation and a copy per 4 KiB, then a second pass when the data is
flushed at commit. Whole blocks at block-aligned offsets are written with
`O_DIRECT` instead, straight from a page-aligned staging buffer, so the
disk does the work by DMA while the CPU hashes. Unless read-back is off,
each such range is then read back into the page cache in the background
(`storage.readback`), so a pull soon after the push reads memory. Bytes
that do not fill a block, and appends that start at an unaligned offset,
go through an ordinary buffered write. Filesystems without `O_DIRECT`
(tmpfs) get buffered writes only.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import mmap
import os
import threading
from pathlib import Path
from typing import Literal

from seawall.storage.readback import PAGE_CACHE_WARMER, request_read_back

BLOCK_SIZE = 4096
STAGING_BYTES = 4 * 1024 * 1024
# In writeback mode, data older than this is waited for, which bounds the
# dirty pages of one upload and keeps the final fsync short.
WRITEBACK_LAG_BYTES = 64 * 1024 * 1024

WriteMode = Literal["direct", "writeback"]

_libc = ctypes.CDLL(None, use_errno=True)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [
        ctypes.c_int,
        ctypes.c_int64,
        ctypes.c_int64,
        ctypes.c_uint,
    ]
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4


def _sync_range(fd: int, offset: int, length: int, flags: int) -> None:
    """Ask the kernel to write a file range back (Linux `sync_file_range`)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, flags)


class StagingBuffer:
    """A page-aligned buffer that collects chunks until it contains a whole batch."""

    def __init__(self, capacity: int = STAGING_BYTES) -> None:
        self._memory = mmap.mmap(-1, capacity)
        self.view = memoryview(self._memory)
        self.capacity = capacity
        self.length = 0

    def fill(self, data: memoryview) -> int:
        """Copy as much of `data` as fits and return how many bytes were taken."""
        count = min(len(data), self.capacity - self.length)
        self.view[self.length : self.length + count] = data[:count]
        self.length += count
        return count

    @property
    def full(self) -> bool:
        return self.length == self.capacity

    def close(self) -> None:
        self.view.release()
        self._memory.close()


class StagingPool:
    """Staging buffers kept for reuse across requests.

    A fresh buffer costs a page fault per 4 KiB the first time it is
    filled. A chunked push sends one request per chunk, so reusing buffers
    saves that on every chunk. At most `keep` idle buffers are kept; the
    rest are unmapped when returned.
    """

    def __init__(self, keep: int = 4, capacity: int = STAGING_BYTES) -> None:
        self.keep = keep
        self.capacity = capacity
        self._idle: list[StagingBuffer] = []
        self._lock = threading.Lock()

    def take(self) -> StagingBuffer:
        """Return an empty buffer, reused when one is idle."""
        with self._lock:
            buffer = self._idle.pop() if self._idle else None
        if buffer is None:
            return StagingBuffer(self.capacity)
        buffer.length = 0
        return buffer

    def give_back(self, buffer: StagingBuffer) -> None:
        """Keep `buffer` for a later request, or unmap it when enough are idle."""
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(buffer)
                return
        buffer.close()

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)


STAGING_POOL = StagingPool()


class UploadAppender:
    """Writes batches at the end of an upload file, starting at `offset`."""

    def __init__(
        self,
        path: Path,
        offset: int,
        mode: WriteMode = "direct",
        read_back: bool = True,
    ) -> None:
        self.offset = offset
        self._writeback = mode == "writeback"
        self._read_back = read_back
        self._settled = offset
        # Readable too, because the page cache warmer reads through a copy.
        self._buffered = os.open(path, os.O_RDWR)
        self._direct: int | None = None
        if not self._writeback and offset % BLOCK_SIZE == 0 and hasattr(os, "O_DIRECT"):
            with contextlib.suppress(OSError):
                self._direct = os.open(path, os.O_WRONLY | os.O_DIRECT)

    def write(self, buffer: StagingBuffer) -> None:
        """Write the buffer's bytes at the current offset, whole blocks directly."""
        view = buffer.view[: buffer.length]
        if self._writeback:
            self._write_back(view)
            return
        aligned = len(view) - len(view) % BLOCK_SIZE
        if self._direct is not None and aligned:
            start = self.offset
            self._write_all(self._direct, view[:aligned])
            if self._read_back:
                request_read_back(self._buffered, start, aligned)
                PAGE_CACHE_WARMER.submit(self._buffered, start, aligned)
            view = view[aligned:]
        if len(view):
            self._write_all(self._buffered, view)
            # After an unaligned length, later offsets are unaligned too.
            self._close_direct()

    def _write_back(self, view: memoryview) -> None:
        """Write through the page cache and start flushing at once.

        The pages stay cached, so a pull right after the push reads memory,
        while the disk writes in the background instead of all at the final
        fsync.
        """
        start = self.offset
        self._write_all(self._buffered, view)
        _sync_range(self._buffered, start, len(view), _WRITE)
        if start - self._settled >= WRITEBACK_LAG_BYTES:
            flags = _WAIT_BEFORE | _WRITE | _WAIT_AFTER
            _sync_range(self._buffered, self._settled, start - self._settled, flags)
            self._settled = start

    def _write_all(self, fd: int, view: memoryview) -> None:
        while len(view):
            count = os.pwrite(fd, view, self.offset)
            self.offset += count
            view = view[count:]

    def _close_direct(self) -> None:
        if self._direct is not None:
            os.close(self._direct)
            self._direct = None

    def close(self) -> None:
        self._close_direct()
        os.close(self._buffered)


class UploadFileLock:
    """An exclusive `flock` on an upload file, shared by every worker process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> int:
        """Wait for the lock and return the file's size under it."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return size

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
