"""Blob visibility: which repository may read which content-addressed blob."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.db.models import Blob, Repository, RepositoryBlob
from seawall.registry.errors import BlobNotFound
from seawall.storage import Digest


def find_linked_blob(
    session: Session, repository_name: str, digest: Digest
) -> Blob | None:
    """Return the blob `digest` if it is visible in the repository."""
    statement = (
        select(Blob)
        .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
        .join(Repository, Repository.id == RepositoryBlob.repository_id)
        .where(Repository.name == repository_name, Blob.digest == str(digest))
    )
    return session.scalars(statement).one_or_none()


def require_linked_blob(session: Session, repository_name: str, digest: Digest) -> Blob:
    blob = find_linked_blob(session, repository_name, digest)
    if blob is None:
        raise BlobNotFound(str(digest))
    return blob


def find_blob(session: Session, digest: Digest) -> Blob | None:
    return session.scalars(select(Blob).where(Blob.digest == str(digest))).one_or_none()


def record_blob(session: Session, digest: Digest, size: int) -> Blob:
    """Return the row of a blob now in storage, inserting it if it is new."""
    blob = find_blob(session, digest)
    if blob is not None:
        return blob
    try:
        with session.begin_nested():
            blob = Blob(digest=str(digest), size=size)
            session.add(blob)
    except IntegrityError:
        blob = find_blob(session, digest)
        assert blob is not None
    return blob


def link_blob(session: Session, repository: Repository, blob: Blob) -> None:
    """Make `blob` visible in `repository`; linking twice is harmless."""
    exists = session.scalars(
        select(RepositoryBlob.id).where(
            RepositoryBlob.repository_id == repository.id,
            RepositoryBlob.blob_id == blob.id,
        )
    ).first()
    if exists is not None:
        return
    try:
        with session.begin_nested():
            session.add(RepositoryBlob(repository_id=repository.id, blob_id=blob.id))
    except IntegrityError:
        pass


def unlink_blob(session: Session, repository: Repository, digest: Digest) -> None:
    """Remove the blob from the repository; the content stays for other repositories."""
    blob = require_linked_blob(session, repository.name, digest)
    session.execute(
        delete(RepositoryBlob).where(
            RepositoryBlob.repository_id == repository.id,
            RepositoryBlob.blob_id == blob.id,
        )
    )
