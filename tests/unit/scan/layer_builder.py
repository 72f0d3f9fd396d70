"""Builders of synthetic layers and package files for the inventory tests."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

from seawall.scan.inventory import LayerBlob

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"

DEBIAN_12 = (
    b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar entry: a file, directory, symbolic link, hard link or device."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Entry:
    return Entry(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str) -> Entry:
    return Entry(name, kind=tarfile.DIRTYPE, mode=0o755)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, kind=tarfile.SYMTYPE, link=target)


def tar_bytes(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = entry.mode
            info.linkname = entry.link
            info.size = len(entry.data) if entry.kind == tarfile.REGTYPE else 0
            payload = io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None
            archive.addfile(info, payload)
    return buffer.getvalue()


def gzip_layer(entries: Iterable[Entry]) -> bytes:
    return gzip.compress(tar_bytes(entries), mtime=0)


def blob(data: bytes, media_type: str = GZIP_LAYER, digest: str = "") -> LayerBlob:
    name = digest or f"sha256:{len(data):064x}"
    return LayerBlob(name, media_type, lambda: io.BytesIO(data))


def layer(*entries: Entry, digest: str = "") -> LayerBlob:
    return blob(gzip_layer(entries), digest=digest)


# Go build information (Go 1.18+ inline layout).
GO_MAGIC = b"\xff Go buildinf:"
MODINFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
MODINFO_END = bytes.fromhex("f932433186182072008242104116d8f2")


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def go_binary(version: str, modinfo: str, flags: int = 0x2) -> bytes:
    """An ELF file whose `.go.buildinfo` section contains a Go build information blob."""
    framed = MODINFO_START + modinfo.encode() + MODINFO_END
    header = GO_MAGIC + bytes([8, flags]) + bytes(16)
    body = uvarint(len(version)) + version.encode() + uvarint(len(framed)) + framed
    return elf_with_section(".go.buildinfo", header + body)


def elf_with_section(
    name: str, content: bytes, *, is_64: bool = True, little: bool = True
) -> bytes:
    """A minimal ELF file with a null section, `.shstrtab` and one named section."""
    order = "<" if little else ">"
    names = b"\x00.shstrtab\x00" + name.encode() + b"\x00"
    header_size, entry_size = (64, 64) if is_64 else (52, 40)
    names_offset = header_size
    content_offset = names_offset + len(names)
    section_offset = content_offset + len(content)
    ident = b"\x7fELF" + bytes([2 if is_64 else 1, 1 if little else 2, 1]) + bytes(9)
    if is_64:
        rest = struct.pack(
            order + "HHIQQQIHHHHHH",
            2,
            62,
            1,
            0,
            0,
            section_offset,
            0,
            64,
            0,
            0,
            entry_size,
            3,
            1,
        )
        entry = order + "IIQQQQIIQQ"
    else:
        rest = struct.pack(
            order + "HHIIIIIHHHHHH",
            2,
            3,
            1,
            0,
            0,
            section_offset,
            0,
            52,
            0,
            0,
            entry_size,
            3,
            1,
        )
        entry = order + "IIIIIIIIII"
    sections = struct.pack(entry, *([0] * 10))
    sections += struct.pack(entry, 1, 3, 0, 0, names_offset, len(names), 0, 0, 1, 0)
    sections += struct.pack(
        entry, 11, 1, 0, 0, content_offset, len(content), 0, 0, 1, 0
    )
    return ident + rest + names + content + sections


# RPM headers (index count, data length, 16-byte index entries, data store).
RPM_STRING, RPM_INT32 = 6, 4


def rpm_header(tags: dict[int, str | int]) -> bytes:
    entries = b""
    store = b""
    for tag, value in tags.items():
        if isinstance(value, int):
            store += bytes(-len(store) % 4)
            entries += struct.pack(">iIiI", tag, RPM_INT32, len(store), 1)
            store += struct.pack(">I", value)
        else:
            entries += struct.pack(">iIiI", tag, RPM_STRING, len(store), 1)
            store += value.encode() + b"\x00"
    return struct.pack(">II", len(tags), len(store)) + entries + store
