"""A bounds-checked reader of ELF section headers.

Only what is needed to find a named section: the file header (class,
byte order, section header offset, entry size and count, and the index of
the section name table) and the section headers (name offset, file offset
and size). 32- and 64-bit files in either byte order are read.
"""

from __future__ import annotations

import struct

ELF_MAGIC = b"\x7fELF"
_CLASS_32, _CLASS_64 = 1, 2
_DATA_LITTLE, _DATA_BIG = 1, 2
_SECTION_NOBITS = 8
_MAX_SECTIONS = 65_535


class ElfError(ValueError):
    """The bytes are not a well-formed ELF file."""


def _layout(data: bytes) -> tuple[str, bool]:
    if not data.startswith(ELF_MAGIC) or len(data) < 52:
        raise ElfError("not an ELF file")
    elf_class, byte_order = data[4], data[5]
    if elf_class not in (_CLASS_32, _CLASS_64):
        raise ElfError(f"unknown ELF class {elf_class}")
    if byte_order not in (_DATA_LITTLE, _DATA_BIG):
        raise ElfError(f"unknown ELF byte order {byte_order}")
    return ("<" if byte_order == _DATA_LITTLE else ">"), elf_class == _CLASS_64


def _slice(data: bytes, offset: int, size: int, what: str) -> bytes:
    if offset < 0 or size < 0 or offset + size > len(data):
        raise ElfError(f"{what} lies outside the file")
    return data[offset : offset + size]


def find_section(data: bytes, wanted: str) -> bytes | None:
    """Return the contents of the section named `wanted`, or None if absent."""
    order, is_64 = _layout(data)
    if is_64:
        (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        entry_format, minimum_entry = order + "IIQQQQ", 64
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)
        entry_format, minimum_entry = order + "IIIIII", 40
    if shoff == 0 or shnum == 0:
        return None
    if shentsize < minimum_entry or shnum > _MAX_SECTIONS or shstrndx >= shnum:
        raise ElfError("section header table is malformed")
    _slice(data, shoff, shentsize * shnum, "section header table")

    sections: list[tuple[int, int, int, int]] = []
    for index in range(shnum):
        name, kind, _flags, _address, offset, size = struct.unpack_from(
            entry_format, data, shoff + index * shentsize
        )
        sections.append((name, kind, offset, size))

    _, _, names_offset, names_size = sections[shstrndx]
    names = _slice(data, names_offset, names_size, "section name table")
    target = wanted.encode("ascii")
    for name, kind, offset, size in sections:
        end = names.find(b"\x00", name)
        if name >= len(names) or end < 0 or names[name:end] != target:
            continue
        if kind == _SECTION_NOBITS:
            return b""
        return _slice(data, offset, size, f"section {wanted}")
    return None
