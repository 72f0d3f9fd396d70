"""Hostile layers and advisory archives: each ends in a warning, within bounded memory.

The layers are built in memory and read with the real inventory reader; the
archives are imported with the real importer into a migrated database.
"""

from __future__ import annotations

import io
import json
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.db import Database
from seawall.scan.glob_filter import InvalidGlob, expand_braces, glob_matcher
from seawall.scan.inventory import Limits, read_inventory, read_inventory_with_limits
from seawall.scan.zip_directory import central_directory_entries
from seawall.vulndb.importer import import_source
from seawall.vulndb.osv import InvalidRecord, parse_record
from seawall.vulndb.sources import Limits as SourceLimits
from seawall.vulndb.sync import sync_periodically
from tests.unit.scan.layer_builder import TAR_LAYER, blob, file, layer, tar_bytes
from tests.unit.vulndb.conftest import migrated_database
from tests.unit.vulndb.records import advisory_count, osv_record, write_zip

PACKAGE_JSON = '{"name": "left-pad", "version": "1.0.0"}'


@pytest.fixture
def advisory_db(tmp_path: Path) -> Iterator[Database]:
    with migrated_database(tmp_path) as database:
        yield database


def many_entry_jar(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"{index:x}", b"")
    return buffer.getvalue()


# --- layers ------------------------------------------------------------------


def test_deep_path_is_skipped_quickly() -> None:
    # 60,000 components: the overlay's parent directories of this one path
    # would hold about 3.6 GB of strings if the name were kept.
    deep = "a/" * 60_000 + "node_modules/left-pad/package.json"
    image = [blob(tar_bytes([file(deep, PACKAGE_JSON)]), TAR_LAYER)]

    tracemalloc.start()
    started = time.monotonic()
    inventory = read_inventory("sha256:m", image)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert "1 entries with names longer than 4096 bytes, skipped" in warning
    assert elapsed < 5
    assert peak < 64 * 1024 * 1024


def test_path_at_the_limit_is_read() -> None:
    suffix = "node_modules/left-pad/package.json"
    path = "a/" * ((4096 - len(suffix)) // 2) + suffix
    assert len(path) <= 4096

    inventory = read_inventory("sha256:m", [layer(file(path, PACKAGE_JSON))])

    assert [(p.name, p.version) for p in inventory.packages] == [("left-pad", "1.0.0")]
    assert inventory.warnings == []


def test_jar_of_many_entries_is_not_loaded() -> None:
    data = many_entry_jar(5_000)
    limits = Limits(max_archive_members=1_000)

    tracemalloc.start()
    inventory = read_inventory_with_limits(
        "sha256:m", [layer(file("app/many.jar", data))], limits
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    [warning] = inventory.warnings
    assert warning.endswith(
        "app/many.jar: about 5000 entries pass the cap of 1000; not read"
    )
    # Loading 5,000 `ZipInfo` objects costs several megabytes; the count does not.
    assert peak < 3 * len(data) + 1024 * 1024


def test_central_directory_count_of_damaged_zips() -> None:
    assert central_directory_entries(many_entry_jar(3)) == 3
    assert central_directory_entries(b"") == 0
    assert central_directory_entries(b"PK\x03\x04 truncated") == 0
    # An end record whose sizes point before the start of the data.
    assert central_directory_entries(b"PK\x05\x06" + b"\xff" * 18) == 0


# --- advisory archives -------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("0001-01-01T00:00:00+01:00", "not an RFC 3339 timestamp"),
        ("9999-12-31T23:59:59-01:00", "not an RFC 3339 timestamp"),
        ("x" * 10_000, "not an RFC 3339 timestamp"),
    ],
)
def test_timestamp_out_of_range_is_invalid(timestamp: str, reason: str) -> None:
    raw = json.dumps(osv_record("T-1", modified=timestamp)).encode()

    with pytest.raises(InvalidRecord) as caught:
        parse_record(raw)

    assert reason in str(caught.value)
    assert len(str(caught.value)) < 200


def test_nul_in_record_is_invalid() -> None:
    raw = json.dumps(osv_record("T-\x00")).encode()
    escaped = json.dumps(osv_record("T-\\u0000")).encode()

    with pytest.raises(InvalidRecord, match="NUL character"):
        parse_record(raw)
    assert parse_record(escaped).id == "T-\\u0000"


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2, zipfile.ZIP_DEFLATED]
)
def test_corrupt_member_is_skipped(
    advisory_db: Database, tmp_path: Path, compression: int
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("bad.json", json.dumps(osv_record("BAD-1")) * 50)
        archive.writestr("good.json", json.dumps(osv_record("GOOD-1")))
    data = bytearray(buffer.getvalue())
    for position in range(60, 100):  # inside the first member's compressed data
        data[position] ^= 0x55
    path = tmp_path / "corrupt.zip"
    path.write_bytes(bytes(data))

    result = import_source(advisory_db, str(path))

    assert result.ok, result.error
    assert result.skipped_count == 1
    assert "bad.json" in result.message
    assert "member cannot be read" in result.message
    assert result.record_count == 1
    assert advisory_count(advisory_db) == 1


def test_hostile_records_are_skipped_not_fatal(
    advisory_db: Database, tmp_path: Path
) -> None:
    members: dict[str, bytes | dict[str, object]] = {
        "year-one.json": osv_record("T-1", modified="0001-01-01T00:00:00+01:00"),
        "nested.json": b"[" * 100_000,
        "wrong-types.json": osv_record("T-3", details=["x"]),
        "aliases.json": osv_record("T-4", aliases=[f"T-{n}" for n in range(3_000)]),
        "cycle-a.json": osv_record("CYCLE-A", aliases=["CYCLE-B"]),
        "cycle-b.json": osv_record("CYCLE-B", aliases=["CYCLE-A"]),
        "garbage-range.json": osv_record("T-7", fixed="!!not a version\x01"),
    }
    path = write_zip(tmp_path / "hostile.zip", members)

    result = import_source(advisory_db, str(path))

    assert result.ok, result.error
    assert result.skipped_count == 3
    assert result.record_count == 4
    assert "year-one.json" in result.message
    assert advisory_count(advisory_db) == 4


def test_zip_of_many_members_is_refused(advisory_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(many_entry_jar(2_000))

    result = import_source(
        advisory_db, str(path), limits=SourceLimits(max_members=1_000)
    )

    assert not result.ok
    assert result.error is not None
    assert "about 2000 members, more than the limit of 1000" in result.error
    assert advisory_count(advisory_db) == 0


def test_sync_goes_on_after_folder_named_zip(
    advisory_db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "a-directory.zip").mkdir()
    write_zip(folder / "b.zip", {"r.json": osv_record("SYNC-1")})
    stop = threading.Event()
    changes: list[int] = []

    def on_change() -> None:
        changes.append(advisory_count(advisory_db))
        stop.set()

    worker = threading.Thread(
        target=sync_periodically,
        args=(advisory_db, str(folder), 0.05, stop, on_change),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=30)
    stop.set()

    assert not worker.is_alive()
    assert changes == [1]


def test_small_files_are_read_without_cap_sized_buffers() -> None:
    image = [
        layer(
            file("app/small.jar", many_entry_jar(3)),
            file("node_modules/left-pad/package.json", PACKAGE_JSON),
        )
    ]

    tracemalloc.start()
    inventory = read_inventory("sha256:m", image)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert [(p.name, p.version) for p in inventory.packages] == [("left-pad", "1.0.0")]
    # The caps are 512 MiB for a jar and 64 MiB for a metadata file.
    assert peak < 16 * 1024 * 1024


# --- CVE export filters --------------------------------------------------------


def test_glob_expansion_is_capped() -> None:
    with pytest.raises(InvalidGlob, match="more than 256 alternatives"):
        expand_braces("{a,b}" * 30)
    assert expand_braces("x{a,{b,c}}y") == ["xay", "xby", "xcy"]


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*a" * 40 + "*b", "a" * 250, False),
        ("*a" * 40 + "*", "a" * 250, True),
        ("**/x", "q/w/x", True),
        ("*x", "q/x", False),
        ("a/**/b", "a/b", False),
        ("a/**b", "a/b", True),
        ("?", "/", False),
        ("*", "", True),
    ],
)
def test_glob_matches_in_linear_time(pattern: str, name: str, matches: bool) -> None:
    matcher = glob_matcher(pattern)
    assert matcher is not None

    started = time.monotonic()
    assert matcher.fullmatch(name) is matches
    assert time.monotonic() - started < 1
