"""The manifests a scan reads: an image itself, or every image of an index."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db.models import Artifact, ArtifactReference, Repository
from seawall.registry import media_types
from seawall.storage import BlobStore, parse_digest

IMAGE_CONFIGS = frozenset(
    {media_types.OCI_IMAGE_CONFIG, media_types.DOCKER_IMAGE_CONFIG}
)


class NotScannable(Exception):
    """The artifact contains no container image a scanner could read."""


@dataclass(frozen=True, slots=True)
class LayerDescriptor:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ImageTarget:
    """One image manifest to scan."""

    digest: str
    media_type: str
    layers: tuple[LayerDescriptor, ...]


def read_manifest(store: BlobStore, digest: str) -> dict[str, Any]:
    document = json.loads(store.read_blob(parse_digest(digest)))
    if not isinstance(document, dict):
        raise NotScannable(f"manifest {digest} is not a JSON object")
    return document


def is_image(document: dict[str, Any]) -> bool:
    """True for an image manifest whose config is a container image config."""
    config = document.get("config")
    if not isinstance(config, dict):
        return False
    return config.get("mediaType") in IMAGE_CONFIGS and isinstance(
        document.get("layers"), list
    )


def image_target(store: BlobStore, digest: str, media_type: str) -> ImageTarget:
    document = read_manifest(store, digest)
    if not is_image(document):
        raise NotScannable(
            f"{digest} is not a container image (its config media type is "
            f"{_config_type(document)!r})"
        )
    layers = tuple(
        LayerDescriptor(
            str(layer.get("digest")),
            str(layer.get("mediaType", "")),
            int(layer.get("size", 0)),
        )
        for layer in document["layers"]
        if isinstance(layer, dict)
    )
    return ImageTarget(digest, media_type, layers)


def _config_type(document: dict[str, Any]) -> str:
    config = document.get("config")
    return str(config.get("mediaType", "")) if isinstance(config, dict) else ""


def scan_targets(
    session: Session, store: BlobStore, repository: Repository, artifact: Artifact
) -> list[ImageTarget]:
    """Return the images to scan for `artifact`: itself, or the images of an index.

    Children that are not images (signatures, SBOMs, attestations) are
    skipped; an artifact with no image at all raises `NotScannable`.
    """
    if artifact.media_type in media_types.IMAGE_MANIFESTS:
        return [image_target(store, artifact.digest, artifact.media_type)]
    if artifact.media_type not in media_types.INDEXES:
        raise NotScannable(f"media type {artifact.media_type} cannot be scanned")
    children = session.execute(
        select(Artifact.digest, Artifact.media_type)
        .join(ArtifactReference, ArtifactReference.digest == Artifact.digest)
        .where(
            ArtifactReference.artifact_id == artifact.id,
            ArtifactReference.is_manifest.is_(True),
            Artifact.repository_id == repository.id,
        )
    ).all()
    targets: list[ImageTarget] = []
    for digest, media_type in sorted(children):
        if media_type not in media_types.IMAGE_MANIFESTS:
            continue
        try:
            targets.append(image_target(store, digest, media_type))
        except NotScannable:
            continue
    if not targets:
        raise NotScannable(f"index {artifact.digest} contains no container image")
    return targets
