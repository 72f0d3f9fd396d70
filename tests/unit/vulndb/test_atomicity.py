"""An import is one transaction: a concurrent reader sees the old or the new database."""

from __future__ import annotations

import threading
from pathlib import Path

from seawall.db import Database
from seawall.vulndb import current_generation, import_history, import_sources
from seawall.vulndb.importer import BATCH_SIZE, ImportResult, import_source
from tests.unit.vulndb.records import advisory_count

WAIT_SECONDS = 60


def test_reader_sees_old_data_until_commit(
    advisory_db: Database, testdata: Path
) -> None:
    import_sources(advisory_db, [str(testdata / "osv" / "debian-12.zip")])
    # A second engine gives the reader its own connections, as a scan in
    # another worker would have.
    reader = Database(advisory_db.url)
    batch_written = threading.Event()
    reader_done = threading.Event()
    observed: dict[str, int] = {}
    batches: list[int] = []
    errors: list[BaseException] = []

    def pause_after_first_batch(result: ImportResult) -> None:
        batches.append(result.changed_count)
        if len(batches) == 1:
            batch_written.set()
            assert reader_done.wait(WAIT_SECONDS)

    def run_import() -> None:
        try:
            import_source(
                advisory_db,
                str(testdata / "osv" / "pypi.zip"),
                on_batch=pause_after_first_batch,
            )
        except BaseException as exc:
            errors.append(exc)
            batch_written.set()

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        assert batch_written.wait(WAIT_SECONDS)
        observed["advisories"] = advisory_count(reader)
        with reader.session(read_only=True) as session:
            observed["imports"] = len(import_history(session))
            observed["generation"] = current_generation(session)
    finally:
        reader_done.set()
        importer.join(WAIT_SECONDS)

    assert errors == []
    assert batches[0] == BATCH_SIZE
    assert observed == {"advisories": 6, "imports": 1, "generation": 1}
    assert advisory_count(reader) == 6 + 2661
    with reader.session(read_only=True) as session:
        assert len(import_history(session)) == 2
        assert current_generation(session) == 2
    reader.dispose()


def test_failed_import_leaves_no_records(advisory_db: Database, tmp_path: Path) -> None:
    from seawall.vulndb.sources import Limits
    from tests.unit.vulndb.records import osv_record, write_zip

    members: dict[str, bytes | dict[str, object]] = {
        f"r{i:04}.json": osv_record(f"R-{i}", details="z" * 100)
        for i in range(BATCH_SIZE * 3)
    }
    path = write_zip(tmp_path / "late-failure.zip", members)
    # The total limit is reached after more than one batch was written.
    limits = Limits(max_total_bytes=BATCH_SIZE * 2 * 300)

    result = import_source(advisory_db, str(path), limits=limits)

    assert not result.ok
    assert advisory_count(advisory_db) == 0
