"""Stream the entries of stored image layers without unpacking them.

A layer blob is read once, front to back. Its compression is detected from
its first bytes (gzip, bzip2, xz, zstd or none), never from the media type,
and the uncompressed stream is read as a tar archive with `tarfile` in
stream mode. Nothing is written to disk and no entry is extracted.

Limits keep a hostile layer cheap. Uncompressed bytes are capped
(`LayerTooLarge`), and so are tar headers that `tarfile` would buffer whole
(`UnsafeHeader`) and the window a zstd frame may ask the reader to hold
(`MAX_ZSTD_WINDOW_BYTES`). The member list that `tarfile` keeps is emptied after each
entry, so memory does not grow with the number of entries.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Self

import zstandard

# Media types of image layers (OCI image spec and Docker schema 2).
_LAYER_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BZIP2_MAGIC = b"BZh"

# The header errors that `tarfile` treats as a normal end of the archive.
# typeshed does not declare these classes.
_END_OF_ARCHIVE: tuple[type[Exception], ...] = (
    vars(tarfile)["EOFHeaderError"],
    vars(tarfile)["EmptyHeaderError"],
)

# The largest zstd window a layer may ask for. A reader allocates the whole
# window. zstd levels up to 19 use 8 MiB at most; only its ultra levels (20
# to 22) and long-range mode (`--long`) use more.
MAX_ZSTD_WINDOW_BYTES = 32 * 1024 * 1024

# Headers that `tarfile` reads into memory in one piece: PAX extended headers
# and GNU long names. Real ones are a few hundred bytes.
MAX_HEADER_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LayerBlob:
    """One blob of a manifest, as the storage backend stores it."""

    digest: str
    media_type: str
    open: Callable[[], BinaryIO]  # a fresh binary file of the blob as stored


class LayerError(Exception):
    """A layer could not be read as a tar archive. The message gives the reason."""


class LayerTooLarge(LayerError):
    """The uncompressed layer passed its byte cap."""


class UnsafeHeader(LayerError):
    """A tar header asked to buffer more than `MAX_HEADER_BYTES`, or is unsupported."""


def is_layer_media_type(media_type: str) -> bool:
    """Tell whether a descriptor's media type names an image layer."""
    return media_type.split(";", 1)[0].strip().lower() in _LAYER_MEDIA_TYPES


class _PrefixedReader(io.RawIOBase):
    """A file that returns `prefix` and then the rest of `stream`."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._prefix:
            count = min(len(view), len(self._prefix))
            view[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        chunk = self._stream.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)


class CappedReader(io.RawIOBase):
    """A file over `stream` that raises `LayerTooLarge` past `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        chunk = self._stream.read(len(view))
        self.bytes_read += len(chunk)
        if self.bytes_read > self._limit:
            raise LayerTooLarge(
                f"uncompressed size passed the cap of {self._limit} bytes"
            )
        view[: len(chunk)] = chunk
        return len(chunk)


def _read_exact(stream: BinaryIO, count: int) -> bytes:
    parts: list[bytes] = []
    remaining = count
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _as_binary(raw: io.RawIOBase) -> BinaryIO:
    return io.BufferedReader(raw, buffer_size=64 * 1024)


def decompressed_stream(raw: BinaryIO) -> BinaryIO:
    """Wrap `raw` in the decompressor its first bytes call for.

    zstd goes through `zstandard`, since the standard library of Python
    3.11 has no zstd reader.
    """
    head = _read_exact(raw, 6)
    rest = _as_binary(_PrefixedReader(head, raw))
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=rest, mode="rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD_MAGIC):
        decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW_BYTES)
        # Layers written in parts (zstd:chunked) hold one frame per part.
        reader = decompressor.stream_reader(rest, read_across_frames=True)
        return reader
    if head.startswith(_XZ_MAGIC):
        return lzma.LZMAFile(rest, mode="rb")  # type: ignore[return-value]
    if head.startswith(_BZIP2_MAGIC):
        return bz2.BZ2File(rest, mode="rb")  # type: ignore[return-value]
    return rest


def _looks_like_tar_header(block: bytes) -> bool:
    """Check the magic and checksum of a 512-byte tar header block."""
    if len(block) < tarfile.BLOCKSIZE:
        return False
    if block.count(0) == tarfile.BLOCKSIZE:
        return True  # an empty archive starts with its end marker
    stored = block[148:156].split(b"\x00", 1)[0].strip()
    try:
        expected = int(stored, 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:512])
    return expected == unsigned


def tar_stream(raw: BinaryIO, max_bytes: int) -> BinaryIO:
    """Return the uncompressed tar stream of a layer.

    Raises `LayerError` when the uncompressed data does not start with a tar
    header, and `LayerTooLarge` once more than `max_bytes` are read.
    """
    counter = CappedReader(decompressed_stream(raw), max_bytes)
    stream = _as_binary(counter)
    try:
        head = _read_exact(stream, tarfile.BLOCKSIZE)
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as error:
        raise LayerError(f"decompression failed: {error}") from error
    if len(head) < tarfile.BLOCKSIZE:
        # A zstd frame cut short ends the stream without an error, so a
        # short start is the only sign of truncation there.
        raise LayerError(
            f"the uncompressed blob ends after {len(head)} bytes, before a whole "
            f"{tarfile.BLOCKSIZE}-byte tar header; it is truncated or not a tar archive"
        )
    if not _looks_like_tar_header(head):
        raise LayerError("the blob is not a tar archive")
    return _as_binary(_PrefixedReader(head, stream))


class BoundedTarInfo(tarfile.TarInfo):
    """A `TarInfo` that reports damaged headers and rejects unbounded ones.

    `tarfile` ends an archive silently at a header with a bad checksum, so a
    damaged layer would look complete. This class raises `LayerError` there
    instead. A zero block or a clean end of data still ends the archive.
    """

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        try:
            return super().frombuf(buf, encoding, errors)
        except _END_OF_ARCHIVE:
            raise
        except tarfile.HeaderError as error:
            raise LayerError(f"invalid tar header: {error}") from error

    def _proc_member(self, tarfile_: tarfile.TarFile) -> Self:
        buffered_types = (
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.SOLARIS_XHDTYPE,
        )
        if self.type in buffered_types and self.size > MAX_HEADER_BYTES:
            raise UnsafeHeader(
                f"extended header of {self.size} bytes passes the cap of "
                f"{MAX_HEADER_BYTES} bytes"
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            # Old GNU sparse headers chain extension blocks without a count,
            # and `tarfile` keeps every map entry in memory.
            raise UnsafeHeader("GNU sparse members are not supported")
        member: Self = super()._proc_member(tarfile_)  # type: ignore[misc]
        return member


def iter_members(stream: BinaryIO) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Yield each tar member with the archive to read its data from.

    The data of a member can be read with `archive.extractfile(member)` only
    before the next member is requested.
    """
    with tarfile.open(
        fileobj=stream, mode="r|", tarinfo=BoundedTarInfo, encoding="utf-8"
    ) as archive:
        while True:
            member = archive.next()
            if member is None:
                return
            # Stream mode keeps every member in a list that typeshed omits.
            kept: list[tarfile.TarInfo] = vars(archive)["members"]
            kept.clear()
            yield member, archive


def trailing_data_is_empty(stream: BinaryIO) -> bool:
    """Read what follows the tar end marker and tell whether it is all zeros.

    Reading to the end also makes the gzip reader check its CRC and length,
    so a blob cut short after the end marker is still reported.
    """
    clean = True
    while True:
        chunk = stream.read(64 * 1024)
        if not chunk:
            return clean
        if chunk.count(0) != len(chunk):
            clean = False
