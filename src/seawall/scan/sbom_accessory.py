"""SBOMs stored beside an image as OCI artifacts whose `subject` is the image.

An SBOM accessory is an OCI image manifest with the SBOM media type as its
`artifactType`, the empty config descriptor and the document as its only
layer. It is pushed by digest, untagged, through `put_manifest`, so it is an
ordinary artifact of the repository and the referrers API lists it under
the image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from seawall.registry import media_types
from seawall.registry.blobs import link_blob, record_blob
from seawall.registry.errors import ManifestInvalid, ManifestNotFound
from seawall.registry.manifest_parser import Descriptor
from seawall.registry.manifests import put_manifest, resolve_manifest
from seawall.registry.repositories import require_repository
from seawall.scan.sbom_types import CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE
from seawall.storage import BlobStore, digest_bytes

CREATED_ANNOTATION = "org.opencontainers.image.created"
DESCRIPTION_ANNOTATION = "org.opencontainers.artifact.description"
AUTHORS_ANNOTATION = "org.opencontainers.image.authors"
TITLE_ANNOTATION = "org.opencontainers.image.title"
AUTHOR = "Seawall"

# The empty descriptor of the OCI image spec 1.1: the two bytes `{}`.
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONTENT = b"{}"
EMPTY_DATA = "e30="

DESCRIPTIONS = {
    SPDX_MEDIA_TYPE: "SPDX JSON SBOM",
    CYCLONEDX_MEDIA_TYPE: "CycloneDX JSON SBOM",
}
# File names that clients such as oras use when they pull the layer.
FILE_NAMES = {
    SPDX_MEDIA_TYPE: "sbom.spdx.json",
    CYCLONEDX_MEDIA_TYPE: "sbom.cdx.json",
}


class SubjectNotFound(ManifestNotFound):
    """The image an SBOM would refer to is not in the repository."""

    def __init__(self, repository_name: str, digest: str) -> None:
        super().__init__(repository_name, digest)
        self.message = (
            f"cannot store an SBOM for manifest {digest}: it is not in repository "
            f"{repository_name!r}; push the image before its SBOM"
        )
        self.args = (self.message,)


def store_sbom(
    session: Session,
    store: BlobStore,
    *,
    repository_name: str,
    subject: Descriptor,
    document: bytes,
    document_media_type: str,
    annotations: Mapping[str, str],
) -> str:
    """Store `document` as an accessory of `subject` and return the manifest digest.

    `annotations` must contain `org.opencontainers.image.created`, which the
    caller sets to the document's creation time, so that storing the same
    document again yields the same manifest and no duplicate. The caller
    commits the session and then signals the metadata change to the
    registry's manifest cache.
    """
    if document_media_type not in DESCRIPTIONS:
        supported = ", ".join(sorted(DESCRIPTIONS))
        raise ValueError(
            f"SBOM media type {document_media_type!r} is not supported; "
            f"use one of: {supported}"
        )
    if CREATED_ANNOTATION not in annotations:
        raise ValueError(
            f"SBOM annotation {CREATED_ANNOTATION} is missing; "
            "set it to the document's creation time"
        )
    _check_document(document, document_media_type)
    _require_subject(session, repository_name, subject)

    repository = require_repository(session, repository_name)
    for content in (EMPTY_CONTENT, document):
        digest = digest_bytes(content)
        store.write_blob(digest, content)
        link_blob(session, repository, record_blob(session, digest, len(content)))

    body = accessory_manifest(
        subject=subject,
        document=document,
        document_media_type=document_media_type,
        annotations=annotations,
    )
    manifest_digest = str(digest_bytes(body))
    put_manifest(
        session, store, repository_name, manifest_digest, body, media_types.OCI_MANIFEST
    )
    return manifest_digest


def accessory_manifest(
    *,
    subject: Descriptor,
    document: bytes,
    document_media_type: str,
    annotations: Mapping[str, str],
) -> bytes:
    """Build the OCI image manifest that carries `document` and refers to `subject`."""
    merged = {
        DESCRIPTION_ANNOTATION: DESCRIPTIONS[document_media_type],
        AUTHORS_ANNOTATION: AUTHOR,
        **annotations,
    }
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_MANIFEST,
        "artifactType": document_media_type,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": str(digest_bytes(EMPTY_CONTENT)),
            "size": len(EMPTY_CONTENT),
            "data": EMPTY_DATA,
        },
        "layers": [
            {
                "mediaType": document_media_type,
                "digest": str(digest_bytes(document)),
                "size": len(document),
                "annotations": {TITLE_ANNOTATION: FILE_NAMES[document_media_type]},
            }
        ],
        "subject": {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        },
        "annotations": dict(sorted(merged.items())),
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def _check_document(document: bytes, media_type: str) -> None:
    try:
        parsed = json.loads(document)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{DESCRIPTIONS[media_type]} is not valid JSON: {exc}"
        ) from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{DESCRIPTIONS[media_type]} must be a JSON object")


def _require_subject(
    session: Session, repository_name: str, subject: Descriptor
) -> None:
    """Check that the subject is a manifest of the repository with the declared type and size."""
    digest = str(subject.digest)
    try:
        record = resolve_manifest(session, repository_name, digest)
    except ManifestNotFound:
        raise SubjectNotFound(repository_name, digest) from None
    if record.media_type != subject.media_type or record.size != subject.size:
        raise ManifestInvalid(
            f"subject descriptor of {digest} declares {subject.media_type} of "
            f"{subject.size} bytes, but the stored manifest is {record.media_type} "
            f"of {record.size} bytes",
            {"digest": digest},
        )
