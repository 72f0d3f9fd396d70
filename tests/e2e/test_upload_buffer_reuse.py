"""Uploads stay byte-exact while one worker reuses its staging buffers.

A worker copies each request body into page-aligned staging buffers taken
from `STAGING_POOL` and returns them when the request ends. Every test here
checks that a stored blob equals the bytes sent and hashes to its digest,
after uploads of other sizes, broken requests and failed writes in the same
worker. One `seawall serve` process with one worker serves the module, so
every upload draws on the same pool. The last tests call the copy loop
directly to check when a cancelled request hands its buffers back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import resource
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from seawall.registry import uploads
from seawall.storage.appender import (
    BLOCK_SIZE,
    StagingBuffer,
    StagingPool,
    UploadAppender,
)
from tests.support.process import RegistryProcess, group_members, own_registry
from tests.support.server import ADMIN_PASSWORD

MIB = 1024 * 1024
STAGING_MIB = 4 * MIB
WAIT_SECONDS = 30
# Filler that a broken request leaves in the staging buffers. No blob sent
# by these tests contains a run of it, so a leak shows up as a digest error.
POISON = b"\xaa"
# Upload files of the worker stop growing at this size during the
# failed-write test. The SQLite database and the log stay far below it.
FILE_SIZE_LIMIT = 24 * MIB


# Helpers


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def unique_repository() -> str:
    return f"library/reuse-{uuid.uuid4().hex[:12]}"


def start_upload(client: httpx.Client, repository: str) -> str:
    response = client.post(
        f"/v2/{repository}/blobs/uploads/", headers={"Content-Length": "0"}
    )
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def patch_chunk(client: httpx.Client, location: str, data: bytes, start: int) -> str:
    end = start + len(data) - 1
    response = client.patch(
        location, content=data, headers={"Content-Range": f"{start}-{end}"}
    )
    assert response.status_code == 202, response.text
    assert response.headers["Range"] == f"0-{end}"
    return response.headers["Location"]


def finish_upload(
    client: httpx.Client, location: str, data: bytes, tail: bytes, algorithm: str
) -> None:
    """Send `tail` with the closing PUT for an upload whose whole content is `data`."""
    response = client.put(
        location, params={"digest": digest_of(data, algorithm)}, content=tail
    )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest_of(data, algorithm)


def push_monolithic(
    client: httpx.Client, repository: str, data: bytes, algorithm: str = "sha256"
) -> None:
    finish_upload(client, start_upload(client, repository), data, data, algorithm)


def push_chunked(
    client: httpx.Client,
    repository: str,
    data: bytes,
    chunk_sizes: list[int],
    algorithm: str = "sha256",
) -> None:
    """PATCH `data` in chunks of `chunk_sizes`, then send the rest with the PUT."""
    location = start_upload(client, repository)
    offset = 0
    for size in chunk_sizes:
        chunk = data[offset : offset + size]
        location = patch_chunk(client, location, chunk, offset)
        offset += len(chunk)
    finish_upload(client, location, data, data[offset:], algorithm)


def assert_stored(
    client: httpx.Client, repository: str, data: bytes, algorithm: str = "sha256"
) -> None:
    """Check that GET returns exactly `data` under its digest."""
    digest = digest_of(data, algorithm)
    response = client.get(f"/v2/{repository}/blobs/{digest}")
    assert response.status_code == 200, response.text
    assert len(response.content) == len(data)
    assert digest_of(response.content, algorithm) == digest
    assert response.content == data


def upload_end(client: httpx.Client, location: str) -> int:
    """Return the size of an upload from the `Range` of its status reply."""
    response = client.get(location)
    assert response.status_code == 204, response.text
    # An empty upload also reports "0-0", so callers check larger sizes only.
    return int(response.headers["Range"].partition("-")[2]) + 1


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def wait_until(condition: Callable[[], bool], description: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(
        f"timed out after {WAIT_SECONDS} s waiting until {description}"
    )


def open_partial_patch(
    server: RegistryProcess, location: str, declared: int, body: bytes, start: int
) -> socket.socket:
    """Send a PATCH that declares `declared` bytes but only `body`, and keep it open."""
    host, _, port = server.host.rpartition(":")
    credentials = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    head = (
        f"PATCH {location} HTTP/1.1\r\n"
        f"Host: {server.host}\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {declared}\r\n"
        f"Content-Range: {start}-{start + declared - 1}\r\n\r\n"
    )
    sock = socket.create_connection((host, int(port)), timeout=WAIT_SECONDS)
    sock.sendall(head.encode() + body)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client killed mid-request does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
    sock.close()


def worker_pid(server: RegistryProcess) -> int:
    workers = [
        pid for pid in group_members(server.process_group) if pid != server.process.pid
    ]
    assert len(workers) == 1, f"expected one worker process, found {workers}"
    return workers[0]


# Fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """A registry with one worker, on its own data folder and database."""
    folder = tmp_path_factory.mktemp("buffer-reuse")
    with own_registry(folder, extra_env={"SEAWALL_WORKERS": "1"}) as running:
        yield running


@pytest.fixture
def client(server: RegistryProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=120
    ) as http:
        yield http


# Sizes around block and staging-buffer boundaries


BOUNDARY_SIZES = [
    0,
    1,
    BLOCK_SIZE - 1,
    BLOCK_SIZE,
    BLOCK_SIZE + 1,
    STAGING_MIB - 1,
    STAGING_MIB,
    STAGING_MIB + 1,
    2 * STAGING_MIB + BLOCK_SIZE - 1,
    3 * STAGING_MIB + 7,
]


def test_boundary_sizes_round_trip(client: httpx.Client) -> None:
    """Blobs go from largest to smallest, so stale bytes would reach a smaller one."""
    repository = unique_repository()
    sizes = sorted(BOUNDARY_SIZES, reverse=True)
    blobs = [
        (secrets.token_bytes(size), "sha512" if i % 2 else "sha256")
        for i, size in enumerate(sizes)
    ]

    for data, algorithm in blobs:
        push_monolithic(client, repository, data, algorithm)

    for data, algorithm in blobs:
        assert_stored(client, repository, data, algorithm)


CHUNK_PLANS = [
    [1, 7, BLOCK_SIZE + 1, STAGING_MIB + 3],
    [STAGING_MIB - 1, 2, BLOCK_SIZE - 1, 65537],
    [3 * MIB + 7, 3 * MIB + 7, 1],
    [2 * STAGING_MIB + 1, 4095],
]


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_odd_chunks_round_trip(client: httpx.Client, algorithm: str) -> None:
    repository = unique_repository()
    blobs = []
    for plan in CHUNK_PLANS:
        data = secrets.token_bytes(sum(plan) + 1 + secrets.randbelow(3 * MIB))
        push_chunked(client, repository, data, plan, algorithm)
        blobs.append(data)

    for data in blobs:
        assert_stored(client, repository, data, algorithm)


# Broken requests in the same worker


@pytest.mark.parametrize("ending", ["close", "reset"])
def test_broken_patch_leaks_no_bytes(
    server: RegistryProcess, client: httpx.Client, ending: str
) -> None:
    """A PATCH broken off after a batch leaves its upload as it was, and no filler behind."""
    repository = unique_repository()
    first = secrets.token_bytes(BLOCK_SIZE + 3)
    location = start_upload(client, repository)
    location = patch_chunk(client, location, first, 0)
    upload_path = server.data_dir / "uploads" / location.rpartition("/")[2]
    filler = POISON * (2 * STAGING_MIB + 5)
    sock = open_partial_patch(server, location, 3 * STAGING_MIB, filler, len(first))
    try:
        wait_until(
            lambda: file_size(upload_path) > len(first) + STAGING_MIB,
            "the server wrote a batch of the broken PATCH",
        )
    finally:
        if ending == "reset":
            reset(sock)
        else:
            sock.close()
    wait_until(
        lambda: file_size(upload_path) == len(first),
        "the server cut the upload back to its first chunk",
    )

    small = secrets.token_bytes(BLOCK_SIZE * 3 + 5)
    push_chunked(client, repository, small, [1, BLOCK_SIZE], "sha512")
    medium = secrets.token_bytes(STAGING_MIB + 1)
    push_monolithic(client, repository, medium)
    rest = secrets.token_bytes(STAGING_MIB - 17)
    assert upload_end(client, location) == len(first)
    finish_upload(client, location, first + rest, rest, "sha256")

    assert_stored(client, repository, small, "sha512")
    assert_stored(client, repository, medium)
    assert_stored(client, repository, first + rest)


def test_concurrent_uploads_in_one_worker(client: httpx.Client) -> None:
    """Six uploads at once need more buffers than the pool keeps idle."""
    repository = unique_repository()

    def push(index: int) -> tuple[bytes, str]:
        algorithm = "sha512" if index % 2 else "sha256"
        data = secrets.token_bytes(STAGING_MIB + secrets.randbelow(2 * STAGING_MIB))
        plan = [1 + secrets.randbelow(2 * MIB) for _ in range(3)]
        with httpx.Client(
            base_url=client.base_url, auth=("admin", ADMIN_PASSWORD), timeout=120
        ) as own:
            if index % 3:
                push_chunked(own, repository, data, plan, algorithm)
            else:
                push_monolithic(own, repository, data, algorithm)
        return data, algorithm

    with ThreadPoolExecutor(max_workers=6) as executor:
        blobs = list(executor.map(push, range(12)))

    for data, algorithm in blobs:
        assert_stored(client, repository, data, algorithm)


# Failed writes


def assert_storage_full(response: httpx.Response) -> None:
    assert response.status_code == 507, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "UNKNOWN"
    assert "could not store the upload" in error["message"]


def test_failed_write_keeps_upload_and_buffers(
    server: RegistryProcess, client: httpx.Client
) -> None:
    """A write that fails with EFBIG is cut back, and later uploads stay exact.

    The worker's file size limit makes writes past `FILE_SIZE_LIMIT` fail,
    as a full disk would. CPython ignores SIGXFSZ at startup, so the write
    raises EFBIG instead of killing the worker.
    """
    repository = unique_repository()
    pid = worker_pid(server)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, hard))
    try:
        too_large = secrets.token_bytes(FILE_SIZE_LIMIT + STAGING_MIB + 1)
        response = client.put(
            start_upload(client, repository),
            params={"digest": digest_of(too_large)},
            content=too_large,
        )
        assert_storage_full(response)

        first = secrets.token_bytes(FILE_SIZE_LIMIT - 2 * STAGING_MIB + 5)
        location = patch_chunk(client, start_upload(client, repository), first, 0)
        overflow = secrets.token_bytes(3 * STAGING_MIB)
        end = len(first) + len(overflow) - 1
        response = client.patch(
            location, content=overflow, headers={"Content-Range": f"{len(first)}-{end}"}
        )
        assert_storage_full(response)
        assert upload_end(client, location) == len(first)

        rest = secrets.token_bytes(STAGING_MIB + 11)
        finish_upload(client, location, first + rest, rest, "sha512")
        after = secrets.token_bytes(2 * STAGING_MIB + 3)
        push_chunked(client, repository, after, [STAGING_MIB + 1])
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))

    assert_stored(client, repository, first + rest, "sha512")
    assert_stored(client, repository, after)


# Cancelled copies


CAPACITY = 8 * BLOCK_SIZE


class BlockedAppender(UploadAppender):
    """An appender whose first write waits for `release`, as a slow disk would."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, 0)
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def write(self, buffer: StagingBuffer) -> None:
        if self.started.is_set():
            super().write(buffer)
            return
        self.started.set()
        self.release.wait(WAIT_SECONDS)
        try:
            super().write(buffer)
        finally:
            self.finished.set()


async def body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


async def cancel_during_write(
    pool: StagingPool, appender: BlockedAppender, data: bytes
) -> None:
    """Cancel a copy while its first write waits, then reuse the pool's buffers."""
    task = asyncio.ensure_future(uploads._copy_stream(body(data), appender, None))
    assert await asyncio.to_thread(appender.started.wait, WAIT_SECONDS)
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.05)

    # The next request takes two buffers from the pool and fills them.
    reused = [pool.take(), pool.take()]
    for buffer in reused:
        buffer.fill(memoryview(POISON * CAPACITY))
    appender.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    "size",
    [CAPACITY - 5, 2 * CAPACITY + 5],
    ids=["last-batch", "full-batch"],
)
def test_cancelled_copy_keeps_buffers_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A buffer returns to the pool only after the thread writing it has returned.

    Cancelling a future does not stop its thread, so a pool that took back a
    buffer at cancellation would hand it to the next request while its bytes
    are still being written.
    """
    pool = StagingPool(keep=4, capacity=CAPACITY)
    monkeypatch.setattr(uploads, "STAGING_POOL", pool)
    path = tmp_path / "upload"
    path.touch()
    appender = BlockedAppender(path)
    data = secrets.token_bytes(size)
    try:
        asyncio.run(cancel_during_write(pool, appender, data))
    finally:
        appender.release.set()
        assert appender.finished.wait(WAIT_SECONDS)
        appender.close()

    written = path.read_bytes()
    assert POISON * 64 not in written
    assert written == data[: len(written)]
    assert len(written) >= min(size, CAPACITY)
    assert pool.idle == 2


def test_copy_reuses_buffers_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies of falling sizes through one pool write only their own bytes."""
    pool = StagingPool(keep=4, capacity=CAPACITY)
    monkeypatch.setattr(uploads, "STAGING_POOL", pool)
    sizes = [3 * CAPACITY + 17, 2 * CAPACITY, CAPACITY + 1, BLOCK_SIZE + 1, 1, 0]

    for index, size in enumerate(sizes):
        data = secrets.token_bytes(size)
        path = tmp_path / f"upload-{index}"
        path.touch()
        appender = UploadAppender(path, 0)
        try:
            written = asyncio.run(uploads._copy_stream(body(data), appender, None))
        finally:
            appender.close()

        assert written == size
        assert path.read_bytes() == data
        assert pool.idle == 2
