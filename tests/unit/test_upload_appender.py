"""The upload appender writes exactly the bytes it is given, in both write modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seawall.storage.appender import (
    STAGING_BYTES,
    StagingBuffer,
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
