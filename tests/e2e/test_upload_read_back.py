"""A pushed blob is in the page cache afterwards unless read-back is off."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.protocol_helpers import push_blob
from tests.support.process import own_registry
from tests.support.server import ADMIN_PASSWORD
from tests.unit.test_upload_read_back import (
    PAGE_SIZE,
    cached_bytes,
    drop_from_page_cache,
)

BLOB_BYTES = 24 * 1024 * 1024 + 123


def wait_for_cached(path: Path, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    cached = cached_bytes(path)
    while cached < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        cached = cached_bytes(path)
    return cached


@pytest.mark.parametrize("read_back", ["true", "false"])
def test_pushed_blob_in_page_cache(tmp_path: Path, read_back: str) -> None:
    data = os.urandom(BLOB_BYTES)
    with own_registry(tmp_path, {"SEAWALL_UPLOAD_READ_BACK": read_back}) as running:
        with httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client:
            digest = push_blob(client, "library/cached", data)
        hex_digest = digest.split(":", 1)[1]
        blob = running.data_dir / "blobs" / "sha256" / hex_digest[:2] / hex_digest
        whole_pages = -(-BLOB_BYTES // PAGE_SIZE) * PAGE_SIZE
        if read_back == "true":
            assert wait_for_cached(blob, whole_pages, timeout=20) == whole_pages
        else:
            time.sleep(1)
            # Only the final partial block and the one readahead window
            # (8 MiB on the development machine) that commit requests.
            assert cached_bytes(blob) < whole_pages // 2
        assert blob.read_bytes() == data


def drop_range_from_page_cache(path: Path, offset: int, length: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize("cached", ["none", "holes"])
def test_pull_of_uncached_blob_complete(tmp_path: Path, cached: str) -> None:
    """A pull reads from disk what the page cache lacks and sends every byte."""
    data = os.urandom(BLOB_BYTES)
    with (
        own_registry(tmp_path) as running,
        httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client,
    ):
        digest = push_blob(client, "library/uncached", data)
        hex_digest = digest.split(":", 1)[1]
        blob = running.data_dir / "blobs" / "sha256" / hex_digest[:2] / hex_digest
        wait_for_cached(blob, BLOB_BYTES // 2, timeout=20)
        drop_from_page_cache(blob)
        if cached == "holes":
            client.get(f"/v2/library/uncached/blobs/{digest}").raise_for_status()
            for offset in range(PAGE_SIZE * 3, BLOB_BYTES, 3 * 1024 * 1024):
                drop_range_from_page_cache(blob, offset, 256 * 1024)
            assert cached_bytes(blob) < BLOB_BYTES

        response = client.get(f"/v2/library/uncached/blobs/{digest}")

    assert response.status_code == 200
    assert response.content == data
