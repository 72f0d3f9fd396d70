"""Scheduled re-import of a folder or URL of OSV zips, skipping unchanged content."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from seawall.db import Database
from seawall.vulndb import sync_source
from seawall.vulndb.sources import SourceError
from seawall.vulndb.sync import _zip_links, sync_periodically
from tests.unit.vulndb.records import (
    advisory_count,
    osv_record,
    serve_folder,
    write_zip,
)


def test_folder_sync_skips_unchanged(
    advisory_db: Database, tmp_path: Path, testdata: Path
) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in ("npm.zip", "maven.zip"):
        shutil.copy(testdata / "osv" / name, folder / name)
    (folder / "notes.txt").write_text("not a zip")

    first = sync_source(advisory_db, str(folder))
    second = sync_source(advisory_db, str(folder))
    write_zip(folder / "npm.zip", {"r.json": osv_record("NEW-1", ecosystem="npm")})
    third = sync_source(advisory_db, str(folder))

    assert sorted(Path(r.source).name for r in first) == ["maven.zip", "npm.zip"]
    assert second == []
    assert [Path(r.source).name for r in third] == ["npm.zip"]
    assert advisory_count(advisory_db) == 7 + 3 + 1


def test_url_listing_sync(
    advisory_db: Database, tmp_path: Path, testdata: Path
) -> None:
    served = tmp_path / "served"
    (served / "osv").mkdir(parents=True)
    shutil.copy(testdata / "osv" / "npm.zip", served / "osv" / "npm.zip")
    shutil.copy(testdata / "osv" / "maven.zip", served / "osv" / "maven.zip")
    (served / "index.html").write_text(
        '<a href="osv/npm.zip">npm</a> <a href="/osv/maven.zip">maven</a>'
        ' <a href="http://198.51.100.7/evil.zip">elsewhere</a>'
    )

    with serve_folder(served) as base:
        first = sync_source(advisory_db, f"{base}/index.html")
        second = sync_source(advisory_db, f"{base}/index.html")
        direct = sync_source(advisory_db, f"{base}/osv/npm.zip")

    assert sorted(r.source for r in first) == [
        f"{base}/osv/maven.zip",
        f"{base}/osv/npm.zip",
    ]
    assert all(r.kind == "url" for r in first)
    assert second == []
    assert direct == []
    assert advisory_count(advisory_db) == 10


def test_listing_links_stay_on_host() -> None:
    text = (
        "npm.zip\nhttps://other.example/x.zip\n"
        '<a href="sub/pypi.zip">pypi</a>\n<a href="https://mirror.example/a/b.zip">'
    )
    links = _zip_links("https://mirror.example/a/index.html", text)
    assert links == [
        "https://mirror.example/a/npm.zip",
        "https://mirror.example/a/sub/pypi.zip",
        "https://mirror.example/a/b.zip",
    ]


def test_missing_folder_raises(advisory_db: Database, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a folder or an http"):
        sync_source(advisory_db, str(tmp_path / "absent"))


def test_periodic_sync_reports_change(
    advisory_db: Database, tmp_path: Path, testdata: Path
) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.copy(testdata / "osv" / "maven.zip", folder / "maven.zip")
    stop = threading.Event()
    changes: list[int] = []

    def on_change() -> None:
        changes.append(advisory_count(advisory_db))
        stop.set()

    sync_periodically(advisory_db, str(folder), 3600, stop, on_change)

    assert changes == [3]
