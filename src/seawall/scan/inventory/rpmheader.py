"""A bounds-checked reader of RPM header blobs.

A header blob, as the rpm database stores it, is: the number of index
entries and the size of the data store (two big-endian uint32), then one
16-byte index entry per tag (tag, type, offset into the data store, count,
each a big-endian uint32), then the data store. Strings in the store end
with a NUL byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044

TYPE_INT32 = 4
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

# The limits rpm itself applies to a header (HEADER_TAGS_MAX, HEADER_DATA_MAX).
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_BYTES = 0x0FFFFFFF

_PREAMBLE = struct.Struct(">II")
_ENTRY = struct.Struct(">iIiI")


class HeaderError(ValueError):
    """The blob is not a well-formed RPM header."""


@dataclass(frozen=True, slots=True)
class _Entry:
    type: int
    offset: int
    count: int


class RpmHeader:
    """The tags of one RPM header, read on demand."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < _PREAMBLE.size:
            raise HeaderError("header shorter than its 8-byte preamble")
        index_count, data_length = _PREAMBLE.unpack_from(blob, 0)
        if index_count == 0 or index_count > MAX_INDEX_ENTRIES:
            raise HeaderError(f"index count {index_count} is out of range")
        if data_length > MAX_DATA_BYTES:
            raise HeaderError(f"data length {data_length} is out of range")
        data_start = _PREAMBLE.size + index_count * _ENTRY.size
        if data_start + data_length > len(blob):
            raise HeaderError(
                f"header declares {data_start + data_length} bytes "
                f"but the blob has {len(blob)}"
            )
        self._data = blob[data_start : data_start + data_length]
        self._entries: dict[int, _Entry] = {}
        for position in range(index_count):
            tag, kind, offset, count = _ENTRY.unpack_from(
                blob, _PREAMBLE.size + position * _ENTRY.size
            )
            if offset < 0 or offset >= max(data_length, 1):
                raise HeaderError(f"tag {tag} points outside the data store")
            self._entries.setdefault(tag, _Entry(kind, offset, count))

    def _string_at(self, offset: int) -> str:
        end = self._data.find(b"\x00", offset)
        if end < 0:
            raise HeaderError("string runs past the end of the data store")
        return self._data[offset:end].decode("utf-8", "replace")

    def string(self, tag: int) -> str | None:
        """Return a STRING or I18NSTRING tag (its first translation), if present."""
        entry = self._entries.get(tag)
        if entry is None:
            return None
        if entry.type not in (TYPE_STRING, TYPE_I18NSTRING, TYPE_STRING_ARRAY):
            raise HeaderError(f"tag {tag} has type {entry.type}, not a string")
        if entry.count < 1:
            raise HeaderError(f"tag {tag} has no value")
        return self._string_at(entry.offset)

    def int32(self, tag: int) -> int | None:
        """Return the first value of an INT32 tag, if present."""
        entry = self._entries.get(tag)
        if entry is None:
            return None
        if entry.type != TYPE_INT32 or entry.count < 1:
            raise HeaderError(f"tag {tag} is not an INT32 value")
        if entry.offset + 4 > len(self._data):
            raise HeaderError(f"tag {tag} runs past the end of the data store")
        value: int = struct.unpack_from(">I", self._data, entry.offset)[0]
        return value
