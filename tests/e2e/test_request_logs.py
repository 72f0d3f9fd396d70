"""What the server logs for routine pushes and for refusals."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.protocol_helpers import push_image
from tests.support.process import json_log_records, own_registry, stop
from tests.support.server import ADMIN_PASSWORD

MISSING_BLOB = f"sha256:{'0' * 64}"


def test_routine_lookups_quiet_and_manifest_logged(tmp_path: Path) -> None:
    """A HEAD that finds no blob is routine and not logged as a refusal at info
    level, a GET that finds none is, and each manifest push is logged."""
    with own_registry(tmp_path, {"SEAWALL_LOG_FORMAT": "json"}) as running:
        with httpx.Client(
            base_url=running.url, auth=("admin", ADMIN_PASSWORD), timeout=30
        ) as client:
            head = client.head(f"/v2/library/logs/blobs/{MISSING_BLOB}")
            get = client.get(f"/v2/library/logs/blobs/{MISSING_BLOB}")
            manifest = push_image(client, "library/logs", "1.0")
        stop(running)

    assert head.status_code == 404
    assert get.status_code == 404
    records = json_log_records(running.log_path)
    blob_refusals = [
        (record["method"], record["code"])
        for record in records
        if record.get("event") == "request refused" and "/blobs/" in record["path"]
    ]
    assert blob_refusals == [("GET", "BLOB_UNKNOWN")]
    stored = [record for record in records if record.get("event") == "manifest stored"]
    assert len(stored) == 1
    assert stored[0]["repository"] == "library/logs"
    assert stored[0]["reference"] == "1.0"
    assert stored[0]["digest"] == manifest.digest
    assert stored[0]["user"] == "admin"
    assert stored[0]["level"] == "info"
