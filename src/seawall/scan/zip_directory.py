"""Count the entries of a zip archive before `zipfile` loads its central directory.

`zipfile.ZipFile` builds one `ZipInfo` object per central directory header
as it opens an archive, before a caller can apply any cap, so an archive of
millions of empty entries costs many times its own size in memory. Callers
compare this count with their cap first.
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib
from typing import BinaryIO

# The end record reader of `zipfile`, which typeshed does not declare, and
# the positions of the end record's fields in the list it returns. When the
# archive has zip64 end records, the reader returns their values.
_END_RECORD = vars(zipfile)["_EndRecData"]
_END_DIRECTORY_SIZE = vars(zipfile)["_ECD_SIZE"]
_END_LOCATION = vars(zipfile)["_ECD_LOCATION"]
_CENTRAL_HEADER_MAGIC = b"PK\x01\x02"
_ZIP64_END_RECORDS_BYTES = 56 + 20  # zip64 end record and its locator
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, ValueError)


def central_directory_entries(archive: bytes | BinaryIO) -> int:
    """Count the central directory headers that `zipfile` would load.

    Only the bytes that the end record names as the central directory are
    read, plus the zip64 end records that may sit between the two. A name
    that contains the header signature is counted twice, so the count may be
    too high, never too low. Returns 0 when no end record is found or it is
    damaged, and `zipfile.ZipFile` then reports the damage itself.
    """
    stream = io.BytesIO(archive) if isinstance(archive, bytes) else archive
    try:
        end_record = _END_RECORD(stream)
        if end_record is None:
            return 0
        location = int(end_record[_END_LOCATION])
        size = int(end_record[_END_DIRECTORY_SIZE])
        start = max(location - size - _ZIP64_END_RECORDS_BYTES, 0)
        stream.seek(start)
        directory = stream.read(location - start)
    except _READ_ERRORS:
        return 0
    return directory.count(_CENTRAL_HEADER_MAGIC)
