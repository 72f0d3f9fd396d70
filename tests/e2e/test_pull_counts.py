"""Manifest GETs are counted as pulls and written to the database within seconds."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx

from tests.support.oci_layout import read_blob, tagged_manifest
from tests.support.server import RunningRegistry

API = "/api/v2.0"
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def push_clean(client: httpx.Client, testdata: Path, repository: str) -> str:
    layout = testdata / "images" / "clean"
    entry = tagged_manifest(layout, "1.0")
    manifest = read_blob(layout, entry.digest)
    document = json.loads(manifest)
    for descriptor in [document["config"], *document["layers"]]:
        data = read_blob(layout, descriptor["digest"])
        response = client.post(
            f"/v2/{repository}/blobs/uploads/",
            params={"digest": descriptor["digest"]},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
    response = client.put(
        f"/v2/{repository}/manifests/1.0",
        content=manifest,
        headers={"Content-Type": entry.media_type},
    )
    assert response.status_code == 201, response.text
    return entry.digest


def test_gets_count_and_heads_do_not(
    registry: RunningRegistry, admin_client: httpx.Client, testdata: Path
) -> None:
    name = f"pulls-{uuid.uuid4().hex[:8]}"
    digest = push_clean(admin_client, testdata, f"library/{name}")
    headers = {"Accept": MANIFEST_ACCEPT}
    path = f"/v2/library/{name}/manifests"
    for reference in ("1.0", "1.0", digest):
        assert (
            admin_client.get(f"{path}/{reference}", headers=headers).status_code == 200
        )
    assert admin_client.head(f"{path}/1.0", headers=headers).status_code == 200

    deadline = time.monotonic() + 30
    repository: dict[str, object] = {}
    while time.monotonic() < deadline:
        repository = admin_client.get(
            f"{API}/projects/library/repositories/{name}"
        ).json()
        if repository["pull_count"]:
            break
        time.sleep(0.5)
    assert repository["pull_count"] == 3
    artifact = admin_client.get(
        f"{API}/projects/library/repositories/{name}/artifacts/1.0"
    ).json()
    assert artifact["pull_time"] >= artifact["push_time"]
    assert artifact["tags"][0]["pull_time"] >= artifact["tags"][0]["push_time"]
