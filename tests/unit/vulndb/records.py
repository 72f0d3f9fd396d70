"""Builders of OSV records, zips and a local HTTP server for the importer tests."""

from __future__ import annotations

import functools
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from seawall.db import Database
from seawall.db.models import Advisory, AdvisoryPackage


def osv_record(
    record_id: str,
    *,
    package: str = "demo",
    ecosystem: str = "PyPI",
    fixed: str = "2.0",
    modified: str = "2024-01-01T00:00:00Z",
    **fields: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": record_id,
        "modified": modified,
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": package},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": fixed}],
                    }
                ],
            }
        ],
    }
    document.update(fields)
    return document


def write_zip(path: Path, members: dict[str, bytes | dict[str, Any]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            data = (
                content if isinstance(content, bytes) else json.dumps(content).encode()
            )
            archive.writestr(name, data)
    return path


def advisory_count(database: Database) -> int:
    with database.session(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Advisory)) or 0)


def package_count(database: Database) -> int:
    with database.session(read_only=True) as session:
        return int(
            session.scalar(select(func.count()).select_from(AdvisoryPackage)) or 0
        )


def stored_document(database: Database, record_id: str) -> dict[str, Any] | None:
    with database.session(read_only=True) as session:
        row = session.get(Advisory, record_id)
        return None if row is None else dict(json.loads(row.document))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on a free loopback port; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
