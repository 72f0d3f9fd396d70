"""Builders and request helpers for the OCI Distribution protocol tests.

Every test builds its content from random bytes and pushes it to a repository
named with a fresh UUID, because one registry process serves the whole test
session. Helpers that set up state assert on each response, so a broken
setup step fails with the request and reply that caused it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.server import ADMIN_PASSWORD

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCTET_STREAM = {"Content-Type": "application/octet-stream"}

# Content of the OCI empty descriptor, the config of artifacts that need none.
EMPTY_JSON = b"{}"

# The spec expects registries to accept manifests of at least 4 MiB, and
# Seawall rejects anything larger with 413.
MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024

# Harbor role id of a project developer, who may pull and push.
DEVELOPER_ROLE = 2

Json = dict[str, Any]

_NEXT_LINK = re.compile(r'^<(?P<url>[^>]+)>;\s*rel="next"$')


def random_bytes(size: int = 2048) -> bytes:
    return secrets.token_bytes(size)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def unique_name(prefix: str = "proto") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def unique_repository(project: str = "library") -> str:
    return f"{project}/{unique_name()}"


def encode_json(document: object) -> bytes:
    """Encode `document` without whitespace, as Go clients using encoding/json do."""
    return json.dumps(document, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: object) -> Json:
    return {
        "mediaType": media_type,
        "digest": digest_of(data),
        "size": len(data),
        **extra,
    }


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as pushed: its bytes and the media type sent with them."""

    body: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digest_of(self.body)

    @property
    def document(self) -> Json:
        parsed: Json = json.loads(self.body)
        return parsed

    def descriptor(self, **extra: object) -> Json:
        return descriptor(self.media_type, self.body, **extra)


def describe(response: httpx.Response) -> str:
    """Summarize a request and its response for assertion messages."""
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code}: {response.text[:1000]}"


def error_codes(response: httpx.Response) -> list[str]:
    """Return the `code` of each entry in an OCI error body, or [] for any other body."""
    try:
        document = response.json()
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(entry.get("code")) for entry in errors if isinstance(entry, dict)]


def error_messages(response: httpx.Response) -> str:
    """Join the `message` of each entry in an OCI error body."""
    try:
        errors = response.json().get("errors", [])
    except (ValueError, AttributeError):
        return ""
    return " ".join(
        str(entry.get("message", "")) for entry in errors if isinstance(entry, dict)
    )


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """Check that `response` is an OCI error reply with `status` and `code`."""
    assert response.status_code == status, describe(response)
    assert code in error_codes(response), describe(response)


def start_upload(client: httpx.Client, repository: str) -> httpx.Response:
    """Open an upload session with an empty POST and return the 202 reply."""
    response = client.post(
        f"/v2/{repository}/blobs/uploads/", headers={"Content-Length": "0"}
    )
    assert response.status_code == 202, describe(response)
    assert "Location" in response.headers, describe(response)
    return response


def push_blob(
    client: httpx.Client, repository: str, data: bytes, algorithm: str = "sha256"
) -> str:
    """Upload `data` with POST then PUT, the flow every registry must support."""
    location = start_upload(client, repository).headers["Location"]
    digest = digest_of(data, algorithm)
    response = client.put(
        location, params={"digest": digest}, content=data, headers=OCTET_STREAM
    )
    assert response.status_code == 201, describe(response)
    return digest


def patch_chunk(
    client: httpx.Client, location: str, chunk: bytes, start: int
) -> httpx.Response:
    end = start + len(chunk) - 1
    headers = {**OCTET_STREAM, "Content-Range": f"{start}-{end}"}
    return client.patch(location, content=chunk, headers=headers)


def assert_blob_stored(client: httpx.Client, repository: str, data: bytes) -> None:
    response = client.get(f"/v2/{repository}/blobs/{digest_of(data)}")
    assert response.status_code == 200, describe(response)
    assert response.content == data


def assert_blob_absent(client: httpx.Client, repository: str, digest: str) -> None:
    response = client.head(f"/v2/{repository}/blobs/{digest}")
    assert response.status_code == 404, describe(response)


def put_manifest(
    client: httpx.Client, repository: str, reference: str, manifest: Manifest
) -> httpx.Response:
    return client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=manifest.body,
        headers={"Content-Type": manifest.media_type},
    )


def push_manifest(
    client: httpx.Client,
    repository: str,
    manifest: Manifest,
    reference: str | None = None,
) -> Manifest:
    """Push `manifest` by `reference`, or by its digest when no reference is given."""
    response = put_manifest(client, repository, reference or manifest.digest, manifest)
    assert response.status_code == 201, describe(response)
    return manifest


def image_config(layers: list[bytes]) -> bytes:
    """Build an image config naming `layers`, with a random label so each config is unique."""
    document = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"test.nonce": secrets.token_hex(8)}},
        "rootfs": {
            "type": "layers",
            "diff_ids": [digest_of(layer) for layer in layers],
        },
    }
    return encode_json(document)


def image_manifest(
    client: httpx.Client,
    repository: str,
    *,
    media_type: str = OCI_MANIFEST,
    layer_count: int = 1,
    **fields: object,
) -> Manifest:
    """Upload a config and random layers, and return a manifest for them, not yet pushed.

    `fields` become extra top-level manifest fields such as `subject`,
    `artifactType` or `annotations`.
    """
    config_type, layer_type = OCI_CONFIG, OCI_LAYER
    if media_type == DOCKER_MANIFEST:
        config_type, layer_type = DOCKER_CONFIG, DOCKER_LAYER
    layers = [random_bytes() for _ in range(layer_count)]
    config = image_config(layers)
    for blob in [config, *layers]:
        push_blob(client, repository, blob)

    document: Json = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, layer) for layer in layers],
        **fields,
    }
    return Manifest(encode_json(document), media_type)


def push_image(
    client: httpx.Client,
    repository: str,
    reference: str | None = None,
    *,
    media_type: str = OCI_MANIFEST,
    **fields: object,
) -> Manifest:
    """Push an image with one random layer, by `reference` or by digest."""
    manifest = image_manifest(client, repository, media_type=media_type, **fields)
    return push_manifest(client, repository, manifest, reference)


def push_artifact(
    client: httpx.Client,
    repository: str,
    subject: Manifest | None,
    *,
    artifact_type: str | None = None,
    config_media_type: str = OCI_EMPTY,
    annotations: dict[str, str] | None = None,
    reference: str | None = None,
) -> Manifest:
    """Push an OCI artifact manifest, with an empty config, that refers to `subject`."""
    push_blob(client, repository, EMPTY_JSON)
    layer = random_bytes(64)
    push_blob(client, repository, layer)

    document: Json = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_media_type, EMPTY_JSON),
        "layers": [descriptor("application/vnd.example.data.v1", layer)],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = subject.descriptor()
    if annotations is not None:
        document["annotations"] = annotations
    return push_manifest(
        client, repository, Manifest(encode_json(document), OCI_MANIFEST), reference
    )


def index_manifest(
    children: list[Manifest], media_type: str = OCI_INDEX, **fields: object
) -> Manifest:
    """Build an index or Docker manifest list of `children`, not yet pushed."""
    entries = [
        child.descriptor(platform={"architecture": architecture, "os": "linux"})
        for child, architecture in zip(
            children, ["amd64", "arm64", "s390x", "ppc64le"], strict=False
        )
    ]
    document: Json = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": entries,
        **fields,
    }
    return Manifest(encode_json(document), media_type)


def next_link(response: httpx.Response) -> str | None:
    """Return the target of a `Link: <url>; rel="next"` header, or None without one."""
    header = response.headers.get("Link")
    if header is None:
        return None
    match = _NEXT_LINK.match(header.strip())
    assert match is not None, f"malformed Link header {header!r}"
    return match["url"]


def collect_pages(
    client: httpx.Client, path: str, key: str, params: dict[str, str] | None = None
) -> list[str]:
    """Follow `Link` headers from `path` and concatenate the `key` list of every page."""
    items: list[str] = []
    response = client.get(path, params=params)
    for _ in range(10_000):
        assert response.status_code == 200, describe(response)
        items.extend(response.json()[key] or [])
        link = next_link(response)
        if link is None:
            return items
        response = client.get(link)
    raise AssertionError(f"pagination of {path} did not end after 10,000 pages")


def admin_authorization() -> str:
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    return f"Basic {token}"


@dataclass(frozen=True)
class RawResponse:
    status: int
    head: str
    body: bytes


def send_raw(
    host: str, request_head: str, body: bytes = b"", timeout: float = 20.0
) -> RawResponse:
    """Send a request that httpx would reject as malformed, half-close, and read the reply.

    `host` is `127.0.0.1:PORT`. The caller writes the request line and headers
    without the blank line that ends them. Shutting down the write side signals
    to the server that no more body bytes will follow.
    """
    address, _, port = host.rpartition(":")
    with socket.create_connection((address, int(port)), timeout=timeout) as sock:
        sock.sendall(request_head.encode() + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split(" ")
    assert len(parts) >= 2, f"no HTTP status line in {received[:200]!r}"
    assert parts[1].isdigit(), f"no HTTP status line in {received[:200]!r}"
    return RawResponse(int(parts[1]), head.decode(errors="replace"), rest)
