"""Parse and validate manifest bytes before they are stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from seawall.registry import media_types
from seawall.registry.errors import DigestInvalid, DigestUnsupported, ManifestInvalid
from seawall.registry.names import to_digest
from seawall.storage import Digest


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int


@dataclass
class ParsedManifest:
    media_type: str
    blobs: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Return the references of a manifest, or raise `ManifestInvalid`."""
    document = _load_json(body)
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("manifest field mediaType must be a string")
    media_type = _resolve_media_type(content_type, declared, document)
    parsed = ParsedManifest(media_type=media_type)
    if media_type in media_types.IMAGE_MANIFESTS:
        _parse_image(document, parsed)
    else:
        _parse_index(document, parsed)
    if "subject" in document:
        parsed.subject = _descriptor(document["subject"], "subject")
    annotations = document.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ManifestInvalid("manifest annotations must map strings to strings")
        parsed.annotations = annotations
    return parsed


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ManifestInvalid("manifest JSON is nested too deeply") from exc
    except ValueError as exc:
        # For example an integer literal longer than Python's 4300-digit limit.
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    _check_strings(document)
    return document


def _check_strings(document: object) -> None:
    """Reject NUL characters and unpaired surrogates anywhere in the document.

    Both are valid JSON escapes but cannot be stored as text in PostgreSQL
    or encoded as UTF-8, so they would fail later, half-way through a push.
    """
    pending: list[object] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ManifestInvalid("manifest contains a NUL character in a string")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ManifestInvalid(
                    "manifest contains an unpaired surrogate escape"
                ) from exc


def _resolve_media_type(
    content_type: str | None, declared: str | None, document: dict[str, Any]
) -> str:
    header = (content_type or "").split(";")[0].strip().lower() or None
    version = document.get("schemaVersion")
    if type(version) is not int:
        raise ManifestInvalid("manifest schemaVersion must be the integer 2")
    if version == 1 or header in media_types.DOCKER_SCHEMA1:
        raise ManifestInvalid(
            "Docker schema 1 manifests are not supported; push the image as a "
            "Docker schema 2 or OCI manifest"
        )
    if version != 2:
        raise ManifestInvalid(f"manifest schemaVersion must be 2, not {version}")
    if header and declared and header != declared:
        raise ManifestInvalid(
            f"Content-Type {header!r} does not match the manifest's mediaType {declared!r}"
        )
    media_type = header or declared
    if media_type is None:
        raise ManifestInvalid(
            "manifest media type missing: set Content-Type or mediaType"
        )
    if media_type not in media_types.MANIFEST_TYPES:
        supported = ", ".join(sorted(media_types.MANIFEST_TYPES))
        raise ManifestInvalid(
            f"manifest media type {media_type!r} is not supported; use one of: {supported}"
        )
    return media_type


def _parse_image(document: dict[str, Any], parsed: ParsedManifest) -> None:
    if "manifests" in document:
        raise ManifestInvalid("an image manifest must not have a manifests field")
    config = _descriptor(document.get("config"), "config")
    parsed.blobs.append(config)
    layers = document.get("layers", [])
    if not isinstance(layers, list):
        raise ManifestInvalid("manifest layers must be a list")
    for index, layer in enumerate(layers):
        descriptor = _descriptor(layer, f"layers[{index}]")
        if descriptor.media_type not in media_types.FOREIGN_LAYERS:
            parsed.blobs.append(descriptor)
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("manifest artifactType must be a string")
    parsed.artifact_type = artifact_type or config.media_type


def _parse_index(document: dict[str, Any], parsed: ParsedManifest) -> None:
    if "layers" in document or "config" in document:
        raise ManifestInvalid("an image index must not have config or layers fields")
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise ManifestInvalid("image index field manifests must be a list")
    for index, item in enumerate(manifests):
        parsed.children.append(_descriptor(item, f"manifests[{index}]"))
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("index artifactType must be a string")
    parsed.artifact_type = artifact_type


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"manifest {where} must be a descriptor object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"manifest {where}.mediaType is missing")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"manifest {where}.digest is missing")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestInvalid(f"manifest {where}.size must be a non-negative integer")
    try:
        parsed_digest = to_digest(digest)
    except (DigestInvalid, DigestUnsupported) as exc:
        raise ManifestInvalid(f"manifest {where}.digest: {exc.message}") from exc
    return Descriptor(media_type, parsed_digest, size)
