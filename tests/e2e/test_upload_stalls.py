"""Upload requests whose body stalls, against a real `seawall serve`.

A client that sends the headers and part of a body, then stops sending but
keeps its connection open, must not hold the upload's file lock. The server
here aborts such a request after a short body idle timeout, cuts the upload
back to its size before the request, and lets the next request for the
upload go ahead. The upload purge runs in this process on the server's
database and data folder, while a stalled request holds the lock.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from seawall.db import Database
from seawall.db.models import UploadSession
from seawall.db.types import utcnow
from seawall.registry.uploads import UploadService
from seawall.storage import BlobStore
from tests.support.process import RegistryProcess, json_log_records, own_registry
from tests.support.server import ADMIN_PASSWORD

MIB = 1024 * 1024
OCTET_STREAM = {"Content-Type": "application/octet-stream"}
IDLE_TIMEOUT_SECONDS = 2.0
UPLOAD_EXPIRY_SECONDS = 60
WAIT_SECONDS = 30

# A stalled PATCH declares this many bytes and sends only the first part,
# which is more than one 4 MiB staging batch, so the server has written
# some of it to the upload file when the body stalls.
DECLARED_BYTES = 16 * MIB
SENT_BYTES = 6 * MIB
FIRST_CHUNK_BYTES = MIB


# Helpers


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def unique_repository() -> str:
    return f"library/stall-{uuid.uuid4().hex[:12]}"


def wait_until(condition: Callable[[], bool], description: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(
        f"timed out after {WAIT_SECONDS} s waiting until {description}"
    )


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def upload_end(response: httpx.Response) -> int:
    """Return the byte count an upload status reply reports through its Range."""
    first, _, last = response.headers["range"].partition("-")
    assert first == "0"
    return int(last) + 1


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def start_upload(client: httpx.Client, repository: str) -> tuple[str, str]:
    """Open an upload session and return its location and id."""
    response = client.post(f"/v2/{repository}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["location"], response.headers["docker-upload-uuid"]


def patch_chunk(client: httpx.Client, location: str, data: bytes, start: int) -> str:
    response = client.patch(
        location,
        content=data,
        headers={**OCTET_STREAM, "Content-Range": f"{start}-{start + len(data) - 1}"},
    )
    assert response.status_code == 202, response.text
    return str(response.headers["location"])


def send_partial(
    server: RegistryProcess,
    method: str,
    target: str,
    body: bytes,
    declared_bytes: int,
    headers: dict[str, str] | None = None,
) -> socket.socket:
    """Send a request that declares `declared_bytes` of body but sends only `body`.

    The socket stays open and silent, so the request body stalls until the
    caller closes it.
    """
    host, _, port = server.host.rpartition(":")
    credentials = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {server.host}",
        f"Authorization: Basic {credentials}",
        "Content-Type: application/octet-stream",
        f"Content-Length: {declared_bytes}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
        "",
        "",
    ]
    sock = socket.create_connection((host, int(port)), timeout=WAIT_SECONDS)
    sock.sendall("\r\n".join(lines).encode() + body)
    return sock


def log_records(server: RegistryProcess, event: str) -> list[dict[str, Any]]:
    return [
        record
        for record in json_log_records(server.log_path)
        if record.get("event") == event
    ]


def abort_records(server: RegistryProcess, upload_id: str) -> list[dict[str, Any]]:
    return [
        record
        for record in log_records(server, "upload request aborted")
        if record.get("upload") == upload_id
    ]


def refusal_records(server: RegistryProcess, upload_id: str) -> list[dict[str, Any]]:
    return [
        record
        for record in log_records(server, "request refused")
        if upload_id in str(record.get("path", ""))
    ]


def wait_for_abort(server: RegistryProcess, upload_id: str) -> None:
    """Wait until the server aborted a stalled request of `upload_id` and replied.

    The refusal is logged after the upload was cut back and its lock
    released, so the upload's state is final once it appears.
    """
    wait_until(
        lambda: (
            bool(abort_records(server, upload_id))
            and bool(refusal_records(server, upload_id))
        ),
        f"the server aborted the stalled request of upload {upload_id}",
    )


def backdate_upload(database: Database, upload_id: str, age: timedelta) -> None:
    with database.session() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id)
            .values(updated_at=utcnow() - age)
        )


# A registry with a short body idle timeout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    folder = tmp_path_factory.mktemp("stall-server")
    with own_registry(
        folder,
        extra_env={
            "SEAWALL_UPLOAD_BODY_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_SECONDS),
            "SEAWALL_UPLOAD_EXPIRY_SECONDS": str(UPLOAD_EXPIRY_SECONDS),
            "SEAWALL_LOG_FORMAT": "json",
        },
    ) as running:
        yield running


@pytest.fixture
def client(server: RegistryProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=120
    ) as http:
        yield http


@pytest.fixture(scope="module")
def metadata(server: RegistryProcess) -> Iterator[Database]:
    """The server's metadata database, opened from the test process."""
    assert server.database_url is not None
    database = Database(server.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def purger(server: RegistryProcess, metadata: Database) -> UploadService:
    """An upload service on the server's data folder, to run the purge in-process."""
    return UploadService(
        metadata,
        BlobStore(server.data_dir),
        timedelta(seconds=UPLOAD_EXPIRY_SECONDS),
    )


# A PATCH whose body stalls after the server wrote part of it


@dataclass(frozen=True)
class StalledPatch:
    repository: str
    location: str
    upload_id: str
    upload_path: Path
    first: bytes
    sock: socket.socket


def open_stalled_patch(
    server: RegistryProcess, client: httpx.Client
) -> tuple[StalledPatch, bytes]:
    """Upload a first chunk, then send part of a second and wait until some is written.

    Returns the stalled request and the whole second chunk it declared.
    """
    repository = unique_repository()
    location, upload_id = start_upload(client, repository)
    first = secrets.token_bytes(FIRST_CHUNK_BYTES)
    location = patch_chunk(client, location, first, 0)
    second = secrets.token_bytes(DECLARED_BYTES)
    upload_path = server.data_dir / "uploads" / upload_id
    content_range = f"{len(first)}-{len(first) + len(second) - 1}"
    sock = send_partial(
        server,
        "PATCH",
        location,
        second[:SENT_BYTES],
        len(second),
        headers={"Content-Range": content_range},
    )
    try:
        wait_until(
            lambda: file_size(upload_path) > len(first),
            "the server wrote part of the stalled chunk",
        )
    except BaseException:
        sock.close()
        raise
    stalled = StalledPatch(repository, location, upload_id, upload_path, first, sock)
    return stalled, second


@pytest.fixture
def stalled_patch(
    server: RegistryProcess, client: httpx.Client
) -> Iterator[tuple[StalledPatch, bytes]]:
    """A stalled PATCH that the server has aborted, with its socket still open."""
    stalled, second = open_stalled_patch(server, client)
    try:
        wait_for_abort(server, stalled.upload_id)
        yield stalled, second
    finally:
        stalled.sock.close()


# The stalled request is aborted and logged


def test_stall_logged_with_upload_id(
    server: RegistryProcess, stalled_patch: tuple[StalledPatch, bytes]
) -> None:
    stalled, _ = stalled_patch
    record = abort_records(server, stalled.upload_id)[0]
    assert record["reason"] == "request body stalled"
    assert record["idle_timeout_seconds"] == IDLE_TIMEOUT_SECONDS
    assert record["received"] == SENT_BYTES
    assert record["level"] == "warning"


def test_stall_refused_as_upload_invalid(
    server: RegistryProcess, stalled_patch: tuple[StalledPatch, bytes]
) -> None:
    stalled, _ = stalled_patch
    refusals = refusal_records(server, stalled.upload_id)
    assert len(refusals) == 1
    assert refusals[0]["method"] == "PATCH"
    assert refusals[0]["status"] == 400
    assert refusals[0]["code"] == "BLOB_UPLOAD_INVALID"
    assert f"no data arrived for {IDLE_TIMEOUT_SECONDS:g} s" in refusals[0]["reason"]
    assert "GET the upload URL for its current offset" in refusals[0]["reason"]


def test_stall_reply_reaches_client(
    server: RegistryProcess, client: httpx.Client
) -> None:
    stalled, _ = open_stalled_patch(server, client)
    stalled.sock.settimeout(IDLE_TIMEOUT_SECONDS + 10)
    reply = http.client.HTTPResponse(stalled.sock)
    try:
        reply.begin()
        body = reply.read()
    finally:
        # The reply reads through a file made from the socket, and the
        # connection closes only once both are closed.
        reply.close()
        stalled.sock.close()
    assert reply.status == 400
    assert b"BLOB_UPLOAD_INVALID" in body


# The upload keeps its state from before the stalled request


def test_stall_keeps_previous_offset(
    client: httpx.Client, stalled_patch: tuple[StalledPatch, bytes]
) -> None:
    stalled, _ = stalled_patch
    response = client.get(stalled.location)
    assert response.status_code == 204, response.text
    assert upload_end(response) == len(stalled.first)


def test_stall_cuts_file_back(stalled_patch: tuple[StalledPatch, bytes]) -> None:
    stalled, _ = stalled_patch
    assert file_size(stalled.upload_path) == len(stalled.first)


# The upload is free for the next request while the stalled one stays open


def test_delete_after_stall_succeeds(
    client: httpx.Client, stalled_patch: tuple[StalledPatch, bytes]
) -> None:
    stalled, _ = stalled_patch
    # Were the lock still held, the DELETE would wait 10 s and fail with 400.
    response = client.delete(stalled.location)
    assert response.status_code == 204, response.text
    assert client.get(stalled.location).status_code == 404


def test_patch_after_stall_completes_blob(
    client: httpx.Client, stalled_patch: tuple[StalledPatch, bytes]
) -> None:
    stalled, second = stalled_patch
    location = patch_chunk(client, stalled.location, second, len(stalled.first))
    data = stalled.first + second
    response = client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text
    blob = client.get(f"/v2/{stalled.repository}/blobs/{digest_of(data)}")
    assert blob.content == data


def test_server_serves_after_stall(
    server: RegistryProcess,
    client: httpx.Client,
    stalled_patch: tuple[StalledPatch, bytes],
) -> None:
    assert client.get("/v2/").status_code == 200
    log_text = server.log_path.read_text(errors="replace")
    assert "panicked" not in log_text
    assert "Traceback" not in log_text
    errors = [
        record
        for record in json_log_records(server.log_path)
        if record.get("level") == "error"
    ]
    assert errors == []


# PUT and monolithic POST bodies that stall


def test_stalled_put_leaves_upload_usable(
    server: RegistryProcess, client: httpx.Client
) -> None:
    repository = unique_repository()
    location, upload_id = start_upload(client, repository)
    data = secrets.token_bytes(DECLARED_BYTES)
    digest = digest_of(data)
    sock = send_partial(
        server, "PUT", f"{location}?digest={digest}", data[:SENT_BYTES], len(data)
    )
    try:
        wait_for_abort(server, upload_id)
        assert client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404
        # An empty upload reports the range 0-0.
        assert client.get(location).headers["range"] == "0-0"
        assert file_size(server.data_dir / "uploads" / upload_id) == 0
        response = client.put(
            location, params={"digest": digest}, content=data, headers=OCTET_STREAM
        )
    finally:
        sock.close()
    assert response.status_code == 201, response.text


def test_stalled_post_discards_upload(
    server: RegistryProcess, client: httpx.Client
) -> None:
    repository = unique_repository()
    data = secrets.token_bytes(DECLARED_BYTES)
    digest = digest_of(data)
    aborted_before = len(log_records(server, "upload request aborted"))
    sock = send_partial(
        server,
        "POST",
        f"/v2/{repository}/blobs/uploads/?digest={digest}",
        data[:SENT_BYTES],
        len(data),
    )
    try:
        wait_until(
            lambda: len(log_records(server, "upload request aborted")) > aborted_before,
            "the server aborted the stalled monolithic upload",
        )
        record = log_records(server, "upload request aborted")[aborted_before]
        upload_path = server.data_dir / "uploads" / record["upload"]
        wait_until(lambda: not upload_path.exists(), "the server discarded the upload")
        response = client.head(f"/v2/{repository}/blobs/{digest}")
    finally:
        sock.close()
    assert response.status_code == 404


# A slow client that keeps sending is not cut off


def test_slow_steady_patch_succeeds(client: httpx.Client) -> None:
    repository = unique_repository()
    location, _ = start_upload(client, repository)
    pieces = [secrets.token_bytes(64 * 1024) for _ in range(12)]
    data = b"".join(pieces)
    interval = IDLE_TIMEOUT_SECONDS / 5

    def slow_body() -> Iterator[bytes]:
        # Twelve pieces take longer in total than one idle timeout, but the
        # gap between two pieces stays well below it.
        for piece in pieces:
            time.sleep(interval)
            yield piece

    response = client.patch(
        location,
        content=slow_body(),
        headers={**OCTET_STREAM, "Content-Length": str(len(data))},
    )
    assert response.status_code == 202, response.text
    assert upload_end(response) == len(data)
    finish = client.put(
        response.headers["location"], params={"digest": digest_of(data)}
    )
    assert finish.status_code == 201, finish.text


# The upload purge and a request that holds the upload's lock


def test_purge_keeps_upload_in_use(
    server: RegistryProcess,
    client: httpx.Client,
    metadata: Database,
    purger: UploadService,
) -> None:
    stalled, second = open_stalled_patch(server, client)
    try:
        backdate_upload(
            metadata, stalled.upload_id, timedelta(seconds=UPLOAD_EXPIRY_SECONDS + 3600)
        )
        # The stalled PATCH holds the lock until the idle timeout aborts it.
        purger.purge_expired()
        assert abort_records(server, stalled.upload_id) == []
        assert stalled.upload_path.exists()
        wait_for_abort(server, stalled.upload_id)
    finally:
        stalled.sock.close()
    location = patch_chunk(client, stalled.location, second, len(stalled.first))
    data = stalled.first + second
    response = client.put(location, params={"digest": digest_of(data)})
    assert response.status_code == 201, response.text


def test_purge_deletes_idle_upload(
    client: httpx.Client, metadata: Database, purger: UploadService
) -> None:
    repository = unique_repository()
    location, upload_id = start_upload(client, repository)
    patch_chunk(client, location, secrets.token_bytes(4096), 0)
    backdate_upload(
        metadata, upload_id, timedelta(seconds=UPLOAD_EXPIRY_SECONDS + 3600)
    )
    purger.purge_expired()
    response = client.get(location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
