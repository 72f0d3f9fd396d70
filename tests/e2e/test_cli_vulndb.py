"""`seawall vulndb import` and `seawall vulndb status` run as processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import databases

SEAWALL_SCRIPT = Path(sys.executable).parent / "seawall"


def run_vulndb(
    *args: str, data_dir: Path, database_url: str
) -> subprocess.CompletedProcess[str]:
    if not SEAWALL_SCRIPT.is_file():
        pytest.fail(
            f"{SEAWALL_SCRIPT} not found; install the package with pip install -e ."
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    return subprocess.run(
        [
            str(SEAWALL_SCRIPT),
            "vulndb",
            *args,
            "--data-dir",
            str(data_dir),
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.fixture
def cli_database(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "db"
    folder.mkdir()
    with databases.test_database_url(folder) as url:
        yield url


def epoch_identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return (stat.st_ino, stat.st_mtime_ns)


def test_import_then_status(tmp_path: Path, testdata: Path, cli_database: str) -> None:
    data_dir = tmp_path / "data"
    zips = [str(testdata / "osv" / name) for name in ("npm.zip", "maven.zip")]

    imported = run_vulndb("import", *zips, data_dir=data_dir, database_url=cli_database)

    assert imported.returncode == 0, imported.stderr
    lines = imported.stdout.splitlines()
    assert lines == [
        f"{zips[0]}: 7 records, 0 withdrawn, 0 skipped (7 new or changed)",
        f"{zips[1]}: 3 records, 0 withdrawn, 0 skipped (3 new or changed)",
    ]
    epoch_file = data_dir / "metadata-epoch"
    assert epoch_file.is_file()
    first_epoch = epoch_identity(epoch_file)

    status = run_vulndb("status", data_dir=data_dir, database_url=cli_database)

    assert status.returncode == 0, status.stderr
    assert "RECORDS" in status.stdout
    assert zips[0] in status.stdout
    assert zips[1] in status.stdout
    assert "total: 10 advisories (0 withdrawn)" in status.stdout
    assert "npm 7" in status.stdout
    assert "Maven 3" in status.stdout

    again = run_vulndb("import", zips[0], data_dir=data_dir, database_url=cli_database)
    assert again.returncode == 0, again.stderr
    assert "(0 new or changed)" in again.stdout
    assert epoch_identity(epoch_file) == first_epoch


def test_status_json(tmp_path: Path, testdata: Path, cli_database: str) -> None:
    data_dir = tmp_path / "data"
    zip_path = str(testdata / "osv" / "debian-12.zip")
    run_vulndb("import", zip_path, data_dir=data_dir, database_url=cli_database)

    status = run_vulndb(
        "status", "--json", data_dir=data_dir, database_url=cli_database
    )

    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["advisories"] == 6
    assert document["generation"] == 1
    assert document["ecosystems"] == {"Debian:12": 6}
    (entry,) = document["imports"]
    assert entry["source"] == zip_path
    assert entry["kind"] == "zip"
    assert entry["records"] == 6


def test_import_failure_exits_non_zero(
    tmp_path: Path, testdata: Path, cli_database: str
) -> None:
    data_dir = tmp_path / "data"
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip at all")
    good = str(testdata / "osv" / "maven.zip")

    result = run_vulndb(
        "import", str(broken), good, data_dir=data_dir, database_url=cli_database
    )

    assert result.returncode == 1
    assert f"{broken}: import failed:" in result.stderr
    assert "is not a valid zip file" in result.stderr
    assert f"{good}: 3 records" in result.stdout
    status = run_vulndb("status", data_dir=data_dir, database_url=cli_database)
    assert "failed:" in status.stdout
