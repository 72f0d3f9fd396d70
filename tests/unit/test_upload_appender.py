"""The upload appender writes exactly the bytes it is given, in both write modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seawall.storage.appender import (
    STAGING_BYTES,
    StagingBuffer,
    StagingPool,
    UploadAppender,
    WriteMode,
)


def _append(path: Path, mode: WriteMode, offset: int, data: bytes) -> int:
    appender = UploadAppender(path, offset, mode)
    buffer = StagingBuffer()
    try:
        view = memoryview(data)
        while len(view):
            taken = buffer.fill(view)
            view = view[taken:]
            appender.write(buffer)
            buffer.length = 0
        return appender.offset
    finally:
        buffer.close()
        appender.close()


@pytest.mark.parametrize("mode", ["direct", "writeback"])
def test_appends_whole_and_partial_batches(tmp_path: Path, mode: WriteMode) -> None:
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(3 * STAGING_BYTES + 12345)

    end = _append(path, mode, 0, data)

    assert end == len(data)
    assert path.read_bytes() == data


@pytest.mark.parametrize("mode", ["direct", "writeback"])
def test_appends_after_an_unaligned_offset(tmp_path: Path, mode: WriteMode) -> None:
    path = tmp_path / "upload"
    head = os.urandom(1001)
    path.write_bytes(head)
    tail = os.urandom(STAGING_BYTES + 17)

    end = _append(path, mode, len(head), tail)

    assert end == len(head) + len(tail)
    assert path.read_bytes() == head + tail


def test_writeback_over_the_lag_keeps_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(80 * 1024 * 1024)

    end = _append(path, "writeback", 0, data)

    assert end == len(data)
    assert path.read_bytes() == data


def test_pool_reuses_a_buffer_and_starts_it_empty(tmp_path: Path) -> None:
    pool = StagingPool(keep=2, capacity=8 * 4096)
    first = pool.take()
    first.fill(memoryview(b"a" * 5000))
    pool.give_back(first)

    again = pool.take()
    assert again is first
    assert again.length == 0
    again.fill(memoryview(b"b" * 100))
    path = tmp_path / "upload"
    path.touch()
    appender = UploadAppender(path, 0)
    try:
        appender.write(again)
    finally:
        appender.close()
        pool.give_back(again)
    assert path.read_bytes() == b"b" * 100


def test_pool_unmaps_buffers_beyond_what_it_keeps() -> None:
    pool = StagingPool(keep=1, capacity=4096)
    buffers = [pool.take(), pool.take(), pool.take()]
    for buffer in buffers:
        pool.give_back(buffer)

    assert pool.idle == 1
    reused = pool.take()
    assert reused is buffers[0]
    reused.view[:3] = b"abc"
    for closed in buffers[1:]:
        with pytest.raises(ValueError, match="released memoryview"):
            closed.view.tobytes()
