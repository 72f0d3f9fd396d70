"""The scanner adapter's puller and the pull recorder against hostile or broken peers.

The registry here is a small HTTP server of the test's own on 127.0.0.1
that serves whatever each test scripts: huge or slow manifests, endless
blobs, wrong bytes and redirects. The pull recorder writes to a real
SQLite database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.migrate import upgrade_schema
from seawall.db.models import Project, Repository
from seawall.registry.pulls import PullRecorder
from seawall.scan.adapter.puller import PullError, PullLimits, pull_image

REPOSITORY = "library/app"
BASIC = "Basic " + base64.b64encode(b"user:secret").decode()
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# Every hostile server stops sending after this long, so no test can hang.
SERVER_GIVE_UP_SECONDS = 15.0

Respond = Callable[[BaseHTTPRequestHandler], None]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class HostileRegistry:
    """Routes by path; every request is recorded with its Authorization header."""

    url: str = ""
    routes: dict[str, Respond] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, prefix: str) -> list[tuple[str, str]]:
        with self.lock:
            return [item for item in self.seen if item[0].startswith(prefix)]


@pytest.fixture
def hostile() -> Iterator[Callable[[], HostileRegistry]]:
    servers: list[ThreadingHTTPServer] = []

    def start() -> HostileRegistry:
        registry = HostileRegistry()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with registry.lock:
                    registry.seen.append(
                        (self.path, self.headers.get("Authorization", ""))
                    )
                respond = registry.routes.get(path)
                if respond is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    respond(self)
                except (BrokenPipeError, ConnectionResetError):
                    return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        registry.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return registry

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point `tempfile` at a folder of the test's own, to see what a pull leaves."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def send_bytes(body: bytes, content_type: str = "application/octet-stream") -> Respond:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def send_forever(chunk: bytes, pause: float) -> Respond:
    """Send `chunk` without end (no length, connection close) until the give-up time."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", OCI_MANIFEST)
        handler.send_header("Connection", "close")
        handler.end_headers()
        deadline = time.monotonic() + SERVER_GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            handler.wfile.write(chunk)
            handler.wfile.flush()
            if pause:
                time.sleep(pause)

    return respond


def redirect(location: str) -> Respond:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(307)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def challenge(realm: str) -> Respond:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(401)
        handler.send_header(
            "WWW-Authenticate", f'Bearer realm="{realm}",service="registry"'
        )
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def image_with_layer(layer_descriptor: dict[str, Any]) -> bytes:
    config = b"{}"
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": 2},
        "layers": [layer_descriptor],
    }
    return json.dumps(document).encode()


def serve_image(registry: HostileRegistry, manifest: bytes) -> str:
    digest = sha256(manifest)
    registry.routes[f"/v2/{REPOSITORY}/manifests/{digest}"] = send_bytes(
        manifest, OCI_MANIFEST
    )
    return digest


def pull(
    registry: HostileRegistry,
    digest: str,
    limits: PullLimits | None = None,
    timeout: float = 5.0,
) -> None:
    with pull_image(
        registry.url, BASIC, REPOSITORY, digest, limits=limits, timeout=timeout
    ):
        pytest.fail("the pull succeeded, but the registry served bad content")


# --- the puller ---------------------------------------------------------------------


def test_huge_manifest_rejected(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    digest = sha256(b"never served")
    path = f"/v2/{REPOSITORY}/manifests/{digest}"
    registry.routes[path] = send_forever(b"x" * 65536, 0)

    with pytest.raises(PullError, match="larger than the limit"):
        pull(registry, digest, PullLimits(max_manifest_bytes=1024 * 1024))

    assert list(private_tmp.iterdir()) == []


def test_slow_manifest_times_out(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    digest = sha256(b"never served")
    path = f"/v2/{REPOSITORY}/manifests/{digest}"
    registry.routes[path] = send_forever(b" ", 0.1)
    limits = PullLimits(max_pull_seconds=2.0)

    started = time.monotonic()
    with pytest.raises(PullError, match="timed out"):
        pull(registry, digest, limits, timeout=5.0)

    assert time.monotonic() - started < SERVER_GIVE_UP_SECONDS - 5
    assert list(private_tmp.iterdir()) == []


def test_slow_blob_times_out(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    layer_digest = sha256(b"layer")
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": layer_digest, "size": 10**9}
    )
    digest = serve_image(registry, manifest)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{layer_digest}"] = send_forever(b"z", 0.1)

    started = time.monotonic()
    with pytest.raises(PullError, match="timed out"):
        pull(registry, digest, PullLimits(max_pull_seconds=2.0))

    assert time.monotonic() - started < SERVER_GIVE_UP_SECONDS - 5
    assert list(private_tmp.iterdir()) == []


def test_body_cut_off_is_pull_error(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    digest = sha256(b"never served")

    def cut_off(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", OCI_MANIFEST)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"{")
        handler.wfile.flush()
        handler.close_connection = True

    registry.routes[f"/v2/{REPOSITORY}/manifests/{digest}"] = cut_off

    with pytest.raises(PullError, match="manifest"):
        pull(registry, digest)

    assert list(private_tmp.iterdir()) == []


def test_endless_blob_rejected(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    layer_digest = sha256(b"layer")
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": layer_digest, "size": 100_000}
    )
    digest = serve_image(registry, manifest)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{layer_digest}"] = send_forever(
        b"z" * 65536, 0
    )

    with pytest.raises(PullError, match="larger than its descriptor size"):
        pull(registry, digest)

    assert list(private_tmp.iterdir()) == []


def test_blob_bytes_not_matching_digest(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    layer = b"the promised layer"
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
    )
    digest = serve_image(registry, manifest)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{sha256(layer)}"] = send_bytes(
        b"X" * len(layer)
    )

    with pytest.raises(PullError, match="does not match digest"):
        pull(registry, digest)

    assert list(private_tmp.iterdir()) == []


def test_manifest_not_matching_digest(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": sha256(b"l"), "size": 1}
    )
    digest = sha256(b"something else")
    registry.routes[f"/v2/{REPOSITORY}/manifests/{digest}"] = send_bytes(
        manifest, OCI_MANIFEST
    )

    with pytest.raises(PullError, match="do not match digest"):
        pull(registry, digest)


def test_deeply_nested_manifest(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    manifest = b"[" * 200_000 + b"]" * 200_000
    digest = serve_image(registry, manifest)

    with pytest.raises(PullError, match="not valid JSON"):
        pull(registry, digest)


def test_redirect_drops_credentials(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry, elsewhere = hostile(), hostile()
    layer = b"layer bytes"
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
    )
    digest = serve_image(registry, manifest)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{sha256(layer)}"] = redirect(
        f"{elsewhere.url}/object"
    )
    elsewhere.routes["/object"] = send_bytes(layer)

    with pull_image(registry.url, BASIC, REPOSITORY, digest) as image:
        pulled = image.layers[0].path.read_bytes()

    assert pulled == layer
    assert registry.requests_to("/v2/")[0][1] == BASIC
    assert elsewhere.requests_to("/object") == [("/object", "")]
    assert list(private_tmp.iterdir()) == []


def test_redirect_loop_stops(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    registry = hostile()
    layer_digest = sha256(b"layer")
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": layer_digest, "size": 5}
    )
    digest = serve_image(registry, manifest)
    blob_path = f"/v2/{REPOSITORY}/blobs/{layer_digest}"
    registry.routes[blob_path] = redirect(blob_path)

    with pytest.raises(PullError, match="redirected too often"):
        pull(registry, digest)

    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"]
)
def test_redirect_to_other_scheme(
    hostile: Callable[[], HostileRegistry], private_tmp: Path, location: str
) -> None:
    registry = hostile()
    layer_digest = sha256(b"layer")
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": layer_digest, "size": 5}
    )
    digest = serve_image(registry, manifest)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{layer_digest}"] = redirect(location)

    with pytest.raises(PullError, match="non-HTTP URL"):
        pull(registry, digest)


def test_foreign_challenge_gets_no_credentials(
    hostile: Callable[[], HostileRegistry], private_tmp: Path
) -> None:
    # A blob store the registry redirects to must not be able to make the
    # puller exchange the registry's credentials for a token.
    registry, elsewhere = hostile(), hostile()
    layer = b"layer bytes"
    manifest = image_with_layer(
        {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
    )
    digest = serve_image(registry, manifest)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{sha256(layer)}"] = redirect(
        f"{elsewhere.url}/object"
    )
    registry.routes["/token"] = send_bytes(b'{"token": "t"}', "application/json")
    elsewhere.routes["/object"] = challenge(f"{registry.url}/token")

    with pytest.raises(PullError, match="HTTP 401"):
        pull(registry, digest)

    assert registry.requests_to("/token") == []


# --- the pull recorder ----------------------------------------------------------------


def test_failed_flush_keeps_pulls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pulls.db'}"
    database = Database(url)
    recorder = PullRecorder()
    for _ in range(3):
        recorder.record("library/app", "sha256:" + "a" * 64, "1.0")

    try:
        with pytest.raises(Exception, match="no such table"):
            recorder.flush(database)
        upgrade_schema(url)
        with database.session() as session:
            project = Project(name="library")
            session.add(project)
            session.flush()
            session.add(Repository(name="library/app", project_id=project.id))
        written = recorder.flush(database)
        with database.session(read_only=True) as session:
            count = session.scalar(
                select(Repository.pull_count).where(Repository.name == "library/app")
            )
    finally:
        database.dispose()

    assert written == 3
    assert count == 3
