"""RPM packages from the SQLite rpm database.

The database is read from memory: SQLite's deserialize interface loads the
file's bytes into an in-memory database, so nothing from the image touches
the disk. The connection is query-only, rejects a `Packages` object that is
not a plain table, and stops any query after a fixed number of steps, since
the file is hostile input.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from seawall.scan.inventory.records import DistroRecord, FileContext, FileResult
from seawall.scan.inventory.rpmheader import (
    TAG_ARCH,
    TAG_EPOCH,
    TAG_LICENSE,
    TAG_NAME,
    TAG_RELEASE,
    TAG_SOURCERPM,
    TAG_VERSION,
    HeaderError,
    RpmHeader,
)

RPM_SQLITE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
# Berkeley DB and ndb databases of older or other rpm builds.
RPM_UNSUPPORTED_PATHS = (
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
)

# SQLite virtual machine steps between progress callbacks, and the callbacks
# allowed before a query is aborted (about 10^9 steps in all).
_PROGRESS_INTERVAL = 10_000
_MAX_PROGRESS_CALLS = 100_000
_MAX_ROWS = 200_000


def _step_budget() -> Callable[[], int]:
    calls = 0

    def count() -> int:
        nonlocal calls
        calls += 1
        return 1 if calls > _MAX_PROGRESS_CALLS else 0

    return count


def _open_in_memory(data: bytes) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("PRAGMA trusted_schema = OFF")
        connection.set_progress_handler(_step_budget(), _PROGRESS_INTERVAL)
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _source_rpm(value: str | None) -> tuple[str | None, str | None]:
    """Split "bash-5.1.8-6.el9.src.rpm" into ("bash", "5.1.8-6.el9")."""
    if not value:
        return None, None
    stem = value.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        return stem, None
    return parts[0], f"{parts[1]}-{parts[2]}"


def record_from_header(header: RpmHeader) -> DistroRecord | None:
    """Build the record of one header, or None for a header without a name."""
    name = header.string(TAG_NAME)
    version = header.string(TAG_VERSION)
    release = header.string(TAG_RELEASE)
    if not name or not version:
        return None
    epoch = header.int32(TAG_EPOCH)
    full_version = f"{version}-{release}" if release else version
    if epoch is not None:
        full_version = f"{epoch}:{full_version}"
    source_name, source_version = _source_rpm(header.string(TAG_SOURCERPM))
    licence = header.string(TAG_LICENSE)
    return DistroRecord(
        kind="rpm",
        name=name,
        version=full_version,
        source_name=source_name,
        source_version=source_version,
        arch=header.string(TAG_ARCH),
        epoch=str(epoch) if epoch is not None else None,
        licenses=(licence,) if licence else (),
    )


def _query_blobs(connection: sqlite3.Connection) -> list[tuple[object, object]]:
    kind = connection.execute(
        "SELECT type FROM sqlite_master WHERE name = 'Packages'"
    ).fetchone()
    if kind is None or kind[0] != "table":
        raise sqlite3.DatabaseError("no Packages table")
    rows = connection.execute(
        "SELECT hnum, blob FROM Packages ORDER BY hnum LIMIT ?", (_MAX_ROWS + 1,)
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def read_rpm_database(data: bytes, context: FileContext) -> FileResult:
    result = FileResult()
    try:
        connection = _open_in_memory(data)
    except sqlite3.Error as error:
        result.warnings.append(f"not a readable SQLite database: {error}")
        return result
    try:
        rows = _query_blobs(connection)
    except sqlite3.Error as error:
        result.warnings.append(f"rpm database query failed: {error}")
        return result
    finally:
        connection.close()

    if len(rows) > _MAX_ROWS:
        result.warnings.append(f"more than {_MAX_ROWS} packages; the rest are skipped")
        rows = rows[:_MAX_ROWS]
    for hnum, blob in rows:
        if not isinstance(blob, bytes):
            result.warnings.append(f"package {hnum!r}: header is not a blob; skipped")
            continue
        try:
            record = record_from_header(RpmHeader(blob))
        except HeaderError as error:
            result.warnings.append(f"package {hnum!r}: invalid RPM header: {error}")
            continue
        # rpm stores imported signing keys as "gpg-pubkey" packages.
        if record is not None and record.name != "gpg-pubkey":
            result.distro_packages.append(record)
    return result


def report_unsupported_rpm_database(data: bytes, context: FileContext) -> FileResult:
    return FileResult(
        warnings=[
            "rpm databases in Berkeley DB or ndb format are not supported; "
            "its packages are not listed"
        ]
    )
