"""Blob uploads: sessions, chunked appends, digest verification and commit.

An upload's bytes are appended to a file under the store's `uploads/`
folder. The file size is the upload's offset. A failed append is cut back to
the previous offset, so a broken connection never leaves a partial chunk
behind. On commit the content is hashed and compared with the digest the
client named before the file moves into `blobs/`. Only then are the blob
row and its repository link written, in one transaction.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from seawall.db import Database
from seawall.db.models import UploadSession
from seawall.db.types import utcnow
from seawall.registry.blobs import link_blob, record_blob
from seawall.registry.errors import (
    DigestInvalid,
    RangeNotSatisfiable,
    SizeInvalid,
    StorageFull,
    UploadInvalid,
    UploadNotFound,
)
from seawall.registry.repositories import ensure_repository
from seawall.storage import BlobStore, Digest
from seawall.storage.appender import (
    STAGING_POOL,
    StagingBuffer,
    UploadAppender,
    UploadFileLock,
    WriteMode,
)
from seawall.storage.filesystem import is_upload_id

if TYPE_CHECKING:
    from hashlib import _Hash

logger = structlog.get_logger(__name__)

# Write errors that mean the filesystem is out of room for the upload: no
# space left, a disk quota, or the process's file size limit.
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

# How long a cancel waits for a request that appends to or commits the same
# upload. A client that stalls in the middle of a body keeps that request
# running, so the cancel gives up rather than hold a thread until it ends.
CANCEL_WAIT_SECONDS = 10.0


@dataclass
class _RunningHash:
    """A sha256 kept while an upload is appended, so commit need not reread it."""

    hasher: _Hash = field(default_factory=hashlib.sha256)
    offset: int = 0


@dataclass(frozen=True)
class UploadState:
    upload_id: str
    repository_name: str
    size: int


class UploadService:
    """Uploads in progress for one process.

    Running hashes and per-upload locks live in this process. An upload that
    is continued by another worker process loses its running hash, and the
    commit then rehashes the file, which is slower but correct.
    """

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        expiry: timedelta,
        write_mode: WriteMode = "direct",
        read_back: bool = True,
    ) -> None:
        self.db = db
        self.store = store
        self.expiry = expiry
        self.write_mode = write_mode
        self.read_back = read_back
        self._hashes: dict[str, _RunningHash] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    # Sessions

    def start(self, repository_name: str, project_id: int) -> UploadState:
        upload_id = str(uuid.uuid4())
        self.store.create_upload(upload_id)
        with self.db.session() as session:
            session.add(
                UploadSession(
                    id=upload_id, repository_name=repository_name, project_id=project_id
                )
            )
        self._hashes[upload_id] = _RunningHash()
        logger.debug("upload started", upload=upload_id, repository=repository_name)
        return UploadState(upload_id, repository_name, 0)

    def state(self, repository_name: str, upload_id: str) -> UploadState:
        """Return the upload's state, or raise `UploadNotFound`."""
        if not is_upload_id(upload_id):
            raise UploadNotFound(upload_id)
        with self.db.session(read_only=True) as session:
            row = session.get(UploadSession, upload_id)
            if row is None or row.repository_name != repository_name:
                raise UploadNotFound(upload_id)
        size = self.store.upload_size(upload_id)
        if size is None:
            raise UploadNotFound(upload_id)
        return UploadState(upload_id, repository_name, size)

    def cancel(self, repository_name: str, upload_id: str) -> None:
        self.state(repository_name, upload_id)
        # Under the file lock, so a cancel waits for a running append or
        # commit, and a cancel that loses the race to a commit finds nothing.
        fd = self._try_lock(upload_id, CANCEL_WAIT_SECONDS)
        if fd is None:
            raise UploadInvalid(
                f"upload {upload_id} is in use by another request for "
                f"more than {CANCEL_WAIT_SECONDS:g} s; retry the DELETE "
                "after that request ends"
            )
        try:
            self._forget(upload_id)
        finally:
            # Closing the descriptor releases its lock.
            os.close(fd)
        logger.info("upload cancelled", upload=upload_id, repository=repository_name)

    def discard(self, upload_id: str) -> None:
        """Delete an upload and its bytes after a failed request; missing is fine."""
        self._forget(upload_id)

    def _lock_upload(self, upload_id: str) -> tuple[UploadFileLock, int]:
        """Lock the upload's file and return the lock and the file's size.

        Raises `UploadNotFound` when the file is gone, also when a commit or a
        cancel removed it while this call waited for the lock. Upload ids are
        never reused, so a file still at the path is the one that was locked.
        """
        lock = UploadFileLock(self.store.upload_path(upload_id))
        try:
            size = lock.acquire()
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        if self.store.upload_size(upload_id) is None:
            lock.release()
            raise UploadNotFound(upload_id)
        return lock, size

    def _try_lock(self, upload_id: str, wait_seconds: float) -> int | None:
        """Lock the upload's file within `wait_seconds` and return the descriptor.

        Returns None when another request still has the file locked after
        `wait_seconds`. With `wait_seconds` 0 the lock is tried once. Raises
        `UploadNotFound` when the file is gone, also when it was removed while
        this call waited.
        """
        try:
            fd = os.open(self.store.upload_path(upload_id), os.O_RDONLY)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.05)
        if self.store.upload_size(upload_id) is None:
            os.close(fd)
            raise UploadNotFound(upload_id)
        return fd

    def _forget(self, upload_id: str) -> None:
        with self.db.session() as session:
            row = session.get(UploadSession, upload_id)
            if row is not None:
                session.delete(row)
        self.store.delete_upload(upload_id)
        self._hashes.pop(upload_id, None)
        self._locks.pop(upload_id, None)

    # Appending

    async def append(
        self,
        state: UploadState,
        chunks: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> int:
        """Append a request body and return the new upload size.

        `start` is the first byte offset of a `Content-Range`, which must be
        the current size. `length` is the declared body length, checked
        against what arrived. A failure leaves the upload as it was.

        The upload file is locked with `flock` from the offset check to the
        end of the write, so two requests for the same upload, even in two
        worker processes, never write over each other.
        """
        lock, size = await run_in_threadpool(self._lock_upload, state.upload_id)
        try:
            return await self._append_locked(state, size, chunks, start, length)
        finally:
            lock.release()

    async def _append_locked(
        self,
        state: UploadState,
        size: int,
        chunks: AsyncIterator[bytes],
        start: int | None,
        length: int | None,
    ) -> int:
        if start is not None and start != size:
            raise RangeNotSatisfiable(
                f"chunk starts at byte {start} but the upload has {size} bytes; "
                f"send the next chunk from byte {size}",
                size,
            )
        running = self._hashes.get(state.upload_id)
        if running is not None and running.offset != size:
            running = None
            self._hashes.pop(state.upload_id, None)
        written = 0
        try:
            appender = UploadAppender(
                self.store.upload_path(state.upload_id),
                size,
                self.write_mode,
                self.read_back,
            )
            try:
                written = await _copy_stream(chunks, appender, running)
            finally:
                appender.close()
            if length is not None and written != length:
                raise SizeInvalid(
                    f"received {written} bytes but Content-Length declared {length}",
                    {"received": written, "declared": length},
                )
        except BaseException as exc:
            await run_in_threadpool(self.store.truncate_upload, state.upload_id, size)
            self._hashes.pop(state.upload_id, None)
            if isinstance(exc, OSError) and exc.errno in STORAGE_FULL_ERRNOS:
                raise StorageFull(state.upload_id, size, exc.strerror or "") from exc
            raise
        if running is not None:
            running.offset += written
        await run_in_threadpool(self._touch, state.upload_id, size + written)
        return size + written

    def _touch(self, upload_id: str, size: int) -> None:
        with self.db.session() as session:
            row = session.get(UploadSession, upload_id)
            if row is not None:
                row.size = size
                row.updated_at = utcnow()

    # Commit

    def commit(self, state: UploadState, digest: Digest) -> int:
        """Verify the upload against `digest`, store it as a blob and link it.

        Returns the blob size. On a digest mismatch the upload is discarded,
        nothing is stored, and `DigestInvalid` is raised.
        """
        lock, size = self._lock_upload(state.upload_id)
        try:
            return self._commit_locked(state, digest, size)
        finally:
            lock.release()

    def _commit_locked(self, state: UploadState, digest: Digest, size: int) -> int:
        actual = self._final_digest(state.upload_id, digest.algorithm, size)
        if actual != digest.hex:
            self._forget(state.upload_id)
            raise DigestInvalid(
                f"uploaded content has digest {digest.algorithm}:{actual}, "
                f"not {digest}; the upload was discarded",
                {"expected": str(digest), "actual": f"{digest.algorithm}:{actual}"},
            )
        self.store.commit_upload(state.upload_id, digest)
        with self.db.session() as session:
            repository = ensure_repository(session, state.repository_name)
            blob = record_blob(session, digest, size)
            link_blob(session, repository, blob)
            row = session.get(UploadSession, state.upload_id)
            if row is not None:
                session.delete(row)
        self._hashes.pop(state.upload_id, None)
        self._locks.pop(state.upload_id, None)
        logger.info(
            "blob stored",
            digest=str(digest),
            size=size,
            repository=state.repository_name,
        )
        return size

    def _final_digest(self, upload_id: str, algorithm: str, size: int) -> str:
        running = self._hashes.get(upload_id)
        if algorithm == "sha256" and running is not None and running.offset == size:
            return running.hasher.hexdigest()
        hasher = hashlib.new(algorithm)
        for chunk in self.store.iter_upload(upload_id):
            hasher.update(chunk)
        return hasher.hexdigest()

    # Expiry

    def purge_expired(self) -> int:
        """Delete uploads idle for longer than the expiry; return how many.

        Each upload is deleted under its file lock, tried without waiting.
        An upload whose lock a request holds, because it appends to or
        commits the upload, is skipped and left for the next purge. Upload
        files that no row names are deleted the same way once they are older
        than the expiry.
        """
        cutoff = utcnow() - self.expiry
        with self.db.session(read_only=True) as session:
            expired = list(
                session.scalars(
                    select(UploadSession.id).where(UploadSession.updated_at < cutoff)
                )
            )
        purged = sum(self._purge_upload(upload_id, cutoff) for upload_id in expired)
        known = set(self._known_ids())
        for upload_id in self.store.list_uploads():
            if (
                upload_id not in known
                and self.store.upload_age(upload_id) > self.expiry
            ):
                self._purge_orphan(upload_id)
        if purged:
            logger.info("expired uploads purged", count=purged)
        return purged

    def _purge_upload(self, upload_id: str, cutoff: datetime) -> bool:
        """Delete an upload that is unlocked and still expired; return whether it was."""
        try:
            fd = self._try_lock(upload_id, 0)
        except UploadNotFound:
            # No request can use an upload without its file, so the row is
            # deleted without a lock.
            if not self._is_expired(upload_id, cutoff):
                return False
            self._forget(upload_id)
            return True
        if fd is None:
            logger.debug(
                "expired upload kept", upload=upload_id, reason="in use by a request"
            )
            return False
        try:
            if not self._is_expired(upload_id, cutoff):
                logger.debug(
                    "expired upload kept",
                    upload=upload_id,
                    reason="no longer expired",
                )
                return False
            self._forget(upload_id)
        finally:
            # Closing the descriptor releases its lock.
            os.close(fd)
        return True

    def _purge_orphan(self, upload_id: str) -> None:
        """Delete an upload file that no row names, unless it is locked or recent."""
        try:
            fd = self._try_lock(upload_id, 0)
        except UploadNotFound:
            return
        if fd is None:
            logger.debug(
                "orphan upload file kept",
                upload=upload_id,
                reason="in use by a request",
            )
            return
        try:
            if (
                self._is_known(upload_id)
                or self.store.upload_age(upload_id) <= self.expiry
            ):
                return
            self.store.delete_upload(upload_id)
        finally:
            os.close(fd)
        logger.debug("orphan upload file purged", upload=upload_id)

    def _is_expired(self, upload_id: str, cutoff: datetime) -> bool:
        with self.db.session(read_only=True) as session:
            statement = select(UploadSession.id).where(
                UploadSession.id == upload_id, UploadSession.updated_at < cutoff
            )
            return session.scalar(statement) is not None

    def _is_known(self, upload_id: str) -> bool:
        with self.db.session(read_only=True) as session:
            return session.get(UploadSession, upload_id) is not None

    def _known_ids(self) -> list[str]:
        with self.db.session(read_only=True) as session:
            return list(session.scalars(select(UploadSession.id)))


async def _copy_stream(
    chunks: AsyncIterator[bytes], appender: UploadAppender, running: _RunningHash | None
) -> int:
    """Copy a request body into the upload file and return the bytes written.

    Chunks are gathered into two staging buffers in turn. While one buffer
    is written on a worker thread (and its chunks hashed on another), the
    next is filled from the request. Each batch finishes before the next
    starts, so the hash and the file see the bytes in order.
    """
    buffers = [STAGING_POOL.take(), STAGING_POOL.take()]
    current = 0
    pending: list[asyncio.Future[None]] = []
    hash_batch: list[bytes] = []
    written = 0
    try:
        async for chunk in chunks:
            view = memoryview(chunk)
            hash_batch.append(chunk)
            while len(view):
                taken = buffers[current].fill(view)
                view = view[taken:]
                if buffers[current].full:
                    await _finish(pending)
                    pending = _start_batch(
                        appender, buffers[current], running, hash_batch
                    )
                    written += buffers[current].capacity
                    hash_batch = []
                    current = 1 - current
                    buffers[current].length = 0
        await _finish(pending)
        pending = []
        if buffers[current].length:
            written += buffers[current].length
            pending = _start_batch(appender, buffers[current], running, hash_batch)
            await _finish(pending)
    finally:
        # The buffers go back to the pool only after every thread that reads
        # them has returned. If this wait is cancelled too, the error leaves
        # here and the garbage collector frees the buffers instead.
        await _finish(pending, raise_errors=False)
        for buffer in buffers:
            STAGING_POOL.give_back(buffer)
    return written


def _start_batch(
    appender: UploadAppender,
    buffer: StagingBuffer,
    running: _RunningHash | None,
    chunks: list[bytes],
) -> list[asyncio.Future[None]]:
    futures: list[asyncio.Future[None]] = [
        asyncio.ensure_future(run_in_threadpool(appender.write, buffer))
    ]
    if running is not None:
        futures.append(
            asyncio.ensure_future(run_in_threadpool(_hash_chunks, running, chunks))
        )
    return futures


async def _finish(
    futures: list[asyncio.Future[None]], raise_errors: bool = True
) -> None:
    # Wait for every future even when one fails, so no thread still writes
    # to the file after the caller truncates it. Cancelling a future would
    # not stop its thread, so each future is shielded. A cancelled caller
    # leaves them running, and a done future means its thread has returned.
    shielded = [asyncio.shield(future) for future in futures]
    results = await asyncio.gather(*shielded, return_exceptions=True)
    for result in results:
        if raise_errors and isinstance(result, BaseException):
            raise result


def _hash_chunks(running: _RunningHash, chunks: list[bytes]) -> None:
    for chunk in chunks:
        running.hasher.update(chunk)
