"""Manifests and tags: store, resolve and delete.

Manifest bytes are kept as blobs in the content store, so a manifest is
served exactly as it was pushed. The `Artifact` row records its media type,
subject and the descriptors it references.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.db.models import (
    Artifact,
    ArtifactReference,
    Blob,
    Repository,
    RepositoryBlob,
    Tag,
)
from seawall.db.types import utcnow
from seawall.registry.blobs import link_blob, record_blob
from seawall.registry.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInUse,
    ManifestInvalid,
    ManifestNotFound,
)
from seawall.registry.manifest_parser import Descriptor, ParsedManifest, parse_manifest
from seawall.registry.names import check_tag, is_digest_reference, to_digest
from seawall.registry.repositories import ensure_repository, require_repository
from seawall.storage import BlobStore, Digest, digest_bytes


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: str
    subject: str | None
    created: bool


def put_manifest(
    session: Session,
    store: BlobStore,
    repository_name: str,
    reference: str,
    body: bytes,
    content_type: str | None,
) -> PutResult:
    """Validate and store a manifest, tagging it when `reference` is a tag."""
    tag: str | None = None
    if is_digest_reference(reference):
        expected = to_digest(reference)
        hasher = expected.hasher()
        hasher.update(body)
        digest = Digest(expected.algorithm, hasher.hexdigest())
        if digest != expected:
            raise DigestInvalid(
                f"manifest content has digest {digest}, not {expected} as in the URL",
                {"expected": str(expected), "actual": str(digest)},
            )
    else:
        tag = check_tag(reference)
        digest = digest_bytes(body)

    parsed = parse_manifest(body, content_type)
    repository = ensure_repository(session, repository_name)
    _check_references(session, repository, parsed)

    store.write_blob(digest, body)
    link_blob(session, repository, record_blob(session, digest, len(body)))
    artifact, created = _upsert_artifact(session, repository, digest, body, parsed)
    if tag is not None:
        _point_tag(session, repository, tag, artifact)
    subject = str(parsed.subject.digest) if parsed.subject else None
    return PutResult(str(digest), subject, created)


def _check_references(
    session: Session, repository: Repository, parsed: ParsedManifest
) -> None:
    """Check that each descriptor names content in the repository, with its real size."""
    if parsed.blobs:
        blob_sizes: dict[str, int] = dict(
            session.execute(
                select(Blob.digest, Blob.size)
                .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
                .where(
                    RepositoryBlob.repository_id == repository.id,
                    Blob.digest.in_({str(d.digest) for d in parsed.blobs}),
                )
            ).all()
        )
        _compare(parsed.blobs, blob_sizes, "blob")
    if parsed.children:
        manifest_sizes: dict[str, int] = dict(
            session.execute(
                select(Artifact.digest, Artifact.size).where(
                    Artifact.repository_id == repository.id,
                    Artifact.digest.in_({str(d.digest) for d in parsed.children}),
                )
            ).all()
        )
        _compare(parsed.children, manifest_sizes, "manifest")


def _compare(descriptors: list[Descriptor], sizes: dict[str, int], kind: str) -> None:
    for descriptor in descriptors:
        digest = str(descriptor.digest)
        size = sizes.get(digest)
        if size is None:
            raise ManifestBlobUnknown(digest, kind)
        if size != descriptor.size:
            raise ManifestInvalid(
                f"descriptor of {kind} {digest} declares {descriptor.size} bytes, "
                f"but the stored {kind} has {size} bytes",
                {"digest": digest, "declared": descriptor.size, "actual": size},
            )


def _upsert_artifact(
    session: Session,
    repository: Repository,
    digest: Digest,
    body: bytes,
    parsed: ParsedManifest,
) -> tuple[Artifact, bool]:
    existing = _find_artifact(session, repository.id, str(digest))
    if existing is not None:
        return existing, False
    artifact = Artifact(
        repository_id=repository.id,
        digest=str(digest),
        media_type=parsed.media_type,
        artifact_type=parsed.artifact_type,
        size=len(body),
        subject_digest=str(parsed.subject.digest) if parsed.subject else None,
        annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
    )
    try:
        with session.begin_nested():
            session.add(artifact)
            session.flush()
            references = {str(d.digest): False for d in parsed.blobs}
            references.update({str(d.digest): True for d in parsed.children})
            for ref_digest, is_manifest in references.items():
                session.add(
                    ArtifactReference(
                        artifact_id=artifact.id,
                        digest=ref_digest,
                        is_manifest=is_manifest,
                    )
                )
    except IntegrityError:
        # A concurrent push of the same manifest won the insert.
        concurrent = _find_artifact(session, repository.id, str(digest))
        assert concurrent is not None
        return concurrent, False
    return artifact, True


def _point_tag(
    session: Session, repository: Repository, name: str, artifact: Artifact
) -> None:
    tag = session.scalars(
        select(Tag).where(Tag.repository_id == repository.id, Tag.name == name)
    ).one_or_none()
    if tag is None:
        try:
            with session.begin_nested():
                session.add(
                    Tag(repository_id=repository.id, artifact_id=artifact.id, name=name)
                )
            return
        except IntegrityError:
            tag = session.scalars(
                select(Tag).where(Tag.repository_id == repository.id, Tag.name == name)
            ).one()
    tag.artifact_id = artifact.id
    tag.push_time = utcnow()


def _find_artifact(
    session: Session, repository_id: int, digest: str
) -> Artifact | None:
    return session.scalars(
        select(Artifact).where(
            Artifact.repository_id == repository_id, Artifact.digest == digest
        )
    ).one_or_none()


def resolve_manifest(
    session: Session, repository_name: str, reference: str
) -> ManifestRecord:
    """Find the manifest a tag or digest names in a repository."""
    statement = select(Artifact.digest, Artifact.media_type, Artifact.size).join(
        Repository, Repository.id == Artifact.repository_id
    )
    if is_digest_reference(reference):
        digest = to_digest(reference)
        statement = statement.where(
            Repository.name == repository_name, Artifact.digest == str(digest)
        )
    else:
        check_tag(reference)
        statement = statement.join(Tag, Tag.artifact_id == Artifact.id).where(
            Repository.name == repository_name, Tag.name == reference
        )
    row = session.execute(statement).one_or_none()
    if row is None:
        raise ManifestNotFound(repository_name, reference)
    return ManifestRecord(row.digest, row.media_type, row.size)


def delete_manifest(session: Session, repository_name: str, reference: str) -> None:
    """Delete a tag, or a manifest by digest together with the tags on it."""
    repository = require_repository(session, repository_name)
    if not is_digest_reference(reference):
        check_tag(reference)
        result = session.execute(
            delete(Tag).where(Tag.repository_id == repository.id, Tag.name == reference)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise ManifestNotFound(repository_name, reference)
        return
    digest = str(to_digest(reference))
    artifact = _find_artifact(session, repository.id, digest)
    if artifact is None:
        raise ManifestNotFound(repository_name, reference)
    parent = session.scalars(
        select(Artifact.digest)
        .join(ArtifactReference, ArtifactReference.artifact_id == Artifact.id)
        .where(
            Artifact.repository_id == repository.id,
            ArtifactReference.digest == digest,
            ArtifactReference.is_manifest.is_(True),
        )
    ).first()
    if parent is not None:
        raise ManifestInUse(digest, parent)
    session.execute(delete(Tag).where(Tag.artifact_id == artifact.id))
    session.execute(
        delete(ArtifactReference).where(ArtifactReference.artifact_id == artifact.id)
    )
    session.delete(artifact)
