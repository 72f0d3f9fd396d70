"""OSV import from zips, folders and URLs: counts, replacement, malformed input, limits."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from seawall.db import Database
from seawall.db.models import AdvisoryPackage
from seawall.vulndb import current_generation, import_history, import_sources
from seawall.vulndb.importer import import_source
from seawall.vulndb.sources import Limits
from tests.unit.vulndb.records import (
    advisory_count,
    osv_record,
    package_count,
    serve_folder,
    stored_document,
    write_zip,
)


def generation(database: Database) -> int:
    with database.session(read_only=True) as session:
        return current_generation(session)


def test_kit_pypi_zip_counts(advisory_db: Database, testdata: Path) -> None:
    path = testdata / "osv" / "pypi.zip"
    with zipfile.ZipFile(path) as archive:
        documents = [json.loads(archive.read(name)) for name in archive.namelist()]
    withdrawn = sum(1 for document in documents if document.get("withdrawn"))

    (result,) = import_sources(advisory_db, [str(path)])

    assert result.ok
    assert result.kind == "zip"
    assert result.record_count == len(documents) == 2661
    assert result.withdrawn_count == withdrawn
    assert result.skipped_count == 0
    assert len(result.sha256) == 64
    assert advisory_count(advisory_db) == 2661
    entries = sum(len(document.get("affected", [])) for document in documents)
    assert package_count(advisory_db) == entries


def test_history_records_import(advisory_db: Database, testdata: Path) -> None:
    import_sources(advisory_db, [str(testdata / "osv" / "npm.zip")])
    with advisory_db.session(read_only=True) as session:
        (row,) = import_history(session)
        assert row.source.endswith("npm.zip")
        assert row.kind == "zip"
        assert row.record_count == 7
        assert row.withdrawn_count == 0
        assert row.skipped_count == 0
        assert row.imported_at.tzinfo is not None
        assert "7 new or changed" in row.message


def test_package_rows_keep_ecosystem(advisory_db: Database, testdata: Path) -> None:
    sources = [str(testdata / "osv" / name) for name in ("maven.zip", "debian-12.zip")]
    import_sources(advisory_db, sources)
    with advisory_db.session(read_only=True) as session:
        rows = session.query(AdvisoryPackage).all()
        keys = {(row.ecosystem, row.name) for row in rows}
        assert ("Debian:12", "glibc") in keys
        assert ("Maven", "org.apache.logging.log4j:log4j-core") in keys
        for row in rows:
            assert isinstance(json.loads(row.ranges), list)
            assert isinstance(json.loads(row.versions), list)


def test_pypi_names_normalised(advisory_db: Database, tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "a.zip", {"a.json": osv_record("PYSEC-1", package="Zope.Interface")}
    )
    import_sources(advisory_db, [str(path)])
    with advisory_db.session(read_only=True) as session:
        (row,) = session.query(AdvisoryPackage).all()
        assert row.name == "zope-interface"


def test_reimport_unchanged_keeps_generation(
    advisory_db: Database, testdata: Path
) -> None:
    path = str(testdata / "osv" / "npm.zip")
    import_sources(advisory_db, [path])
    before = generation(advisory_db)

    (again,) = import_sources(advisory_db, [path])

    assert again.ok
    assert again.changed_count == 0
    assert again.unchanged_count == 7
    assert generation(advisory_db) == before
    assert advisory_count(advisory_db) == 7


def test_reimport_replaces_newer_record(advisory_db: Database, tmp_path: Path) -> None:
    old = write_zip(tmp_path / "old.zip", {"r.json": osv_record("R-1", fixed="2.0")})
    new = write_zip(
        tmp_path / "new.zip",
        {"r.json": osv_record("R-1", fixed="3.0", modified="2024-06-01T00:00:00Z")},
    )
    import_sources(advisory_db, [str(old)])
    before = generation(advisory_db)

    (result,) = import_sources(advisory_db, [str(new)])

    assert result.changed_count == 1
    document = stored_document(advisory_db, "R-1")
    assert document is not None
    assert document["affected"][0]["ranges"][0]["events"][1] == {"fixed": "3.0"}
    assert package_count(advisory_db) == 1
    assert generation(advisory_db) > before


def test_older_record_does_not_replace(advisory_db: Database, tmp_path: Path) -> None:
    newer = write_zip(
        tmp_path / "newer.zip",
        {"r.json": osv_record("R-1", fixed="3.0", modified="2024-06-01T00:00:00Z")},
    )
    older = write_zip(
        tmp_path / "older.zip", {"r.json": osv_record("R-1", fixed="2.0")}
    )
    import_sources(advisory_db, [str(newer)])

    (result,) = import_sources(advisory_db, [str(older)])

    assert result.ok
    assert result.older_count == 1
    assert result.changed_count == 0
    document = stored_document(advisory_db, "R-1")
    assert document is not None
    assert document["modified"] == "2024-06-01T00:00:00Z"


def test_duplicate_id_in_one_source_keeps_newer(
    advisory_db: Database, tmp_path: Path
) -> None:
    path = write_zip(
        tmp_path / "dup.zip",
        {
            "a/r.json": osv_record("R-1", fixed="3.0", modified="2024-06-01T00:00:00Z"),
            "b/r.json": osv_record("R-1", fixed="2.0"),
        },
    )
    (result,) = import_sources(advisory_db, [str(path)])

    assert result.record_count == 2
    document = stored_document(advisory_db, "R-1")
    assert document is not None
    assert document["modified"] == "2024-06-01T00:00:00Z"
    assert advisory_count(advisory_db) == 1


def test_withdrawn_record_stored_and_counted(
    advisory_db: Database, tmp_path: Path
) -> None:
    path = write_zip(
        tmp_path / "w.zip",
        {
            "w.json": osv_record("W-1", withdrawn="2024-02-01T00:00:00Z"),
            "k.json": osv_record("K-1"),
        },
    )
    (result,) = import_sources(advisory_db, [str(path)])
    assert result.withdrawn_count == 1
    assert result.record_count == 2


def test_malformed_records_skipped(advisory_db: Database, tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "mixed.zip",
        {
            "good.json": osv_record("GOOD-1"),
            "broken.json": b"{not json",
            "noid.json": {"modified": "2024-01-01T00:00:00Z"},
            "types.json": osv_record("BAD-1", aliases="CVE-1"),
            "README.md": b"not a record",
            "nested/": b"",
        },
    )
    (result,) = import_sources(advisory_db, [str(path)])

    assert result.ok
    assert result.record_count == 1
    assert result.skipped_count == 3
    assert "broken.json: not valid JSON" in result.message
    assert "noid.json: missing or empty 'id'" in result.message
    assert "types.json: 'aliases' is not a list of strings" in result.message
    assert "README.md" not in result.message
    assert advisory_count(advisory_db) == 1


def test_huge_member_skipped(advisory_db: Database, tmp_path: Path) -> None:
    # Zeros compress about a thousandfold: a small zip whose member expands
    # far beyond the record limit.
    bomb = b'{"id": "BOMB-1", "details": "' + b"0" * (8 * 1024 * 1024) + b'"}'
    path = write_zip(
        tmp_path / "bomb.zip", {"bomb.json": bomb, "ok.json": osv_record("OK-1")}
    )
    assert path.stat().st_size < 100_000

    (result,) = import_sources(advisory_db, [str(path)])

    assert result.ok
    assert result.skipped_count == 1
    assert result.record_count == 1
    assert "bomb.json: member is" in result.message


def test_record_size_limit_setting(advisory_db: Database, tmp_path: Path) -> None:
    limits = Limits(max_record_bytes=1000)
    path = write_zip(
        tmp_path / "big.zip",
        {
            "big.json": osv_record("BIG-1", details="x" * 5000),
            "ok.json": osv_record("OK-1"),
        },
    )
    result = import_source(advisory_db, str(path), limits=limits)
    assert result.skipped_count == 1
    assert result.record_count == 1


def test_total_size_limit_fails_whole_import(
    advisory_db: Database, tmp_path: Path
) -> None:
    members: dict[str, bytes | dict[str, object]] = {
        f"r{i}.json": osv_record(f"R-{i}", details="y" * 2000) for i in range(20)
    }
    path = write_zip(tmp_path / "many.zip", members)

    result = import_source(
        advisory_db, str(path), limits=Limits(max_total_bytes=20_000)
    )

    assert not result.ok
    assert result.error is not None
    assert "expands to more than 20000 bytes" in result.error
    assert advisory_count(advisory_db) == 0


def test_member_count_limit(advisory_db: Database, tmp_path: Path) -> None:
    members: dict[str, bytes | dict[str, object]] = {
        f"r{i}.json": osv_record(f"R-{i}") for i in range(11)
    }
    path = write_zip(tmp_path / "count.zip", members)

    result = import_source(advisory_db, str(path), limits=Limits(max_members=10))

    assert not result.ok
    assert result.error is not None
    assert "11 members, more than the limit of 10" in result.error
    assert advisory_count(advisory_db) == 0


def test_malformed_zip_rejected(advisory_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")

    (result,) = import_sources(advisory_db, [str(path)])

    assert not result.ok
    assert result.error is not None
    assert "is not a valid zip file" in result.error
    assert advisory_count(advisory_db) == 0
    with advisory_db.session(read_only=True) as session:
        (row,) = import_history(session)
        assert row.message.startswith("failed:")
    assert generation(advisory_db) == 0


def test_missing_path_rejected(advisory_db: Database, tmp_path: Path) -> None:
    (result,) = import_sources(advisory_db, [str(tmp_path / "nope.zip")])
    assert result.error is not None
    assert "not found" in result.error


def test_failed_source_does_not_stop_others(
    advisory_db: Database, tmp_path: Path, testdata: Path
) -> None:
    sources = [str(tmp_path / "nope.zip"), str(testdata / "osv" / "maven.zip")]
    results = import_sources(advisory_db, sources)
    assert [result.ok for result in results] == [False, True]
    assert advisory_count(advisory_db) == 3


def test_folder_import(advisory_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps(osv_record("F-1")))
    (folder / "sub" / "b.json").write_text(json.dumps(osv_record("F-2")))
    (folder / "sub" / "bad.json").write_text("[]")
    (folder / "notes.txt").write_text("ignored")

    (result,) = import_sources(advisory_db, [str(folder)])

    assert result.kind == "folder"
    assert result.record_count == 2
    assert result.skipped_count == 1
    assert "sub/bad.json: record is not a JSON object" in result.message
    assert len(result.sha256) == 64
    (again,) = import_sources(advisory_db, [str(folder)])
    assert again.sha256 == result.sha256


def test_url_import(advisory_db: Database, tmp_path: Path, testdata: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "npm.zip").write_bytes((testdata / "osv" / "npm.zip").read_bytes())

    with serve_folder(served) as base:
        (result,) = import_sources(advisory_db, [f"{base}/npm.zip"])
        (missing,) = import_sources(advisory_db, [f"{base}/absent.zip"])
        too_big = import_source(
            advisory_db, f"{base}/npm.zip", limits=Limits(max_archive_bytes=1000)
        )

    assert result.ok
    assert result.kind == "url"
    assert result.source == f"{base}/npm.zip"
    assert result.record_count == 7
    assert missing.error is not None
    assert "HTTP status 404" in missing.error
    assert too_big.error is not None
    assert "larger than 1000 bytes" in too_big.error


def test_tracker_format_records_skipped(advisory_db: Database, testdata: Path) -> None:
    """The Debian tracker's own JSON (Header and Annotations) is not OSV."""
    (result,) = import_sources(
        advisory_db, [str(testdata / "osv" / "debian-tracker-dsa.zip")]
    )

    assert result.ok
    assert result.record_count == 0
    assert result.skipped_count == 6
    assert "DSA-5514-1.json: missing or empty 'id'" in result.message
    assert advisory_count(advisory_db) == 0
