"""Harbor's description of an artifact, derived from its stored manifest and config.

No column stores these Harbor fields, so they are computed when an artifact
is read: the type (`IMAGE`, `CHART`, ...), the media type of the config,
the total size, `extra_attrs` from the image config, and the platform of
each child of an index.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db.models import Artifact, Repository
from seawall.registry import media_types
from seawall.storage import BlobStore, parse_digest

logger = structlog.get_logger(__name__)

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
CNAB_MANIFEST = "application/vnd.cnab.manifest.v1"
# CNAB indexes carry their artifact media type in this annotation.
INDEX_TYPE_ANNOTATION = "org.opencontainers.artifactType"
# Harbor names other artifacts after the <type> in a config media type of the
# form application/vnd.<vendor>.<type>.config.<version>+json.
_CONFIG_TYPE_RE = re.compile(r"^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$")
PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant")

# NOTE: configs larger than this are not read, so their artifacts have no
# `extra_attrs`. The limit bounds the memory that one page of artifacts uses.
MAX_CONFIG_BYTES = 1024 * 1024
# Nesting limit when an index's size adds up its children's sizes.
MAX_INDEX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class TagInfo:
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: datetime
    pull_time: datetime | None


@dataclass(frozen=True, slots=True)
class ReferenceInfo:
    """A child manifest of an index, with the platform the index declares for it."""

    parent_id: int
    child_id: int | None
    child_digest: str
    platform: dict[str, Any] | None
    annotations: dict[str, str] | None
    urls: list[str] | None


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    id: int
    type: str
    media_type: str
    manifest_media_type: str
    artifact_type: str
    project_id: int
    repository_id: int
    repository_name: str
    digest: str
    size: int  # bytes of the manifest, its config and layers, and an index's children
    push_time: datetime
    pull_time: datetime | None
    extra_attrs: dict[str, Any] | None
    annotations: dict[str, str] | None
    references: list[ReferenceInfo]
    tags: list[TagInfo]


def harbor_type(media_type: str) -> str:
    """Return Harbor's artifact type for an artifact (config or index) media type."""
    if media_type in media_types.INDEXES or media_type in (
        media_types.OCI_IMAGE_CONFIG,
        media_types.DOCKER_IMAGE_CONFIG,
    ):
        return "IMAGE"
    if media_type == HELM_CONFIG:
        return "CHART"
    if media_type == CNAB_MANIFEST:
        return "CNAB"
    match = _CONFIG_TYPE_RE.fullmatch(media_type)
    return match.group(1).upper() if match else "UNKNOWN"


class ManifestReader:
    """Reader of the stored manifests and configs of one repository's artifacts."""

    def __init__(
        self, session: Session, store: BlobStore, repository: Repository
    ) -> None:
        self.session = session
        self.store = store
        self.repository = repository
        self._documents: dict[str, tuple[dict[str, Any], int] | None] = {}
        self._sizes: dict[str, int] = {}

    def describe(self, artifact: Artifact, tags: list[TagInfo]) -> ArtifactInfo:
        """Return Harbor's view of `artifact`, with `tags` attached."""
        manifest = self._document(artifact.digest)
        document = manifest[0] if manifest else {}
        annotations = json.loads(artifact.annotations) if artifact.annotations else None
        references: list[ReferenceInfo] = []
        extra_attrs = None
        if artifact.media_type in media_types.INDEXES:
            annotated_type = (annotations or {}).get(INDEX_TYPE_ANNOTATION)
            media_type = annotated_type or artifact.media_type
            references = self._references(artifact.id, document)
        else:
            config = _mapping(document.get("config"))
            media_type = str(config.get("mediaType") or artifact.media_type)
            extra_attrs = self._extra_attrs(harbor_type(media_type), config)
        return ArtifactInfo(
            id=artifact.id,
            type=harbor_type(media_type),
            media_type=media_type,
            manifest_media_type=artifact.media_type,
            artifact_type=artifact.artifact_type or artifact.media_type,
            project_id=self.repository.project_id,
            repository_id=self.repository.id,
            repository_name=self.repository.name,
            digest=artifact.digest,
            size=self.total_size(artifact),
            push_time=artifact.push_time,
            pull_time=artifact.pull_time,
            extra_attrs=extra_attrs,
            annotations=annotations,
            references=references,
            tags=tags,
        )

    def total_size(self, artifact: Artifact) -> int:
        """Return Harbor's `size` of `artifact`: the manifest and all it references."""
        return self._total_size(artifact.digest, artifact.size, 0)

    def manifest(self, digest: str) -> dict[str, Any] | None:
        """Return the stored manifest `digest` as JSON, or None when it is unreadable."""
        loaded = self._document(digest)
        return loaded[0] if loaded else None

    def _document(self, digest: str) -> tuple[dict[str, Any], int] | None:
        """Return a stored manifest or config as JSON with its length, reading each once."""
        if digest not in self._documents:
            self._documents[digest] = self._read_json(digest)
        return self._documents[digest]

    def _read_json(self, digest: str) -> tuple[dict[str, Any], int] | None:
        try:
            body = self.store.read_blob(parse_digest(digest))
            document = json.loads(body)
        except (OSError, ValueError) as exc:
            logger.warning(
                "stored content unreadable",
                repository=self.repository.name,
                digest=digest,
                error=str(exc),
            )
            return None
        if not isinstance(document, dict):
            return None
        return document, len(body)

    def _total_size(self, digest: str, stored_size: int, depth: int) -> int:
        """Add up the manifest and what it references, as Harbor's `size` does."""
        if digest in self._sizes:
            return self._sizes[digest]
        manifest = self._document(digest)
        if manifest is None:
            return stored_size
        document, size = manifest
        for child in _descriptors(document.get("manifests")):
            child_size = _int(child.get("size"))
            if depth < MAX_INDEX_DEPTH:
                child_size = self._total_size(
                    str(child.get("digest")), child_size, depth + 1
                )
            size += child_size
        for blob in [
            _mapping(document.get("config")),
            *_descriptors(document.get("layers")),
        ]:
            size += _int(blob.get("size"))
        self._sizes[digest] = size
        return size

    def _references(
        self, parent_id: int, document: dict[str, Any]
    ) -> list[ReferenceInfo]:
        entries = _descriptors(document.get("manifests"))
        digests = [str(entry.get("digest")) for entry in entries]
        rows = self.session.execute(
            select(Artifact.digest, Artifact.id).where(
                Artifact.repository_id == self.repository.id,
                Artifact.digest.in_(digests),
            )
        )
        child_ids = {digest: child_id for digest, child_id in rows.tuples()}
        references = []
        for entry, digest in zip(entries, digests, strict=True):
            references.append(
                ReferenceInfo(
                    parent_id=parent_id,
                    child_id=child_ids.get(digest),
                    child_digest=digest,
                    platform=_platform(entry.get("platform")),
                    annotations=_strings(entry.get("annotations")) or None,
                    urls=_string_list(entry.get("urls")),
                )
            )
        return references

    def _extra_attrs(self, kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """Return Harbor's `extra_attrs`: image facts from the config, or the whole config."""
        if kind == "UNKNOWN" or _int(config.get("size")) > MAX_CONFIG_BYTES:
            return None
        loaded = self._document(str(config.get("digest")))
        if loaded is None:
            return None
        document = loaded[0]
        if kind != "IMAGE":
            return document
        attrs: dict[str, Any] = {
            key: document[key]
            for key in ("created", "architecture", "os", "config")
            if key in document
        }
        author = _author(document)
        if author:
            attrs["author"] = author
        return attrs


def _author(config: dict[str, Any]) -> str:
    """Return the image author, falling back to the labels Harbor also reads."""
    author = config.get("author")
    if isinstance(author, str) and author:
        return author
    labels = _mapping(_mapping(config.get("config")).get("Labels"))
    for key in ("org.opencontainers.image.authors", "maintainer"):
        value = labels.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _platform(value: object) -> dict[str, Any] | None:
    """Return the platform fields of an index entry that have the type OCI gives them."""
    platform = _mapping(value)
    found: dict[str, Any] = {
        key: platform[key]
        for key in PLATFORM_KEYS
        if key != "os.features" and isinstance(platform.get(key), str)
    }
    features = _string_list(platform.get("os.features"))
    if features is not None:
        found["os.features"] = features
    return found or None


def _strings(value: object) -> dict[str, str]:
    return {
        key: item
        for key, item in _mapping(value).items()
        if isinstance(key, str) and isinstance(item, str)
    }


def _string_list(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _descriptors(value: object) -> list[dict[str, Any]]:
    return (
        [item for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
