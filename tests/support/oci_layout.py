"""Read OCI image layouts (`oci-layout`, `index.json`, `blobs/`) from the test kit."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
INDEX_MEDIA_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


@dataclass(frozen=True)
class TaggedManifest:
    """One entry of a layout's `index.json`: a tag and the descriptor it names."""

    tag: str
    digest: str
    media_type: str
    size: int


def tagged_manifests(layout: Path) -> list[TaggedManifest]:
    """Return every tagged descriptor in `layout/index.json`, in file order."""
    index = json.loads((layout / "index.json").read_text())
    entries = []
    for descriptor in index["manifests"]:
        tag = descriptor.get("annotations", {}).get(REF_NAME_ANNOTATION)
        if tag is None:
            continue
        entries.append(
            TaggedManifest(
                tag, descriptor["digest"], descriptor["mediaType"], descriptor["size"]
            )
        )
    return entries


def tagged_manifest(layout: Path, tag: str) -> TaggedManifest:
    for entry in tagged_manifests(layout):
        if entry.tag == tag:
            return entry
    raise KeyError(f"tag {tag!r} not found in {layout / 'index.json'}")


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, encoded = digest.partition(":")
    return layout / "blobs" / algorithm / encoded


def read_blob(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def referenced_digests(layout: Path, digest: str) -> set[str]:
    """Return `digest` and every blob it reaches through config, layers and children.

    A `subject` is not followed, because a referrer does not contain its subject.
    """
    document = json.loads(read_blob(layout, digest))
    found = {digest}
    for child in document.get("manifests", []):
        found |= referenced_digests(layout, child["digest"])
    if "config" in document:
        found.add(document["config"]["digest"])
    for layer in document.get("layers", []):
        found.add(layer["digest"])
    return found
