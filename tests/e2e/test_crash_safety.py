"""Crash safety: broken clients, killed servers and abandoned uploads store no bad blob.

The invariant under test: a blob is served, and has a file under `blobs/`,
only after its whole content arrived and matched its digest. Every test
runs real `seawall serve` processes on its own data folder and database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from seawall.db import Database
from seawall.db.models import Blob, UploadSession
from seawall.db.types import utcnow
from seawall.registry.uploads import UploadService
from seawall.storage import BlobStore
from tests.support import databases
from tests.support.process import (
    RegistryProcess,
    group_members,
    json_log_records,
    kill_hard,
    launch_registry,
    own_registry,
    registry_process,
)
from tests.support.server import ADMIN_PASSWORD

MIB = 1024 * 1024
OCTET_STREAM = {"Content-Type": "application/octet-stream"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
UPLOAD_EXPIRY_SECONDS = 60
WAIT_SECONDS = 30

# A body large enough that the server writes part of it to disk before the
# client stops: more than one staging batch of the upload writer.
LARGE_BLOB_BYTES = 32 * MIB


# Helpers


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def unique_repository() -> str:
    return f"library/crash-{uuid.uuid4().hex[:12]}"


def admin_client(server: RegistryProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=120
    )


def blob_files(data_dir: Path, digest: str) -> list[Path]:
    """Return every file under `data_dir/blobs` named after the digest's hex."""
    encoded = digest.partition(":")[2]
    return [path for path in (data_dir / "blobs").rglob(encoded) if path.is_file()]


def upload_files(data_dir: Path) -> set[str]:
    return {path.name for path in (data_dir / "uploads").iterdir()}


def blob_row_count(database: Database, digest: str) -> int:
    with database.session() as session:
        statement = select(func.count()).select_from(Blob).where(Blob.digest == digest)
        return int(session.scalar(statement) or 0)


def wait_until(condition: Callable[[], bool], description: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {WAIT_SECONDS} s waiting until {description}"
    )


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def open_partial_request(
    server: RegistryProcess,
    method: str,
    target: str,
    body: bytes,
    sent_bytes: int,
    headers: dict[str, str] | None = None,
) -> socket.socket:
    """Send a request that declares `len(body)` bytes but send only `sent_bytes`.

    The socket stays open, so the server keeps waiting for the rest until the
    caller closes the socket to break the request off.
    """
    host, _, port = server.host.rpartition(":")
    credentials = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {server.host}",
        f"Authorization: Basic {credentials}",
        "Content-Type: application/octet-stream",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
        "",
        "",
    ]
    sock = socket.create_connection((host, int(port)), timeout=WAIT_SECONDS)
    sock.sendall("\r\n".join(lines).encode() + body[:sent_bytes])
    return sock


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


def push_blob(client: httpx.Client, repository: str, data: bytes) -> str:
    digest = digest_of(data)
    response = client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers=OCTET_STREAM,
    )
    assert response.status_code == 201, response.text
    return digest


def push_blob_in_chunks(
    client: httpx.Client, repository: str, data: bytes, chunk_bytes: int
) -> str:
    location, _ = start_upload(client, repository)
    for start in range(0, len(data), chunk_bytes):
        location = patch_chunk(
            client, location, data[start : start + chunk_bytes], start
        )
    digest = digest_of(data)
    response = client.put(location, params={"digest": digest})
    assert response.status_code == 201, response.text
    return digest


def upload_status(client: httpx.Client, location: str) -> httpx.Response:
    return client.get(location)


def upload_end(response: httpx.Response) -> int:
    """Return the byte count an upload status reply reports through its Range."""
    first, _, last = response.headers["range"].partition("-")
    assert first == "0"
    return int(last) + 1


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


@dataclass(frozen=True)
class PushedImage:
    """Content committed before a crash, to compare with what is served after it."""

    repository: str
    tag: str
    blobs: dict[str, bytes]
    manifest: bytes
    manifest_digest: str


def push_image(client: httpx.Client, repository: str, tag: str) -> PushedImage:
    """Push a config and two layers, one of them in chunks, and a tagged manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    small_layer = secrets.token_bytes(64 * 1024)
    large_layer = secrets.token_bytes(6 * MIB)
    blobs = {
        push_blob(client, repository, config): config,
        push_blob(client, repository, small_layer): small_layer,
        push_blob_in_chunks(client, repository, large_layer, 2 * MIB): large_layer,
    }
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(data), "size": len(data)}
                for data in (small_layer, large_layer)
            ],
        }
    ).encode()
    response = client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return PushedImage(repository, tag, blobs, manifest, digest_of(manifest))


# A server for the broken-client, digest and expiry tests


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """A registry with a 60 s upload expiry and JSON logs, on its own database."""
    folder = tmp_path_factory.mktemp("crash-server")
    with own_registry(
        folder,
        extra_env={
            "SEAWALL_UPLOAD_EXPIRY_SECONDS": str(UPLOAD_EXPIRY_SECONDS),
            "SEAWALL_LOG_FORMAT": "json",
        },
    ) as running:
        yield running


@pytest.fixture
def client(server: RegistryProcess) -> Iterator[httpx.Client]:
    with admin_client(server) as http:
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


# Clients that stop sending halfway through a body


@dataclass(frozen=True)
class HalfPush:
    repository: str
    digest: str


@pytest.fixture(scope="module")
def half_monolithic_post(server: RegistryProcess) -> HalfPush:
    """Break off `POST ...?digest=` after half of its declared body."""
    repository = unique_repository()
    data = secrets.token_bytes(LARGE_BLOB_BYTES)
    digest = digest_of(data)
    before = upload_files(server.data_dir)
    sock = open_partial_request(
        server,
        "POST",
        f"/v2/{repository}/blobs/uploads/?digest={digest}",
        data,
        len(data) // 2,
    )
    try:
        wait_until(
            lambda: upload_files(server.data_dir) != before,
            "the server opened an upload for the monolithic push",
        )
    finally:
        sock.close()
    wait_until(
        lambda: upload_files(server.data_dir) == before,
        "the server discarded the broken upload",
    )
    return HalfPush(repository, digest)


def test_half_post_blob_not_served(
    client: httpx.Client, half_monolithic_post: HalfPush
) -> None:
    push = half_monolithic_post
    response = client.head(f"/v2/{push.repository}/blobs/{push.digest}")
    assert response.status_code == 404


def test_half_post_leaves_no_blob_file(
    server: RegistryProcess, half_monolithic_post: HalfPush
) -> None:
    assert blob_files(server.data_dir, half_monolithic_post.digest) == []


def test_half_post_leaves_no_blob_row(
    metadata: Database, half_monolithic_post: HalfPush
) -> None:
    assert blob_row_count(metadata, half_monolithic_post.digest) == 0


def test_half_post_not_logged_as_error(
    server: RegistryProcess, half_monolithic_post: HalfPush
) -> None:
    # A client that goes away is an expected event, not a server fault.
    errors = [
        record
        for record in json_log_records(server.log_path)
        if record.get("level") == "error"
        and half_monolithic_post.repository in str(record.get("path", ""))
    ]
    assert errors == []


def test_half_post_server_still_serves(
    client: httpx.Client, half_monolithic_post: HalfPush
) -> None:
    data = secrets.token_bytes(1024)
    digest = push_blob(client, half_monolithic_post.repository, data)
    response = client.get(f"/v2/{half_monolithic_post.repository}/blobs/{digest}")
    assert response.content == data


def test_half_put_keeps_upload_offset(
    server: RegistryProcess, client: httpx.Client
) -> None:
    repository = unique_repository()
    location, upload_id = start_upload(client, repository)
    head = secrets.token_bytes(MIB)
    location = patch_chunk(client, location, head, 0)
    rest = secrets.token_bytes(LARGE_BLOB_BYTES)
    digest = digest_of(head + rest)
    upload_path = server.data_dir / "uploads" / upload_id
    sock = open_partial_request(
        server,
        "PUT",
        f"{location}?digest={digest}",
        rest,
        len(rest) // 2,
        headers={"Content-Range": f"{len(head)}-{len(head) + len(rest) - 1}"},
    )
    try:
        wait_until(
            lambda: file_size(upload_path) > len(head),
            "the server wrote part of the final chunk",
        )
    finally:
        sock.close()
    wait_until(
        lambda: file_size(upload_path) == len(head),
        "the server cut the upload back to its last complete chunk",
    )
    assert client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404
    assert blob_files(server.data_dir, digest) == []
    assert upload_end(upload_status(client, location)) == len(head)


def test_half_put_upload_still_completes(
    server: RegistryProcess, client: httpx.Client
) -> None:
    repository = unique_repository()
    location, upload_id = start_upload(client, repository)
    data = secrets.token_bytes(LARGE_BLOB_BYTES)
    digest = digest_of(data)
    upload_path = server.data_dir / "uploads" / upload_id
    sock = open_partial_request(
        server, "PUT", f"{location}?digest={digest}", data, len(data) // 2
    )
    try:
        wait_until(lambda: file_size(upload_path) > 0, "the server wrote a batch")
    finally:
        sock.close()
    wait_until(lambda: file_size(upload_path) == 0, "the server emptied the upload")
    response = client.put(
        location, params={"digest": digest}, content=data, headers=OCTET_STREAM
    )
    assert response.status_code == 201, response.text
    assert client.get(f"/v2/{repository}/blobs/{digest}").content == data


def test_half_patch_keeps_previous_chunk(
    server: RegistryProcess, client: httpx.Client
) -> None:
    repository = unique_repository()
    location, upload_id = start_upload(client, repository)
    first = secrets.token_bytes(2 * MIB)
    location = patch_chunk(client, location, first, 0)
    second = secrets.token_bytes(LARGE_BLOB_BYTES)
    upload_path = server.data_dir / "uploads" / upload_id
    sock = open_partial_request(
        server,
        "PATCH",
        location,
        second,
        len(second) // 2,
        headers={"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"},
    )
    try:
        wait_until(
            lambda: file_size(upload_path) > len(first), "the server wrote a batch"
        )
    finally:
        sock.close()
    wait_until(
        lambda: file_size(upload_path) == len(first),
        "the server cut the upload back to the first chunk",
    )
    assert upload_end(upload_status(client, location)) == len(first)


# Digests that do not match the content


def test_mismatch_on_put_rejected(client: httpx.Client) -> None:
    repository = unique_repository()
    location, _ = start_upload(client, repository)
    location = patch_chunk(client, location, secrets.token_bytes(4096), 0)
    wrong = digest_of(b"other content")
    response = client.put(location, params={"digest": wrong})
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


def test_mismatch_on_put_stores_nothing(
    server: RegistryProcess, client: httpx.Client, metadata: Database
) -> None:
    repository = unique_repository()
    data = secrets.token_bytes(3 * MIB)
    actual = digest_of(data)
    wrong = digest_of(b"other content")
    location, upload_id = start_upload(client, repository)
    location = patch_chunk(client, location, data, 0)
    response = client.put(location, params={"digest": wrong})
    assert response.status_code == 400
    for digest in (actual, wrong):
        assert client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404
        assert blob_files(server.data_dir, digest) == []
        assert blob_row_count(metadata, digest) == 0
    assert upload_id not in upload_files(server.data_dir)


def test_mismatch_on_put_discards_upload(client: httpx.Client) -> None:
    repository = unique_repository()
    location, _ = start_upload(client, repository)
    location = patch_chunk(client, location, secrets.token_bytes(4096), 0)
    client.put(location, params={"digest": digest_of(b"other content")})
    response = upload_status(client, location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_mismatch_in_final_chunk_stores_nothing(
    server: RegistryProcess, client: httpx.Client, metadata: Database
) -> None:
    repository = unique_repository()
    data = secrets.token_bytes(2 * MIB)
    wrong = digest_of(data[:-1])
    location, upload_id = start_upload(client, repository)
    response = client.put(
        location, params={"digest": wrong}, content=data, headers=OCTET_STREAM
    )
    assert response.status_code == 400
    for digest in (digest_of(data), wrong):
        assert blob_files(server.data_dir, digest) == []
        assert blob_row_count(metadata, digest) == 0
    assert upload_id not in upload_files(server.data_dir)


def test_mismatch_on_monolithic_post_stores_nothing(
    server: RegistryProcess, client: httpx.Client, metadata: Database
) -> None:
    repository = unique_repository()
    data = secrets.token_bytes(2 * MIB)
    wrong = digest_of(b"other content")
    before = upload_files(server.data_dir)
    response = client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": wrong},
        content=data,
        headers=OCTET_STREAM,
    )
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    for digest in (digest_of(data), wrong):
        assert client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404
        assert blob_files(server.data_dir, digest) == []
        assert blob_row_count(metadata, digest) == 0
    assert upload_files(server.data_dir) == before


def test_mismatch_keeps_existing_blob(
    server: RegistryProcess, client: httpx.Client
) -> None:
    # Content already stored under a digest must survive a later push that
    # names the same digest with other bytes.
    repository = unique_repository()
    original = secrets.token_bytes(4096)
    digest = push_blob(client, repository, original)
    location, _ = start_upload(client, repository)
    response = client.put(
        location,
        params={"digest": digest},
        content=secrets.token_bytes(4096),
        headers=OCTET_STREAM,
    )
    assert response.status_code == 400
    assert client.get(f"/v2/{repository}/blobs/{digest}").content == original


# Abandoned uploads expire


def backdate_upload(database: Database, upload_id: str, age: timedelta) -> None:
    with database.session() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id)
            .values(updated_at=utcnow() - age)
        )


@dataclass(frozen=True)
class PurgeRun:
    expired_location: str
    expired_path: Path
    fresh_location: str
    fresh_path: Path
    purged: int


@pytest.fixture(scope="module")
def purge_run(
    server: RegistryProcess, metadata: Database, purger: UploadService
) -> PurgeRun:
    """Open two uploads, backdate one past the expiry, and run the purge once."""
    with admin_client(server) as http:
        repository = unique_repository()
        expired_location, expired_id = start_upload(http, repository)
        expired_location = patch_chunk(
            http, expired_location, secrets.token_bytes(4096), 0
        )
        fresh_location, fresh_id = start_upload(http, repository)
        fresh_location = patch_chunk(http, fresh_location, secrets.token_bytes(4096), 0)
    backdate_upload(
        metadata, expired_id, timedelta(seconds=UPLOAD_EXPIRY_SECONDS + 3600)
    )
    purged = purger.purge_expired()
    uploads_dir = server.data_dir / "uploads"
    return PurgeRun(
        expired_location,
        uploads_dir / expired_id,
        fresh_location,
        uploads_dir / fresh_id,
        purged,
    )


def test_purge_counts_expired_upload(purge_run: PurgeRun) -> None:
    assert purge_run.purged == 1


def test_expired_upload_unknown(client: httpx.Client, purge_run: PurgeRun) -> None:
    response = upload_status(client, purge_run.expired_location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_expired_upload_file_removed(purge_run: PurgeRun) -> None:
    assert not purge_run.expired_path.exists()


def test_expired_upload_cannot_complete(
    client: httpx.Client, purge_run: PurgeRun
) -> None:
    data = secrets.token_bytes(16)
    response = client.put(
        purge_run.expired_location,
        params={"digest": digest_of(data)},
        content=data,
        headers=OCTET_STREAM,
    )
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_fresh_upload_kept(client: httpx.Client, purge_run: PurgeRun) -> None:
    response = upload_status(client, purge_run.fresh_location)
    assert response.status_code == 204


def test_fresh_upload_file_kept(purge_run: PurgeRun) -> None:
    assert purge_run.fresh_path.is_file()


def test_stale_orphan_upload_file_purged(
    server: RegistryProcess, purger: UploadService
) -> None:
    # A crash between creating an upload file and recording its row leaves a
    # file that no row names.
    orphan = server.data_dir / "uploads" / str(uuid.uuid4())
    orphan.write_bytes(b"left behind")
    old = time.time() - UPLOAD_EXPIRY_SECONDS - 3600
    os.utime(orphan, (old, old))
    purger.purge_expired()
    assert not orphan.exists()


def test_recent_orphan_upload_file_kept(
    server: RegistryProcess, purger: UploadService
) -> None:
    orphan = server.data_dir / "uploads" / str(uuid.uuid4())
    orphan.write_bytes(b"just created")
    purger.purge_expired()
    assert orphan.exists()
    orphan.unlink()


def test_stale_manifest_temp_file_purged(
    server: RegistryProcess, purger: UploadService
) -> None:
    # A crash while a manifest is written leaves its temporary file in
    # uploads/ under a name in the upload id format, with no upload row.
    leftover = server.data_dir / "uploads" / str(uuid.uuid4())
    leftover.write_bytes(b'{"schemaVersion": 2}')
    old = time.time() - UPLOAD_EXPIRY_SECONDS - 3600
    os.utime(leftover, (old, old))
    purger.purge_expired()
    assert not leftover.exists()


# SIGKILL during a large chunked upload


INTERRUPTED_BLOB_BYTES = 48 * MIB
FIRST_CHUNK_BYTES = 2 * MIB
IN_FLIGHT_BYTES = 20 * MIB


@dataclass(frozen=True)
class InterruptedUpload:
    """An upload whose second PATCH was in flight when the server was killed."""

    repository: str
    location: str
    upload_id: str
    data: bytes
    digest: str


@dataclass(frozen=True)
class Crash:
    """The state after a SIGKILL mid-upload and a restart on the same storage."""

    server: RegistryProcess
    image: PushedImage
    uploads: dict[str, InterruptedUpload]
    survivors: list[int]


def begin_interrupted_upload(
    server: RegistryProcess, client: httpx.Client, repository: str
) -> tuple[InterruptedUpload, socket.socket]:
    """Send one whole chunk, then start a PATCH of the rest and leave it unfinished."""
    data = secrets.token_bytes(INTERRUPTED_BLOB_BYTES)
    location, upload_id = start_upload(client, repository)
    location = patch_chunk(client, location, data[:FIRST_CHUNK_BYTES], 0)
    rest = data[FIRST_CHUNK_BYTES:]
    sock = open_partial_request(
        server,
        "PATCH",
        location,
        rest,
        IN_FLIGHT_BYTES,
        headers={"Content-Range": f"{FIRST_CHUNK_BYTES}-{len(data) - 1}"},
    )
    upload = InterruptedUpload(repository, location, upload_id, data, digest_of(data))
    return upload, sock


def grown_past(path: Path, size: int = FIRST_CHUNK_BYTES) -> Callable[[], bool]:
    return lambda: file_size(path) > size


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """Push an image, kill the server mid-upload with SIGKILL, and restart it."""
    folder = tmp_path_factory.mktemp("crash")
    data_dir = folder / "data"
    log_path = folder / "server.log"
    with databases.test_database_url(folder) as database_url:
        # Two workers, so SIGKILL must reach more than one child process.
        extra_env = {"SEAWALL_WORKERS": "2"}
        first = launch_registry(data_dir, database_url, log_path, extra_env=extra_env)
        sockets: list[socket.socket] = []
        uploads: dict[str, InterruptedUpload] = {}
        try:
            with admin_client(first) as http:
                image = push_image(http, unique_repository(), "v1")
                for role in ("cancel", "resume", "untouched"):
                    upload, sock = begin_interrupted_upload(
                        first, http, image.repository
                    )
                    uploads[role] = upload
                    sockets.append(sock)
            for upload in uploads.values():
                wait_until(
                    grown_past(data_dir / "uploads" / upload.upload_id),
                    f"the server wrote part of the second chunk of {upload.upload_id}",
                )
        finally:
            kill_hard(first)
            for sock in sockets:
                sock.close()
        survivors = group_members(first.process_group)
        with registry_process(
            data_dir, database_url, log_path, extra_env=extra_env
        ) as second:
            yield Crash(second, image, uploads, survivors)


@pytest.fixture
def after_crash(crash: Crash) -> Iterator[httpx.Client]:
    with admin_client(crash.server) as http:
        yield http


def test_kill_leaves_no_process(crash: Crash) -> None:
    assert crash.survivors == []


def test_interrupted_upload_reports_written_bytes(
    crash: Crash, after_crash: httpx.Client
) -> None:
    upload = crash.uploads["untouched"]
    on_disk = file_size(crash.server.data_dir / "uploads" / upload.upload_id)
    response = upload_status(after_crash, upload.location)
    assert response.status_code == 204
    assert upload_end(response) == on_disk


def test_interrupted_blob_not_served(crash: Crash, after_crash: httpx.Client) -> None:
    upload = crash.uploads["untouched"]
    response = after_crash.head(f"/v2/{upload.repository}/blobs/{upload.digest}")
    assert response.status_code == 404


def test_interrupted_blob_has_no_file(crash: Crash) -> None:
    upload = crash.uploads["untouched"]
    assert blob_files(crash.server.data_dir, upload.digest) == []


def test_interrupted_blob_has_no_row(crash: Crash) -> None:
    upload = crash.uploads["untouched"]
    assert crash.server.database_url is not None
    database = Database(crash.server.database_url)
    try:
        count = blob_row_count(database, upload.digest)
    finally:
        database.dispose()
    assert count == 0


def test_interrupted_upload_cancelled(crash: Crash, after_crash: httpx.Client) -> None:
    upload = crash.uploads["cancel"]
    cancelled = after_crash.delete(upload.location)
    assert cancelled.status_code == 204
    status = upload_status(after_crash, upload.location)
    assert status.status_code == 404
    assert error_code(status) == "BLOB_UPLOAD_UNKNOWN"
    assert upload.upload_id not in upload_files(crash.server.data_dir)


def test_interrupted_upload_resumes(crash: Crash, after_crash: httpx.Client) -> None:
    upload = crash.uploads["resume"]
    offset = upload_end(upload_status(after_crash, upload.location))
    assert offset >= FIRST_CHUNK_BYTES
    response = after_crash.put(
        upload.location,
        params={"digest": upload.digest},
        content=upload.data[offset:],
        headers={
            **OCTET_STREAM,
            "Content-Range": f"{offset}-{len(upload.data) - 1}",
        },
    )
    assert response.status_code == 201, response.text
    served = after_crash.get(f"/v2/{upload.repository}/blobs/{upload.digest}")
    assert digest_of(served.content) == upload.digest


def test_committed_blobs_served(crash: Crash, after_crash: httpx.Client) -> None:
    served = {
        digest: digest_of(
            after_crash.get(f"/v2/{crash.image.repository}/blobs/{digest}").content
        )
        for digest in crash.image.blobs
    }
    assert served == {digest: digest for digest in crash.image.blobs}


def test_committed_blob_headers(crash: Crash, after_crash: httpx.Client) -> None:
    for digest, data in crash.image.blobs.items():
        response = after_crash.head(f"/v2/{crash.image.repository}/blobs/{digest}")
        assert response.status_code == 200
        assert response.headers["docker-content-digest"] == digest
        assert int(response.headers["content-length"]) == len(data)


def test_committed_manifest_by_tag(crash: Crash, after_crash: httpx.Client) -> None:
    image = crash.image
    response = after_crash.get(
        f"/v2/{image.repository}/manifests/{image.tag}",
        headers={"Accept": OCI_MANIFEST},
    )
    assert response.status_code == 200
    assert response.content == image.manifest


def test_committed_manifest_by_digest(crash: Crash, after_crash: httpx.Client) -> None:
    image = crash.image
    response = after_crash.get(
        f"/v2/{image.repository}/manifests/{image.manifest_digest}",
        headers={"Accept": OCI_MANIFEST},
    )
    assert response.headers["docker-content-digest"] == image.manifest_digest
    assert response.content == image.manifest


def test_committed_tag_listed(crash: Crash, after_crash: httpx.Client) -> None:
    response = after_crash.get(f"/v2/{crash.image.repository}/tags/list")
    assert response.json()["tags"] == [crash.image.tag]


def test_committed_repository_in_catalog(
    crash: Crash, after_crash: httpx.Client
) -> None:
    response = after_crash.get("/v2/_catalog")
    assert crash.image.repository in response.json()["repositories"]


def test_restarted_server_accepts_push(crash: Crash, after_crash: httpx.Client) -> None:
    data = secrets.token_bytes(MIB)
    digest = push_blob_in_chunks(after_crash, crash.image.repository, data, MIB // 2)
    response = after_crash.get(f"/v2/{crash.image.repository}/blobs/{digest}")
    assert response.content == data
