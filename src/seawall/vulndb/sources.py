"""Reading OSV records out of a zip file, a folder of JSON files, or a zip URL.

Each source yields `Member`s: the bytes of one candidate record, or the
reason it could not be read. Limits on member size, member count and total
size keep a hostile zip (a "zip bomb") from exhausting memory or disk.
"""

from __future__ import annotations

import hashlib
import lzma
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from seawall.scan.zip_directory import central_directory_entries
from seawall.vulndb.osv import MAX_RECORD_BYTES

# NOTE: the default limits are estimates meant for one ecosystem's OSV zip at
# a time. A larger export is rejected with a message and must be split.
_CHUNK_BYTES = 1024 * 1024
# What `zipfile` raises on a damaged member: bzip2 data errors are OSError,
# a local header offset out of range is ValueError.
_MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on one source, with sizes in bytes and times in seconds."""

    max_members: int = 500_000
    max_record_bytes: int = MAX_RECORD_BYTES
    max_total_bytes: int = 4 * 1024**3  # all members together, uncompressed
    max_archive_bytes: int = 2 * 1024**3  # the zip file or download itself
    download_seconds: float = 600.0  # whole download, not each read


DEFAULT_LIMITS = Limits()


class SourceError(Exception):
    """A source that cannot be imported at all: missing, not a zip, too large."""


@dataclass(frozen=True, slots=True)
class Member:
    """One candidate record: its name inside the source and its bytes or an error."""

    name: str
    data: bytes | None
    error: str | None = None


@dataclass
class SourceReader:
    """An opened source. `sha256` is final once `members()` has been consumed."""

    source: str
    kind: str
    path: Path
    limits: Limits = DEFAULT_LIMITS
    sha256: str = ""
    total_bytes: int = field(default=0)

    def members(self) -> Iterator[Member]:
        if self.kind == "folder":
            return self._folder_members()
        return self._zip_members()

    def _count(self, size: int) -> None:
        self.total_bytes += size
        if self.total_bytes > self.limits.max_total_bytes:
            raise SourceError(
                f"{self.source} expands to more than {self.limits.max_total_bytes} "
                "bytes; "
                "split it into smaller zips"
            )

    def _zip_members(self) -> Iterator[Member]:
        self.sha256 = file_sha256(self.path)
        with self.path.open("rb") as file:
            declared = central_directory_entries(file)
        if declared > self.limits.max_members:
            raise SourceError(
                f"{self.source} has about {declared} members, more than the "
                f"limit of {self.limits.max_members}"
            )
        try:
            archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
            raise SourceError(f"{self.source} is not a valid zip file: {exc}") from None
        with archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            if len(entries) > self.limits.max_members:
                raise SourceError(
                    f"{self.source} has {len(entries)} members, more than the "
                    f"limit of {self.limits.max_members}"
                )
            for info in entries:
                if not info.filename.lower().endswith(".json"):
                    continue
                yield self._read_zip_member(archive, info)

    def _read_zip_member(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo
    ) -> Member:
        limit = self.limits.max_record_bytes
        if info.file_size > limit:
            return Member(
                info.filename, None, f"member is {info.file_size} bytes, over {limit}"
            )
        try:
            with archive.open(info) as stream:
                # The size in the zip header can lie, so read one byte past
                # the limit rather than trusting it.
                data = stream.read(limit + 1)
        except _MEMBER_ERRORS as exc:
            return Member(info.filename, None, f"member cannot be read: {exc}")
        except RuntimeError as exc:  # an encrypted member
            return Member(info.filename, None, f"member cannot be read: {exc}")
        self._count(len(data))
        if len(data) > limit:
            return Member(info.filename, None, f"member expands to over {limit} bytes")
        return Member(info.filename, data)

    def _folder_members(self) -> Iterator[Member]:
        digest = hashlib.sha256()
        files = sorted(p for p in self.path.rglob("*.json") if p.is_file())
        limit = self.limits.max_record_bytes
        if len(files) > self.limits.max_members:
            raise SourceError(
                f"{self.source} has {len(files)} JSON files, more than the "
                f"limit of {self.limits.max_members}"
            )
        for path in files:
            name = path.relative_to(self.path).as_posix()
            size = path.stat().st_size
            if size > limit:
                digest.update(f"{name}\0{size}\0".encode())
                yield Member(name, None, f"file is {size} bytes, over {limit}")
                continue
            with path.open("rb") as file:
                data = file.read(limit + 1)
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
            self._count(len(data))
            yield Member(name, data)
        self.sha256 = digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in {"http", "https"}


@contextmanager
def open_source(source: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[SourceReader]:
    """Open a zip path, a folder, or an http(s) URL of a zip (downloaded first)."""
    if is_url(source):
        with download(source, limits) as path:
            yield SourceReader(source, "url", path, limits)
        return
    path = Path(source)
    if path.is_dir():
        yield SourceReader(source, "folder", path, limits)
    elif path.is_file():
        if path.stat().st_size > limits.max_archive_bytes:
            raise SourceError(
                f"{source} is larger than {limits.max_archive_bytes} bytes"
            )
        yield SourceReader(source, "zip", path, limits)
    else:
        raise SourceError(f"{source} not found; give a zip file, a folder or a URL")


@contextmanager
def download(url: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[Path]:
    """Download `url` into a temporary file and yield its path."""
    with tempfile.TemporaryDirectory(prefix="seawall-osv-") as folder:
        path = Path(folder) / "download.zip"
        try:
            _fetch_to(url, path, limits)
        except httpx.HTTPError as exc:
            raise SourceError(f"download of {url} failed: {exc}") from None
        yield path


def _fetch_to(url: str, path: Path, limits: Limits) -> None:
    deadline = time.monotonic() + limits.download_seconds
    timeout = httpx.Timeout(60.0, connect=15.0)
    cap = limits.max_archive_bytes
    with (
        httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            raise SourceError(
                f"download of {url} failed: HTTP status {response.status_code}"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise SourceError(f"{url} is larger than {cap} bytes")
        received = 0
        with path.open("wb") as file:
            for chunk in response.iter_bytes(_CHUNK_BYTES):
                received += len(chunk)
                if received > cap:
                    raise SourceError(f"{url} is larger than {cap} bytes")
                if time.monotonic() > deadline:
                    raise SourceError(
                        f"download of {url} timed out after "
                        f"{limits.download_seconds:.0f} s"
                    )
                file.write(chunk)
