"""A scripted scanner adapter that follows Harbor's pluggable scanner API.

It serves `GET /api/v1/metadata`, `POST /api/v1/scan` (202 with a new id)
and `GET /api/v1/scan/{id}/report`, which returns 302 with `Refresh-After`
for the first `pending_polls` requests of each scan and then the fixed
report. Every request is recorded with its headers, so tests can check
what a client sent. It runs on a free 127.0.0.1 port in a thread.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from seawall.scan.reports import GENERIC_REPORT_MIME, HARBOR_REPORT_MIME

GOOD_METADATA: dict[str, Any] = {
    "scanner": {"name": "Scripted", "vendor": "Seawall tests", "version": "1.0"},
    "capabilities": [
        {
            "consumes_mime_types": [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            ],
            "produces_mime_types": [GENERIC_REPORT_MIME, HARBOR_REPORT_MIME],
        }
    ],
    "properties": {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"},
}

FIXED_REPORT: dict[str, Any] = {
    "generated_at": "2024-05-01T10:00:00Z",
    "scanner": {"name": "Scripted", "vendor": "Seawall tests", "version": "1.0"},
    "severity": "High",
    "vulnerabilities": [
        {
            "id": "CVE-2021-23337",
            "package": "lodash",
            "version": "4.17.15",
            "fix_version": "4.17.21",
            "severity": "High",
            "description": "Command injection in template.",
            "links": ["https://osv.dev/vulnerability/GHSA-35jh-r3h4-6jhm"],
            "preferred_cvss": {
                "score_v3": 7.2,
                "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
            },
            "cwe_ids": ["CWE-94"],
            "vendor_attributes": {"ids": ["GHSA-35jh-r3h4-6jhm"], "ecosystem": "npm"},
        },
        {
            "id": "CVE-2021-44906",
            "package": "minimist",
            "version": "1.2.5",
            "fix_version": "",
            "severity": "Critical",
        },
    ],
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class AdapterScript:
    """What the adapter returns; tests change it between requests."""

    metadata: Any = field(default_factory=lambda: json.loads(json.dumps(GOOD_METADATA)))
    metadata_status: int = 200
    report: Any = field(default_factory=lambda: json.loads(json.dumps(FIXED_REPORT)))
    pending_polls: int = 2
    refresh_after: str | None = "1"
    # When set, the report operation returns this status and error body
    # after the pending polls.
    report_error: tuple[int, str] | None = None
    scan_error: tuple[int, str] | None = None
    # A Location header sent with each 302, to check that clients ignore it.
    redirect_location: str | None = None


@dataclass
class ScriptedAdapter:
    url: str
    script: AdapterScript
    requests: list[RecordedRequest] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]


def _handler_class(adapter: ScriptedAdapter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _record(self, body: bytes = b"") -> None:
            headers = {key.lower(): value for key, value in self.headers.items()}
            with adapter.lock:
                adapter.requests.append(
                    RecordedRequest(self.command, self.path, headers, body)
                )

        def _send_json(
            self,
            status: int,
            body: Any,
            content_type: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _send_error(self, status: int, message: str) -> None:
            self._send_json(
                status,
                {"error": {"message": message}},
                "application/vnd.scanner.adapter.error+json; version=1.0",
            )

        def do_GET(self) -> None:
            self._record()
            script = adapter.script
            if self.path == "/api/v1/metadata":
                if script.metadata_status != 200:
                    self._send_error(script.metadata_status, "metadata unavailable")
                    return
                self._send_json(200, script.metadata)
                return
            parts = self.path.split("/")
            if len(parts) == 6 and parts[:4] == ["", "api", "v1", "scan"]:
                self._report(parts[4])
                return
            self._send_error(404, f"no route for {self.path}")

        def _report(self, scan_id: str) -> None:
            script = adapter.script
            with adapter.lock:
                if scan_id not in adapter.polls:
                    known = False
                else:
                    known = True
                    adapter.polls[scan_id] += 1
                    count = adapter.polls[scan_id]
            if not known:
                self._send_error(404, f"scan {scan_id} not found")
                return
            if count <= script.pending_polls:
                self.send_response(302)
                if script.refresh_after is not None:
                    self.send_header("Refresh-After", script.refresh_after)
                if script.redirect_location is not None:
                    self.send_header("Location", script.redirect_location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if script.report_error is not None:
                status, message = script.report_error
                self._send_error(status, message)
                return
            self._send_json(200, script.report, self.headers.get("Accept", ""))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            self._record(body)
            if self.path != "/api/v1/scan":
                self._send_error(404, f"no route for {self.path}")
                return
            if adapter.script.scan_error is not None:
                status, message = adapter.script.scan_error
                self._send_error(status, message)
                return
            scan_id = str(uuid.uuid4())
            with adapter.lock:
                adapter.polls[scan_id] = 0
            self._send_json(
                202,
                {"id": scan_id},
                "application/vnd.scanner.adapter.scan.response+json; version=1.0",
            )

    return Handler


@contextmanager
def scripted_adapter(script: AdapterScript | None = None) -> Iterator[ScriptedAdapter]:
    """Run a scripted adapter on a free 127.0.0.1 port until the block exits."""
    adapter = ScriptedAdapter(url="", script=script or AdapterScript())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(adapter))
    adapter.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield adapter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
