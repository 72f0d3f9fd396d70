"""Directly written upload ranges are read back into the page cache."""

from __future__ import annotations

import mmap
import os
import subprocess
from pathlib import Path

from seawall.storage.appender import STAGING_BYTES, StagingBuffer, UploadAppender
from seawall.storage.readback import PAGE_CACHE_WARMER, PageCacheWarmer

PAGE_SIZE = mmap.PAGESIZE


def cached_bytes(path: Path) -> int:
    """Return how many bytes of `path` are in the page cache, from util-linux fincore."""
    output = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(output.strip())


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def append(path: Path, data: bytes, read_back: bool) -> None:
    appender = UploadAppender(path, 0, "direct", read_back)
    buffer = StagingBuffer()
    try:
        view = memoryview(data)
        while len(view):
            view = view[buffer.fill(view) :]
            appender.write(buffer)
            buffer.length = 0
    finally:
        buffer.close()
        appender.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_direct_write_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(3 * STAGING_BYTES + 12345)
    descriptors = open_descriptors()

    append(path, data, read_back=True)

    assert PAGE_CACHE_WARMER.wait_idle(timeout=30)
    whole_pages = -(-len(data) // PAGE_SIZE) * PAGE_SIZE
    assert cached_bytes(path) == whole_pages
    assert path.read_bytes() == data
    assert open_descriptors() == descriptors


def test_read_back_off_leaves_direct_writes_uncached(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    drop_from_page_cache(path)
    data = os.urandom(3 * STAGING_BYTES + 12345)

    append(path, data, read_back=False)

    assert PAGE_CACHE_WARMER.pending_bytes == 0
    # Only the last partial block went through the page cache.
    assert cached_bytes(path) <= PAGE_SIZE
    assert path.read_bytes() == data


def test_warmer_skips_range_past_end(tmp_path: Path) -> None:
    """A range past the end of a file cut back after a failed append is skipped
    quietly, where a mapped read would have raised SIGBUS."""
    path = tmp_path / "upload"
    path.write_bytes(os.urandom(2 * STAGING_BYTES))
    warmer = PageCacheWarmer()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.truncate(path, 4096)
        accepted = warmer.submit(fd, STAGING_BYTES, STAGING_BYTES)
    finally:
        os.close(fd)

    assert accepted
    assert warmer.wait_idle(timeout=30)
    assert warmer.pending_bytes == 0


def test_warmer_refuses_beyond_its_queue_limit(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(os.urandom(2 * STAGING_BYTES))
    warmer = PageCacheWarmer(max_pending=STAGING_BYTES)
    descriptors = open_descriptors()
    fd = os.open(path, os.O_RDONLY)
    try:
        accepted = warmer.submit(fd, 0, 2 * STAGING_BYTES)
    finally:
        os.close(fd)

    assert not accepted
    assert warmer.pending_bytes == 0
    assert open_descriptors() == descriptors
