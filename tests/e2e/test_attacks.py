"""Hostile and malformed requests to `/v2/` that must fail cleanly.

Most tests send a request that a careless or hostile client could send and
check that the registry replies with an OCI error code and a 4xx status
instead of a 500, and that it stores nothing it should not. The last two
race two PATCHes across worker processes and hold thousands of idle
connections open. Some defects show only on one metadata backend, so those
tests start a registry of their own on SQLite or on PostgreSQL, whatever
`SEAWALL_TEST_DATABASE` selects.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from tests.e2e.protocol_helpers import (
    OCI_CONFIG,
    OCI_MANIFEST,
    assert_error,
    collect_pages,
    describe,
    digest_of,
    error_codes,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
    random_bytes,
    start_upload,
    unique_repository,
)
from tests.support.databases import DEFAULT_POSTGRES_URL
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry

# How often the two-worker race is tried. Each try needs the two PATCH
# requests to reach different worker processes, which the kernel decides,
# so one try is not enough. A try takes well under 2 seconds.
PATCH_RACE_ATTEMPTS = 40

# Idle connections opened by the slow-client test. Granian serves at most
# `backlog` (2048, set in `seawall serve`) connections per worker at once.
SLOW_CLIENT_CONNECTIONS = 2100


@contextmanager
def postgres_database_url() -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL database and drop it afterwards."""
    admin_url = os.environ.get("SEAWALL_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"seawall_attack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def postgres_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRegistry]:
    """A registry on PostgreSQL, whichever backend the suite runs on."""
    data_dir = tmp_path_factory.mktemp("postgres-registry")
    with postgres_database_url() as url, start_registry(data_dir, url) as running:
        yield running


@pytest.fixture(scope="module")
def sqlite_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRegistry]:
    """A registry on SQLite, whichever backend the suite runs on."""
    data_dir = tmp_path_factory.mktemp("sqlite-registry")
    with start_registry(data_dir, f"sqlite:///{data_dir / 'seawall.db'}") as running:
        yield running


@pytest.fixture(scope="module")
def two_worker_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRegistry]:
    """A registry with two worker processes on SQLite."""
    data_dir = tmp_path_factory.mktemp("two-worker-registry")
    with start_registry(
        data_dir,
        f"sqlite:///{data_dir / 'seawall.db'}",
        {"SEAWALL_WORKERS": "2"},
    ) as running:
        yield running


@contextmanager
def admin_client_for(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
    ) as client:
        yield client


def oci_image_document(client: httpx.Client, repository: str) -> dict[str, object]:
    """Push a config and a layer and return a manifest document for them."""
    document: dict[str, object] = image_manifest(client, repository).document
    return document


def assert_not_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, describe(response)
    assert "UNKNOWN" not in error_codes(response), describe(response)


# Error mapping


def test_delete_child_of_index_is_client_error(admin_client: httpx.Client) -> None:
    """Deleting a manifest that an index lists is rejected with a 4xx, not a 500."""
    repository = unique_repository()
    child = push_image(admin_client, repository)
    push_manifest(admin_client, repository, index_manifest([child]))

    response = admin_client.delete(f"/v2/{repository}/manifests/{child.digest}")

    assert_not_server_error(response)
    assert 400 <= response.status_code < 500, describe(response)
    still_there = admin_client.get(
        f"/v2/{repository}/manifests/{child.digest}",
        headers={"Accept": OCI_MANIFEST},
    )
    assert still_there.status_code == 200, describe(still_there)


# Input parsing


# Python 3.11 `int()` rejects strings of more than 4300 digits with ValueError.
TOO_MANY_DIGITS = "9" * 5000


@pytest.mark.parametrize("path", ["/v2/_catalog", "/v2/library/any/tags/list"])
@pytest.mark.parametrize(
    "size", ["\u00b2", TOO_MANY_DIGITS], ids=["superscript", "long"]
)
def test_page_size_non_integer_rejected(
    admin_client: httpx.Client, path: str, size: str
) -> None:
    """`n=²` passes `str.isdigit` but is no integer, nor is a 5000-digit `n`."""
    response = admin_client.get(path, params={"n": size})

    assert_not_server_error(response)
    assert response.status_code == 400, describe(response)


def test_content_range_too_many_digits_rejected(admin_client: httpx.Client) -> None:
    """A Content-Range end of 5000 digits is an invalid chunk, not a 500."""
    location = start_upload(admin_client, unique_repository()).headers["Location"]

    response = admin_client.patch(
        location,
        content=b"ab",
        headers={"Content-Range": f"0-{TOO_MANY_DIGITS}"},
    )

    assert_not_server_error(response)
    assert response.status_code in {400, 416}, describe(response)


@pytest.mark.parametrize(
    "header",
    [f"bytes={TOO_MANY_DIGITS}-", f"bytes=0-{TOO_MANY_DIGITS}"],
    ids=["long-start", "long-end"],
)
def test_blob_range_too_many_digits_handled(
    admin_client: httpx.Client, header: str
) -> None:
    """A Range header with a 5000-digit position gets 206, 200 or 416, not 500."""
    repository = unique_repository()
    data = random_bytes(64)
    digest = push_blob(admin_client, repository, data)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": header}
    )

    assert_not_server_error(response)
    assert response.status_code in {200, 206, 416}, describe(response)


def test_manifest_with_huge_integer_invalid(admin_client: httpx.Client) -> None:
    """An integer literal longer than Python's int parsing limit is MANIFEST_INVALID."""
    repository = unique_repository()
    document = oci_image_document(admin_client, repository)
    body = json.dumps(document).encode()
    # A 5000-digit number exceeds the 4300-digit limit of int() in Python 3.11.
    body = body[:-1] + b',"x-size":' + b"9" * 5000 + b"}"

    response = admin_client.put(
        f"/v2/{repository}/manifests/huge",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )

    assert_error(response, 400, "MANIFEST_INVALID")


def test_manifest_lone_surrogate_invalid(admin_client: httpx.Client) -> None:
    """A `\\ud800` escape decodes to text that no database can store, so it is invalid."""
    repository = unique_repository()
    document = oci_image_document(admin_client, repository)
    document["artifactType"] = "application/vnd.example\ud800"
    body = json.dumps(document).encode()

    response = admin_client.put(
        f"/v2/{repository}/manifests/surrogate",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )

    assert_error(response, 400, "MANIFEST_INVALID")


def test_tag_with_trailing_newline_rejected(admin_client: httpx.Client) -> None:
    """The tag grammar ends at `$`, which in Python also matches before a final newline."""
    repository = unique_repository()
    manifest = image_manifest(admin_client, repository)

    response = admin_client.put(
        f"/v2/{repository}/manifests/v1%0A",
        content=manifest.body,
        headers={"Content-Type": manifest.media_type},
    )

    assert_error(response, 400, "NAME_INVALID")
    tags = collect_pages(admin_client, f"/v2/{repository}/tags/list", "tags")
    assert "v1\n" not in tags


# Transactions


def test_failed_manifest_push_creates_no_repository(
    sqlite_registry: RunningRegistry,
) -> None:
    """A manifest push that fails leaves no empty repository behind.

    On SQLite the savepoint that inserts the repository row commits on its
    own, so the rollback after `MANIFEST_BLOB_UNKNOWN` does not remove it.
    """
    repository = unique_repository()
    missing = random_bytes(32)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": digest_of(missing),
            "size": len(missing),
        },
        "layers": [],
    }
    with admin_client_for(sqlite_registry) as client:
        pushed = client.put(
            f"/v2/{repository}/manifests/latest",
            content=json.dumps(document).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert_error(pushed, 400, "MANIFEST_BLOB_UNKNOWN")

        tags = client.get(f"/v2/{repository}/tags/list")
        assert_error(tags, 404, "NAME_UNKNOWN")
        catalog = collect_pages(client, "/v2/_catalog", "repositories")
        assert repository not in catalog


# PostgreSQL text columns


def test_nul_in_listing_marker_not_server_error(
    postgres_registry: RunningRegistry,
) -> None:
    """PostgreSQL rejects NUL in text parameters, but `last=%00` must not become a 500."""
    with admin_client_for(postgres_registry) as client:
        repository = unique_repository()
        image = push_image(client, repository, "latest")

        catalog = client.get("/v2/_catalog", params={"last": "\x00"})
        tags = client.get(f"/v2/{repository}/tags/list", params={"last": "\x00"})
        referrers = client.get(
            f"/v2/{repository}/referrers/{image.digest}",
            params={"artifactType": "\x00"},
        )

    assert_not_server_error(catalog)
    assert_not_server_error(tags)
    assert_not_server_error(referrers)


def test_nul_in_username_is_unauthorized(postgres_registry: RunningRegistry) -> None:
    """Anyone can send Basic credentials with a NUL byte, which must get 401, not 500."""
    token = base64.b64encode(b"ad\x00min:wrong").decode()

    response = httpx.get(
        f"{postgres_registry.url}/v2/",
        headers={"Authorization": f"Basic {token}"},
        timeout=60,
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_nul_in_artifact_type_not_server_error(
    postgres_registry: RunningRegistry,
) -> None:
    """A manifest whose artifactType contains NUL is rejected as invalid on PostgreSQL."""
    with admin_client_for(postgres_registry) as client:
        repository = unique_repository()
        document = oci_image_document(client, repository)
        document["artifactType"] = "application/vnd.example\x00"

        response = client.put(
            f"/v2/{repository}/manifests/nul",
            content=json.dumps(document).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        )

    assert_error(response, 400, "MANIFEST_INVALID")


# Concurrent chunks across worker processes


def _authorization() -> str:
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    return f"Basic {token}"


def _open_patch(host: str, location: str, length: int) -> socket.socket:
    """Send the head of a PATCH for bytes 0..length-1 and return the open socket."""
    address, _, port = host.rpartition(":")
    sock = socket.create_connection((address, int(port)), timeout=10)
    head = (
        f"PATCH {location} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Authorization: {_authorization()}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n"
        f"Content-Range: 0-{length - 1}\r\n"
        "\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _read_status(sock: socket.socket) -> int:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    status_line = received.split(b"\r\n", 1)[0].split(b" ")
    assert len(status_line) >= 2, f"no HTTP status line in {received[:200]!r}"
    return int(status_line[1])


def _race_two_patches(
    host: str, location: str, first: bytes, second: bytes
) -> tuple[int, int] | None:
    """Send two PATCHes for the same byte range so both pass the offset check.

    Both request heads go out before either body is complete. The second
    body is finished first, then the first. Returns both statuses, or None
    when the two requests reached the same worker process, whose upload
    lock serializes them.
    """
    patch_first = _open_patch(host, location, len(first))
    patch_second = _open_patch(host, location, len(second))
    try:
        patch_first.sendall(first[:10])
        patch_second.sendall(second[:10])
        time.sleep(0.2)
        patch_second.sendall(second[10:])
        patch_second.settimeout(1.0)
        try:
            second_status = _read_status(patch_second)
        except TimeoutError:
            # Same worker: the second request waits for the first one's lock.
            patch_first.sendall(first[10:])
            patch_first.settimeout(10)
            patch_second.settimeout(10)
            _read_status(patch_first)
            _read_status(patch_second)
            return None
        patch_first.sendall(first[10:])
        first_status = _read_status(patch_first)
        return first_status, second_status
    finally:
        patch_first.close()
        patch_second.close()


def test_parallel_patch_across_workers_keeps_digest(
    two_worker_registry: RunningRegistry,
) -> None:
    """A blob is never stored under a digest that its content does not have.

    Two PATCHes for bytes 0..n-1 of one upload that reach different worker
    processes both pass the offset check, because the upload lock is per
    process. Each worker keeps its own running sha256 of what it wrote,
    while the file ends up with the bytes of whichever request wrote last.
    Completing the upload on the worker whose hash belongs to the
    overwritten chunk then stores the other chunk's bytes under that digest.
    """
    repository = unique_repository()
    checked_commits = 0
    with admin_client_for(two_worker_registry) as client:
        for _ in range(PATCH_RACE_ATTEMPTS):
            first, second = random_bytes(1000), random_bytes(1000)
            location = start_upload(client, repository).headers["Location"]
            statuses = _race_two_patches(
                two_worker_registry.host, location, first, second
            )
            if statuses != (202, 202):
                client.delete(location)
                continue
            # `first` finished last, so the file contains it. The worker that
            # served `second` still has a running hash of `second`.
            digest = digest_of(second)
            completed = client.put(location, params={"digest": digest})
            if completed.status_code != 201:
                continue
            served = client.get(f"/v2/{repository}/blobs/{digest}")
            assert served.status_code == 200, describe(served)
            assert digest_of(served.content) == digest, (
                f"blob {digest} is served with content of digest "
                f"{digest_of(served.content)}"
            )
            checked_commits += 1
            if checked_commits >= 3:
                break


# Slow clients


def test_slow_clients_do_not_block_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Idle connections that never finish their headers must not lock others out.

    One anonymous client opens a few thousand connections and sends only
    part of a request head on each. A normal request sent afterwards must
    still get a reply within 15 seconds.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SLOW_CLIENT_CONNECTIONS + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    data_dir = tmp_path_factory.mktemp("slow-client-registry")
    database_url = f"sqlite:///{data_dir / 'seawall.db'}"
    with start_registry(data_dir, database_url) as running:
        address, _, port = running.host.rpartition(":")
        idle: list[socket.socket] = []
        try:
            for _ in range(SLOW_CLIENT_CONNECTIONS):
                sock = socket.create_connection((address, int(port)), timeout=10)
                sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {running.host}\r\n".encode())
                idle.append(sock)
            started = time.monotonic()
            try:
                response = httpx.get(
                    f"{running.url}/v2/",
                    auth=("admin", ADMIN_PASSWORD),
                    timeout=15,
                )
            except httpx.TimeoutException:
                elapsed = time.monotonic() - started
                pytest.fail(
                    f"GET /v2/ got no answer in {elapsed:.1f} s while "
                    f"{SLOW_CLIENT_CONNECTIONS} connections sat idle mid-header"
                )
            assert response.status_code == 200, describe(response)
        finally:
            for sock in idle:
                sock.close()
