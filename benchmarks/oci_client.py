"""A minimal OCI Distribution client for timing blob and manifest transfers.

It uses `http.client` and sends blob bytes with `socket.sendfile`, so the
kernel copies file pages to the socket and the client spends almost no CPU
next to the server under test. Every request carries HTTP Basic credentials.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import socket
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

REQUEST_TIMEOUT_SECONDS = 300.0
READ_BUFFER_BYTES = 1024 * 1024
SUFFIX_BYTES = 32

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class RegistryError(RuntimeError):
    """A registry sent an unexpected status or a response that fails a check."""


@dataclass(frozen=True)
class Blob:
    """Blob content: the first `size - SUFFIX_BYTES` bytes of `path`, then `suffix`.

    Each timed push uses a new suffix, so no registry can skip the upload
    because it already stores a blob with that digest.
    """

    path: Path
    size: int
    suffix: bytes
    digest: str


class BlobSource:
    """A file of random bytes from which blobs of one size with distinct digests are made."""

    def __init__(self, path: Path, size: int) -> None:
        if size <= SUFFIX_BYTES:
            raise ValueError(f"blob size must exceed {SUFFIX_BYTES} bytes, got {size}")
        self.path = path
        self.size = size
        self._prefix_hash = hashlib.sha256()
        with path.open("rb") as file:
            remaining = size - SUFFIX_BYTES
            while remaining:
                chunk = file.read(min(remaining, 8 * READ_BUFFER_BYTES))
                if not chunk:
                    raise ValueError(f"{path} is shorter than {size} bytes")
                self._prefix_hash.update(chunk)
                remaining -= len(chunk)

    def blob(self) -> Blob:
        """Return a blob with a random suffix and its digest, without rereading the file."""
        suffix = os.urandom(SUFFIX_BYTES)
        hasher = self._prefix_hash.copy()
        hasher.update(suffix)
        return Blob(self.path, self.size, suffix, f"sha256:{hasher.hexdigest()}")


def write_random_file(path: Path, size: int) -> None:
    """Write `size` bytes from `os.urandom` to `path` and flush them to disk."""
    chunk_size = 16 * READ_BUFFER_BYTES
    with path.open("wb") as file:
        remaining = size
        while remaining:
            count = min(remaining, chunk_size)
            file.write(os.urandom(count))
            remaining -= count
        # Flush now, so the kernel's write-back of this file does not compete
        # with the first timed pushes for the disk.
        file.flush()
        os.fsync(file.fileno())


def _send_blob_range(
    sock: socket.socket, file: BinaryIO, blob: Blob, start: int, end: int
) -> None:
    """Send bytes `start` to `end` (exclusive) of `blob` on `sock`."""
    file_end = blob.size - SUFFIX_BYTES
    if start < file_end:
        count = min(end, file_end) - start
        sock.sendfile(file, offset=start, count=count)
    if end > file_end:
        suffix_start = max(start, file_end) - file_end
        sock.sendall(blob.suffix[suffix_start : end - file_end])


class RegistryClient:
    """Blob and manifest operations on one repository over one keep-alive connection."""

    def __init__(
        self, host: str, port: int, user: str, password: str, repository: str
    ) -> None:
        self.host = host
        self.port = port
        self.repository = repository
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.authorization = f"Basic {token}"
        self._connection: http.client.HTTPConnection | None = None

    # Connection and plain requests

    @property
    def connection(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=REQUEST_TIMEOUT_SECONDS
            )
        return self._connection

    def reconnect(self) -> None:
        """Open a new connection, so a timed request never meets one the server closed.

        Servers close keep-alive connections that stay idle for a while, and
        the benchmark leaves one registry idle while it measures the other.
        """
        self.close()
        self.connection.connect()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _start(self, method: str, target: str, headers: dict[str, str]) -> None:
        connection = self.connection
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.putheader("Authorization", self.authorization)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()

    def _finish(
        self, method: str, target: str, expected: int
    ) -> tuple[http.client.HTTPResponse, bytes]:
        response = self.connection.getresponse()
        body = response.read()  # empty for HEAD
        if response.will_close:
            self.close()
        if response.status != expected:
            raise RegistryError(
                f"{method} {target} returned {response.status}, expected {expected}: "
                f"{body[:500].decode(errors='replace')}"
            )
        return response, body

    def request(
        self,
        method: str,
        target: str,
        expected: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """Send a request with an in-memory body and return the checked response."""
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        if method in ("GET", "HEAD"):
            del all_headers["Content-Length"]
        self._start(method, target, all_headers)
        if body:
            self.connection.send(body)
        return self._finish(method, target, expected)

    def _send_blob(
        self, method: str, target: str, expected: int, blob: Blob, start: int, end: int
    ) -> http.client.HTTPResponse:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(end - start),
        }
        if method == "PATCH":
            headers["Content-Range"] = f"{start}-{end - 1}"
        self._start(method, target, headers)
        try:
            with blob.path.open("rb") as file:
                _send_blob_range(self.connection.sock, file, blob, start, end)
        except OSError:
            # The server may have sent an error and closed the connection
            # before reading the whole body: report its response if there is one.
            with contextlib.suppress(OSError, http.client.HTTPException):
                self._finish(method, target, expected)
            raise
        response, _ = self._finish(method, target, expected)
        return response

    def _location(self, response: http.client.HTTPResponse) -> str:
        """Return the path and query of the `Location` header, checking its host."""
        location = response.getheader("Location")
        if not location:
            raise RegistryError(f"response {response.status} has no Location header")
        url = urlsplit(urljoin(f"http://{self.host}:{self.port}/", location))
        if url.netloc not in ("", f"{self.host}:{self.port}"):
            raise RegistryError(f"Location {location!r} points at another server")
        return f"{url.path}?{url.query}" if url.query else url.path

    # Blob uploads

    @property
    def _uploads(self) -> str:
        return f"/v2/{self.repository}/blobs/uploads/"

    def supports_single_post(self) -> bool:
        """Check whether `POST ?digest=` with a body completes an upload in one request.

        The OCI Distribution spec lets a registry respond to such a request
        with 202 and an upload session instead, and then the body is ignored.
        """
        body = os.urandom(SUFFIX_BYTES)
        digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
        target = f"{self._uploads}?{urlencode({'digest': digest})}"
        headers = {"Content-Type": "application/octet-stream"}
        self._start("POST", target, {"Content-Length": str(len(body)), **headers})
        self.connection.send(body)
        response = self.connection.getresponse()
        response.read()
        if response.will_close:
            self.close()
        if response.status == 201:
            return True
        if response.status == 202:
            self.request("DELETE", self._location(response), 204)
            return False
        raise RegistryError(
            f"POST {target} returned {response.status}, expected 201 or 202"
        )

    def push_single_post(self, blob: Blob) -> None:
        """Upload `blob` with one `POST ?digest=` request that carries the whole body."""
        target = f"{self._uploads}?{urlencode({'digest': blob.digest})}"
        self._send_blob("POST", target, 201, blob, 0, blob.size)

    def _start_upload(self) -> str:
        response, _ = self.request("POST", self._uploads, 202)
        return self._location(response)

    def _with_digest(self, location: str, digest: str) -> str:
        separator = "&" if "?" in location else "?"
        return f"{location}{separator}{urlencode({'digest': digest})}"

    def push_post_put(self, blob: Blob) -> None:
        """Upload `blob` monolithically as `POST`, then one `PUT ?digest=` with the body."""
        location = self._start_upload()
        self._send_blob(
            "PUT", self._with_digest(location, blob.digest), 201, blob, 0, blob.size
        )

    def push_chunked(self, blob: Blob, chunk_size: int) -> None:
        """Upload `blob` as `POST`, `PATCH` per chunk with `Content-Range`, then `PUT ?digest=`."""
        location = self._start_upload()
        for start in range(0, blob.size, chunk_size):
            end = min(start + chunk_size, blob.size)
            response = self._send_blob("PATCH", location, 202, blob, start, end)
            location = self._location(response)
        self.request("PUT", self._with_digest(location, blob.digest), 201)

    def check_api(self) -> None:
        """Raise unless `GET /v2/` accepts the credentials."""
        self.request("GET", "/v2/", 200)

    def check_blob(self, digest: str, size: int) -> None:
        """Raise unless `HEAD` reports the blob with the expected size."""
        target = f"/v2/{self.repository}/blobs/{digest}"
        response, _ = self.request("HEAD", target, 200)
        length = response.getheader("Content-Length")
        if length != str(size):
            raise RegistryError(
                f"HEAD {target}: Content-Length {length}, expected {size}"
            )

    def pull(self, digest: str, size: int) -> None:
        """Download a blob, discard its bytes and check that exactly `size` arrived."""
        target = f"/v2/{self.repository}/blobs/{digest}"
        self._start("GET", target, {})
        response = self.connection.getresponse()
        if response.status != 200:
            body = response.read()
            self.close()
            raise RegistryError(
                f"GET {target} returned {response.status}, expected 200: {body[:500]!r}"
            )
        buffer = memoryview(bytearray(READ_BUFFER_BYTES))
        received = 0
        while count := response.readinto(buffer):
            received += count
        if response.will_close:
            self.close()
        if received != size:
            raise RegistryError(
                f"GET {target}: received {received} bytes, expected {size}"
            )

    # Manifests

    def push_small_blob(self, data: bytes) -> str:
        """Upload `data` with `POST` then `PUT ?digest=` and return its digest."""
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        location = self._start_upload()
        headers = {"Content-Type": "application/octet-stream"}
        self.request("PUT", self._with_digest(location, digest), 201, data, headers)
        return digest

    def push_image(self, tag: str) -> str:
        """Push a one-layer OCI image tagged `tag` and return the manifest digest."""
        layer_tar = _layer_tar()
        layer = gzip.compress(layer_tar, mtime=0)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"],
                },
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": _descriptor(OCI_CONFIG, config, self.push_small_blob(config)),
                "layers": [_descriptor(OCI_LAYER, layer, self.push_small_blob(layer))],
            }
        ).encode()
        target = f"/v2/{self.repository}/manifests/{tag}"
        self.request("PUT", target, 201, manifest, {"Content-Type": OCI_MANIFEST})
        return f"sha256:{hashlib.sha256(manifest).hexdigest()}"

    def get_manifest(self, reference: str) -> bytes:
        target = f"/v2/{self.repository}/manifests/{reference}"
        _, body = self.request("GET", target, 200, headers={"Accept": MANIFEST_ACCEPT})
        return body


def _descriptor(media_type: str, data: bytes, digest: str) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _layer_tar() -> bytes:
    """Return a tar archive containing one small text file, with fixed metadata."""
    content = b"Seawall benchmark image\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("benchmark.txt")
        info.size = len(content)
        info.mtime = 1700000000
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def timed(operation: Callable[[], object]) -> float:
    """Call `operation` and return its wall time in seconds."""
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start
