"""Content-addressed blob store on a local folder.

Layout under the data folder::

    blobs/
      sha256/
        ab/
          abcdef...      one file per digest, written once, never modified
    uploads/
      <upload id>        bytes of an upload in progress

An upload is appended to its file under `uploads/`. On commit the file is
hashed (or the running hash is used), flushed to disk and renamed into
`blobs/` in one atomic step, so a blob path either does not exist or contains
exactly the bytes its name promises.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from seawall.storage.digest import Digest

_UPLOAD_ID_RE = re.compile(r"^[a-f0-9-]{32,64}$")
_READ_CHUNK = 4 * 1024 * 1024


def is_upload_id(value: str) -> bool:
    return bool(_UPLOAD_ID_RE.fullmatch(value))


class StorageError(OSError):
    """A storage operation failed; the message names the path."""


class BlobStore:
    """Stores blobs by digest and upload data by upload id under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs"
        self.uploads_dir = root / "uploads"

    def ensure_layout(self) -> None:
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)

    # Blobs

    def blob_path(self, digest: Digest) -> Path:
        return self.blobs_dir / digest.algorithm / digest.hex[:2] / digest.hex

    def blob_size(self, digest: Digest) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def read_blob(self, digest: Digest) -> bytes:
        return self.blob_path(digest).read_bytes()

    def write_blob(self, digest: Digest, data: bytes) -> None:
        """Store small content such as a manifest whose digest the caller computed."""
        if self.blob_path(digest).exists():
            return
        # A name in the upload id format, so the purge of abandoned uploads
        # also removes this file if the process dies before the rename.
        temp = self.uploads_dir / str(uuid.uuid4())
        with temp.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        self._move_into_place(temp, digest)

    def delete_blob(self, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(digest).unlink()

    # Uploads

    def upload_path(self, upload_id: str) -> Path:
        if not is_upload_id(upload_id):
            raise StorageError(f"invalid upload id {upload_id!r}")
        return self.uploads_dir / upload_id

    def create_upload(self, upload_id: str) -> None:
        self.upload_path(upload_id).touch(exist_ok=False)

    def upload_size(self, upload_id: str) -> int | None:
        try:
            return self.upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            return None

    def truncate_upload(self, upload_id: str, size: int) -> None:
        """Cut an upload back to `size` bytes after a failed append."""
        with self.upload_path(upload_id).open("r+b") as file:
            file.truncate(size)

    def iter_upload(self, upload_id: str) -> Iterator[bytes]:
        with self.upload_path(upload_id).open("rb") as file:
            while chunk := file.read(_READ_CHUNK):
                yield chunk

    def commit_upload(self, upload_id: str, digest: Digest) -> None:
        """Move a verified upload into place as the blob `digest`."""
        path = self.upload_path(upload_id)
        with path.open("rb+") as file:
            os.fsync(file.fileno())
            # With upload read-back off, direct writes left none of the blob
            # in the page cache. Ask the kernel to start reading it back,
            # because a new layer is often pulled soon after its push. Linux
            # reads at most one readahead window this way (the device's
            # read_ahead_kb), so this caches only the start of a large blob.
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
        if self.blob_path(digest).exists():
            path.unlink()
            return
        self._move_into_place(path, digest)

    def delete_upload(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.upload_path(upload_id).unlink()

    def upload_age(self, upload_id: str) -> timedelta:
        try:
            mtime = self.upload_path(upload_id).stat().st_mtime
        except FileNotFoundError:
            return timedelta(0)
        return timedelta(seconds=max(0.0, time.time() - mtime))

    def list_uploads(self) -> list[str]:
        return [
            p.name for p in self.uploads_dir.iterdir() if _UPLOAD_ID_RE.match(p.name)
        ]

    def _move_into_place(self, source: Path, digest: Digest) -> None:
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError as exc:
            raise StorageError(f"moving {source} to {target} failed: {exc}") from exc
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
