"""Whole-blob GETs stay intact under slow, concurrent and dropped clients.

The server reads the next chunk of a blob on a worker thread while it
sends the current one, so these tests read slowly, read several blobs at
once and drop connections midway, then check every byte.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from pathlib import Path

import httpx

from seawall.storage.appender import STAGING_BYTES
from tests.e2e.protocol_helpers import admin_authorization, push_blob
from tests.support.process import own_registry
from tests.support.server import ADMIN_PASSWORD

REPOSITORY = "library/buffers"
# Not a multiple of the 4 MiB read size, so the last chunk is a partial one.
BLOB_BYTES = 5 * STAGING_BYTES + 4321


def read_slowly(url: str, digest: str, piece: int) -> bytes:
    """GET a blob, reading it `piece` bytes at a time."""
    parts = []
    with (
        httpx.Client(auth=("admin", ADMIN_PASSWORD), timeout=60) as client,
        client.stream("GET", f"{url}/v2/{REPOSITORY}/blobs/{digest}") as response,
    ):
        assert response.status_code == 200
        for part in response.iter_bytes(piece):
            parts.append(part)
    return b"".join(parts)


def drop_midway(host: str, digest: str) -> None:
    """Send a GET, read a little of the body, then reset the connection."""
    address, port = host.rsplit(":", 1)
    with socket.create_connection((address, int(port)), timeout=30) as connection:
        connection.sendall(
            f"GET /v2/{REPOSITORY}/blobs/{digest} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {admin_authorization()}\r\n\r\n".encode()
        )
        connection.recv(65536)
        connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )


def test_concurrent_slow_and_dropped_pulls(tmp_path: Path) -> None:
    blobs = [os.urandom(BLOB_BYTES) for _ in range(3)]
    with own_registry(tmp_path) as running:
        with httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as client:
            digests = [push_blob(client, REPOSITORY, data) for data in blobs]

        for digest in digests:
            drop_midway(running.host, digest)

        results: dict[int, bytes] = {}

        def pull(index: int) -> None:
            results[index] = read_slowly(running.url, digests[index % 3], 65536)

        threads = [threading.Thread(target=pull, args=(index,)) for index in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        after_drops = read_slowly(running.url, digests[0], 1 << 20)
        log = running.log_path.read_text()

    assert sorted(results) == list(range(6))
    for index, body in results.items():
        assert hashlib.sha256(body).hexdigest() == digests[index % 3].split(":")[1]
    assert after_drops == blobs[0]
    assert "Traceback" not in log
    assert "never retrieved" not in log
