"""Accessories: signatures, SBOMs and other artifacts that belong to an artifact.

Harbor calls such an artifact an accessory of its subject. Seawall keeps no
table of them and derives them from what was pushed to the same repository:

- a manifest whose `subject` names the artifact (an OCI 1.1 referrer), or
- a manifest tagged `sha256-<hex>.sig`, cosign's tag scheme from before
  OCI 1.1, while the repository contains the artifact `sha256:<hex>`.

Accessories are left out of artifact listings and counts, listed under
their subject, deleted with it and copied with it. Their `type` follows
Harbor's names, decided by `accessory_type`:

    signature.cosign     cosign's artifact type, or the legacy `.sig` tag
    signature.notation   Notary Project signatures (artifactType
                         `application/vnd.cncf.notary.signature`)
    sbom.harbor          Harbor's SBOM type, and the SPDX and CycloneDX
                         SBOMs that Seawall generates
    accelerator.nydus    a Nydus image of its subject
    subject.accessory    any other manifest with a subject
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from seawall.db.models import Artifact, Repository, Tag
from seawall.registry import media_types
from seawall.registry.artifact_details import ManifestReader

SIGNATURE_COSIGN = "signature.cosign"
SIGNATURE_NOTATION = "signature.notation"
SBOM_HARBOR = "sbom.harbor"
ACCELERATOR_NYDUS = "accelerator.nydus"
SUBJECT_ACCESSORY = "subject.accessory"

# Artifact types (or config media types) by accessory type, as Harbor's
# subject middleware (src/server/middleware/subject) assigns them on push.
COSIGN_TYPES = frozenset(
    {
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
    }
)
NOTATION_TYPE = "application/vnd.cncf.notary.signature"
HARBOR_SBOM_TYPE = "application/vnd.goharbor.harbor.sbom.v1"
SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
NYDUS_BOOTSTRAP_ANNOTATION = "containerd.io/snapshot/nydus-bootstrap"

# `seawall.scan.sbom_accessory` sets this annotation to this value on the
# SBOMs it generates.
AUTHORS_ANNOTATION = "org.opencontainers.image.authors"
SEAWALL_AUTHOR = "Seawall"

LEGACY_SIGNATURE_TAG = re.compile(r"sha256-([0-9a-f]{64})\.sig")
_LEGACY_TAG_LENGTH = len("sha256-") + 64 + len(".sig")


@dataclass(frozen=True, slots=True)
class AccessoryInfo:
    """Harbor's `Accessory`. `id` equals `artifact_id`, as no table numbers accessories."""

    id: int
    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    subject_artifact_repo: str
    size: int  # the accessory artifact's size, as Harbor's artifact `size`
    digest: str
    type: str
    icon: str
    creation_time: datetime  # the accessory's push time


@dataclass(frozen=True, slots=True)
class Subject:
    id: int
    digest: str


def legacy_signature_tag(digest: str) -> str | None:
    """Return cosign's legacy signature tag for `digest`, or None for a non-sha256 digest."""
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or len(hex_part) != 64:
        return None
    return f"sha256-{hex_part}.sig"


def is_accessory() -> ColumnElement[bool]:
    """Return the condition that the selected `Artifact` is an accessory."""
    return or_(Artifact.subject_digest.is_not(None), _has_legacy_signature_tag())


def _has_legacy_signature_tag() -> ColumnElement[bool]:
    subject = aliased(Artifact)
    subject_digest = literal("sha256:", String) + func.substr(Tag.name, 8, 64)
    return exists().where(
        Tag.artifact_id == Artifact.id,
        Tag.name.like("sha256-%.sig"),
        func.length(Tag.name) == _LEGACY_TAG_LENGTH,
        subject.repository_id == Artifact.repository_id,
        subject.digest == subject_digest,
    )


def find_accessories(
    session: Session, repository_id: int, digests: Sequence[str]
) -> list[tuple[str, Artifact, bool]]:
    """Return `(subject digest, accessory, legacy)` for the accessories of `digests`.

    `legacy` is true when the legacy cosign tag makes the artifact an
    accessory. An artifact found both ways is returned once, as legacy.
    """
    if not digests:
        return []
    found: dict[tuple[str, int], tuple[str, Artifact, bool]] = {}
    referrers = session.scalars(
        select(Artifact)
        .where(
            Artifact.repository_id == repository_id,
            Artifact.subject_digest.in_(list(digests)),
        )
        .order_by(Artifact.id)
    )
    for artifact in referrers:
        subject = str(artifact.subject_digest)
        found[(subject, artifact.id)] = (subject, artifact, False)

    tags = {legacy_signature_tag(digest): digest for digest in digests}
    tags.pop(None, None)
    if tags:
        rows = session.execute(
            select(Tag.name, Artifact)
            .join(Artifact, Artifact.id == Tag.artifact_id)
            .where(Tag.repository_id == repository_id, Tag.name.in_(list(tags)))
        )
        for name, artifact in rows:
            subject = tags[name]
            found[(subject, artifact.id)] = (subject, artifact, True)
    return list(found.values())


def describe_accessories(
    reader: ManifestReader, subjects: Sequence[Subject]
) -> dict[str, list[AccessoryInfo]]:
    """Return Harbor's accessories of each subject, by subject digest."""
    session, repository = reader.session, reader.repository
    ids = {subject.digest: subject.id for subject in subjects}
    described: dict[str, list[AccessoryInfo]] = {digest: [] for digest in ids}
    for digest, artifact, legacy in find_accessories(session, repository.id, list(ids)):
        described[digest].append(
            _info(reader, repository, Subject(ids[digest], digest), artifact, legacy)
        )
    return described


def _info(
    reader: ManifestReader,
    repository: Repository,
    subject: Subject,
    artifact: Artifact,
    legacy: bool,
) -> AccessoryInfo:
    return AccessoryInfo(
        id=artifact.id,
        artifact_id=artifact.id,
        subject_artifact_id=subject.id,
        subject_artifact_digest=subject.digest,
        subject_artifact_repo=repository.name,
        size=reader.total_size(artifact),
        digest=artifact.digest,
        type=accessory_type(reader, artifact, legacy),
        icon="",
        creation_time=artifact.push_time,
    )


def accessory_type(reader: ManifestReader, artifact: Artifact, legacy: bool) -> str:
    """Return Harbor's accessory type of `artifact`.

    The artifact type is the manifest's `artifactType`, or its config media
    type when it has none, as in Harbor.
    """
    if legacy:
        return SIGNATURE_COSIGN
    kind = artifact.artifact_type or ""
    if kind in COSIGN_TYPES:
        return SIGNATURE_COSIGN
    if kind == NOTATION_TYPE:
        return SIGNATURE_NOTATION
    if kind == HARBOR_SBOM_TYPE:
        return SBOM_HARBOR
    if kind in (SPDX_JSON, CYCLONEDX_JSON) and _generated_by_seawall(artifact):
        # NOTE: the annotation is what marks a generated SBOM, so an SBOM that
        # a client pushes with the same annotation is typed `sbom.harbor` too.
        return SBOM_HARBOR
    image_configs = (media_types.OCI_IMAGE_CONFIG, media_types.DOCKER_IMAGE_CONFIG)
    if kind in image_configs and _is_nydus(reader, artifact):
        return ACCELERATOR_NYDUS
    return SUBJECT_ACCESSORY


def _generated_by_seawall(artifact: Artifact) -> bool:
    if not artifact.annotations:
        return False
    annotations = json.loads(artifact.annotations)
    return (
        isinstance(annotations, dict)
        and annotations.get(AUTHORS_ANNOTATION) == SEAWALL_AUTHOR
    )


def _is_nydus(reader: ManifestReader, artifact: Artifact) -> bool:
    """Return whether the image's last layer is a Nydus bootstrap layer."""
    manifest = reader.manifest(artifact.digest) or {}
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not layers or not isinstance(layers[-1], dict):
        return False
    annotations = layers[-1].get("annotations")
    return isinstance(annotations, dict) and NYDUS_BOOTSTRAP_ANNOTATION in annotations
