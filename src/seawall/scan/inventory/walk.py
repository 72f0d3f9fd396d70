"""Read one layer's tar stream and parse each interesting file as it passes.

Files are parsed only once complete: a layer that breaks off mid-stream
(damaged or truncated compression, a bad tar header, a cap reached) keeps
the files and whiteouts read before the break, and the break becomes a
warning. Entries with ".." in their names or with names longer than
`Limits.max_path_bytes`, device files and fifos are never read.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

import structlog
import zstandard

from seawall.scan.inventory.files import (
    EXECUTABLE_MAGIC_BYTES,
    MIN_EXECUTABLE_BYTES,
    Handler,
    Parser,
    handler_for,
    is_executable_magic,
    read_binary,
)
from seawall.scan.inventory.limits import Limits
from seawall.scan.inventory.overlay import Overlay, StoredFile
from seawall.scan.inventory.paths import clean_text, normalize_entry_name
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.layers import (
    LayerBlob,
    LayerError,
    is_layer_media_type,
    iter_members,
    tar_stream,
    trailing_data_is_empty,
)

logger = structlog.get_logger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_MAX_SHOWN_PATH = 300

# Errors that mean the layer stream itself is damaged.
_STREAM_ERRORS = (
    LayerError,
    tarfile.TarError,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    zstandard.ZstdError,
)


def shown(path: str) -> str:
    """Shorten a path for a warning message."""
    return path if len(path) <= _MAX_SHOWN_PATH else path[:_MAX_SHOWN_PATH] + "..."


@dataclass(slots=True)
class LayerReader:
    """The state of reading one layer."""

    index: int
    blob: LayerBlob
    limits: Limits
    overlay: Overlay
    warnings: list[str]
    skipped: Counter[str] = field(default_factory=Counter)
    first_skipped: dict[str, str] = field(default_factory=dict)

    def warn(self, message: str, path: str | None = None) -> None:
        prefix = f"layer {self.index} ({self.blob.digest})"
        where = f": {shown(path)}" if path is not None else ""
        self.warnings.append(f"{prefix}{where}: {message}")

    def count_entry(self, reason: str, name: str) -> None:
        """Count an entry of note; one warning per reason is written at the end."""
        self.skipped[reason] += 1
        self.first_skipped.setdefault(reason, clean_text(name))

    def context(self, path: str) -> FileContext:
        return FileContext(
            path=path, layer_index=self.index, layer_digest=self.blob.digest
        )

    def read(self) -> None:
        if not is_layer_media_type(self.blob.media_type):
            self.warn(
                f"media type {self.blob.media_type!r} is not an image layer; skipped"
            )
            return
        try:
            raw = self.blob.open()
        except OSError as error:
            self.warn(f"blob could not be opened: {error}; skipped")
            return
        with raw:
            self._read_stream(raw)
        for reason, count in sorted(self.skipped.items()):
            first = shown(self.first_skipped[reason])
            self.warn(f"{count} entries with {reason} (first: {first!r})")
        self.overlay.end_layer()

    def _read_stream(self, raw: BinaryIO) -> None:
        try:
            stream = tar_stream(raw, self.limits.max_layer_bytes)
            for entries, (member, archive) in enumerate(iter_members(stream), 1):
                if entries > self.limits.max_layer_entries:
                    self.warn(
                        f"more than {self.limits.max_layer_entries} entries; "
                        "the rest of the layer is not read"
                    )
                    return
                self._visit(member, archive)
            if not trailing_data_is_empty(stream):
                self.warn("data after the end of the tar archive is ignored")
        except _STREAM_ERRORS as error:
            self.warn(
                f"reading stopped: {error}; files read before this point are kept"
            )
            logger.warning(
                "layer read stopped",
                layer_digest=self.blob.digest,
                error=str(error),
            )

    def _visit(self, member: tarfile.TarInfo, archive: tarfile.TarFile) -> None:
        if member.name.startswith("/"):
            self.count_entry(
                "absolute names, read relative to the image root", member.name
            )
        path = normalize_entry_name(member.name)
        if path is None:
            self.count_entry("'..' in their names, skipped", member.name)
            return
        if not path:
            return  # the root directory itself
        if len(path.encode("utf-8", "surrogateescape")) > self.limits.max_path_bytes:
            self.count_entry(
                f"names longer than {self.limits.max_path_bytes} bytes, skipped",
                member.name,
            )
            return
        directory, _, name = path.rpartition("/")
        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(directory, name, member.name)
            return

        self.overlay.note_entry(path, is_directory=member.isdir())
        handler = handler_for(path, self.limits)
        if member.issym() and handler is not None:
            stored = StoredFile(
                handler.kind, self.index, self.blob.digest, link_target=member.linkname
            )
            self.overlay.add(path, stored)
        elif member.islnk() and handler is not None:
            self.warn(
                f"hard link to {shown(clean_text(member.linkname))!r} is not read", path
            )
        elif member.isreg() and handler is not None:
            self._read_file(member, archive, path, handler)
        elif (
            member.isreg()
            and member.mode & 0o111
            and member.size >= MIN_EXECUTABLE_BYTES
        ):
            self._read_executable(member, archive, path)

    def _whiteout(self, directory: str, name: str, raw_name: str) -> None:
        if name == OPAQUE_MARKER:
            self.overlay.make_opaque(directory)
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other aufs metadata, such as hard link directories
        target = name[len(WHITEOUT_PREFIX) :]
        if target in ("", ".", ".."):
            self.count_entry("invalid whiteout names, ignored", raw_name)
            return
        self.overlay.whiteout(f"{directory}/{target}" if directory else target)

    def _read_file(
        self,
        member: tarfile.TarInfo,
        archive: tarfile.TarFile,
        path: str,
        handler: Handler,
    ) -> None:
        if not handler.reads_data:
            self._parse(path, handler.kind, handler.parse, b"")
            return
        if member.size > handler.max_bytes:
            self.warn(
                f"{member.size} bytes pass the cap of {handler.max_bytes}; not read",
                path,
            )
            return
        data = _read_member(archive, member, handler.max_bytes)
        self._parse(path, handler.kind, handler.parse, data)

    def _read_executable(
        self, member: tarfile.TarInfo, archive: tarfile.TarFile, path: str
    ) -> None:
        source = archive.extractfile(member)
        if source is None:
            return
        head = source.read(EXECUTABLE_MAGIC_BYTES)
        if not is_executable_magic(head):
            return
        if member.size > self.limits.max_binary_bytes:
            cap = self.limits.max_binary_bytes
            self.warn(
                f"executable of {member.size} bytes passes the cap of {cap}; not read",
                path,
            )
            return
        data = head + source.read(max(member.size - len(head), 0))
        self._parse(path, "binary", read_binary, data)

    def _parse(self, path: str, kind: str, parse: Parser, data: bytes) -> None:
        context = self.context(path)
        try:
            result = parse(data, context)
        except Exception as error:  # hostile content must never end the scan
            logger.exception(
                "file parser failed",
                path=path,
                kind=kind,
                layer_digest=self.blob.digest,
            )
            self.warn(f"could not be parsed: {type(error).__name__}: {error}", path)
            return
        self._store(path, kind, result)

    def _store(self, path: str, kind: str, result: FileResult) -> None:
        for message in result.warnings:
            self.warn(message, path)
        if kind != "binary" or result.packages:
            self.overlay.add(
                path, StoredFile(kind, self.index, self.blob.digest, result=result)
            )


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, cap: int) -> bytes:
    source = archive.extractfile(member)
    if source is None:
        return b""
    # A buffered read allocates the whole size it is asked for, so ask for
    # the member's own size, not the cap.
    return source.read(min(member.size, cap))
