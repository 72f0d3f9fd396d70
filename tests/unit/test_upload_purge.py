"""The upload purge on a real filesystem store and database, with the upload file lock.

A request locks an upload's file with `flock` while it appends to or
commits the upload. Here an `UploadFileLock` takes that lock in place of a
request, so the purge sees the same lock a server worker would hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from seawall.db import Database
from seawall.db.migrate import upgrade_schema
from seawall.db.models import Project, UploadSession
from seawall.db.types import utcnow
from seawall.registry.bootstrap import bootstrap
from seawall.registry.errors import UploadNotFound
from seawall.registry.uploads import UploadService, UploadState
from seawall.storage import BlobStore, parse_digest
from seawall.storage.appender import UploadFileLock
from tests.support import databases

EXPIRY = timedelta(seconds=60)
EXPIRED_AGE = EXPIRY + timedelta(hours=1)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database that contains the `library` project."""
    with databases.test_database_url(tmp_path_factory.mktemp("purge-db")) as url:
        upgrade_schema(url)
        db = Database(url)
        with db.session() as session:
            bootstrap(session, "Unit-Test-Admin-1")
        yield db
        db.dispose()


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    blob_store = BlobStore(tmp_path / "data")
    blob_store.ensure_layout()
    return blob_store


@pytest.fixture
def service(database: Database, store: BlobStore) -> UploadService:
    return UploadService(database, store, EXPIRY)


def library_id(database: Database) -> int:
    with database.session(read_only=True) as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "library"))
    assert project_id is not None
    return project_id


async def chunks_of(data: bytes) -> AsyncIterator[bytes]:
    yield data


def upload_with(service: UploadService, data: bytes) -> UploadState:
    """Start an upload in a fresh repository and append `data` to it."""
    repository = f"library/purge-{uuid.uuid4().hex[:12]}"
    state = service.start(repository, library_id(service.db))
    size = asyncio.run(service.append(state, chunks_of(data)))
    return UploadState(state.upload_id, repository, size)


def backdate(database: Database, upload_id: str, age: timedelta) -> None:
    with database.session() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id)
            .values(updated_at=utcnow() - age)
        )


def has_row(database: Database, upload_id: str) -> bool:
    with database.session(read_only=True) as session:
        return session.get(UploadSession, upload_id) is not None


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def write_old_orphan(store: BlobStore) -> Path:
    """Write an upload file that no row names, older than the expiry."""
    path = store.upload_path(str(uuid.uuid4()))
    path.write_bytes(b"left behind")
    old = time.time() - EXPIRED_AGE.total_seconds()
    os.utime(path, (old, old))
    return path


# Uploads without a lock


def test_unlocked_expired_upload_purged(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    state = upload_with(service, secrets.token_bytes(4096))
    backdate(database, state.upload_id, EXPIRED_AGE)
    assert service.purge_expired() == 1
    assert store.upload_size(state.upload_id) is None
    assert not has_row(database, state.upload_id)
    with pytest.raises(UploadNotFound):
        service.state(state.repository_name, state.upload_id)


def test_recent_upload_kept(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    state = upload_with(service, secrets.token_bytes(4096))
    assert service.purge_expired() == 0
    assert store.upload_size(state.upload_id) == 4096
    assert has_row(database, state.upload_id)


def test_expired_row_without_file_purged(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    state = upload_with(service, secrets.token_bytes(16))
    backdate(database, state.upload_id, EXPIRED_AGE)
    store.delete_upload(state.upload_id)
    assert service.purge_expired() == 1
    assert not has_row(database, state.upload_id)


def test_upload_refreshed_after_listing_kept(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    # The purge lists expired uploads first and locks each one after. A
    # request that appended in between has moved `updated_at` past the
    # cutoff of that listing.
    state = upload_with(service, secrets.token_bytes(16))
    cutoff_of_listing = utcnow() - timedelta(seconds=1)
    backdate(database, state.upload_id, timedelta(0))
    assert not service._purge_upload(state.upload_id, cutoff_of_listing)
    assert store.upload_size(state.upload_id) == 16
    assert has_row(database, state.upload_id)


# Uploads whose file lock a request holds


def test_locked_expired_upload_kept(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    state = upload_with(service, secrets.token_bytes(4096))
    backdate(database, state.upload_id, EXPIRED_AGE)
    lock = UploadFileLock(store.upload_path(state.upload_id))
    lock.acquire()
    try:
        with capture_logs() as logs:
            purged = service.purge_expired()
    finally:
        lock.release()
    assert purged == 0
    assert store.upload_size(state.upload_id) == 4096
    assert has_row(database, state.upload_id)
    kept = [entry for entry in logs if entry["event"] == "expired upload kept"]
    assert kept == [
        {
            "event": "expired upload kept",
            "upload": state.upload_id,
            "reason": "in use by a request",
            "log_level": "debug",
        }
    ]


def test_locked_upload_commits_after_purge(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    data = secrets.token_bytes(3 * 4096 + 17)
    state = upload_with(service, data)
    backdate(database, state.upload_id, EXPIRED_AGE)
    lock = UploadFileLock(store.upload_path(state.upload_id))
    lock.acquire()
    try:
        service.purge_expired()
    finally:
        lock.release()
    digest = parse_digest(sha256_digest(data))
    assert service.commit(state, digest) == len(data)
    assert store.blob_path(digest).read_bytes() == data


def test_locked_upload_purged_once_released(
    service: UploadService, store: BlobStore, database: Database
) -> None:
    state = upload_with(service, secrets.token_bytes(16))
    backdate(database, state.upload_id, EXPIRED_AGE)
    lock = UploadFileLock(store.upload_path(state.upload_id))
    lock.acquire()
    try:
        assert service.purge_expired() == 0
    finally:
        lock.release()
    assert service.purge_expired() == 1
    assert store.upload_size(state.upload_id) is None


# Upload files that no row names


def test_unlocked_old_orphan_file_purged(
    service: UploadService, store: BlobStore
) -> None:
    orphan = write_old_orphan(store)
    service.purge_expired()
    assert not orphan.exists()


def test_locked_old_orphan_file_kept(service: UploadService, store: BlobStore) -> None:
    orphan = write_old_orphan(store)
    lock = UploadFileLock(orphan)
    lock.acquire()
    try:
        service.purge_expired()
    finally:
        lock.release()
    assert orphan.exists()
