"""Import of OSV records into the advisory tables, one transaction per source.

A scan that reads the database during an import reads either every
record of the source or none of them, because the whole source is written in one
transaction.

Re-importing a record id replaces the stored copy, unless the stored copy
has a newer `modified` time: when two sources disagree, the newer record
is kept, whichever was imported last. A record whose document is unchanged
is left alone, so an import that changes nothing does not move
`store.current_generation`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from seawall.db import Database
from seawall.db.models import Advisory, AdvisoryImport, AdvisoryPackage
from seawall.vulndb.osv import InvalidRecord, OsvRecord, parse_record
from seawall.vulndb.sources import (
    DEFAULT_LIMITS,
    Limits,
    Member,
    SourceError,
    SourceReader,
    open_source,
)

logger = structlog.get_logger(__name__)

BATCH_SIZE = 500
# The import's message lists this many skip reasons and only counts the rest.
MAX_MESSAGE_REASONS = 20


@dataclass(slots=True)
class ImportResult:
    """The outcome of importing one source. `error` is set when the import failed."""

    source: str
    kind: str
    sha256: str = ""
    import_id: int | None = None
    record_count: int = 0
    withdrawn_count: int = 0
    skipped_count: int = 0
    changed_count: int = 0
    unchanged_count: int = 0
    older_count: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        if self.error is not None:
            return f"failed: {self.error}"
        text = (
            f"{self.changed_count} new or changed, {self.unchanged_count} unchanged, "
            f"{self.older_count} older than the stored copy"
        )
        if self.skip_reasons:
            text += "; skipped: " + "; ".join(self.skip_reasons)
            hidden = self.skipped_count - len(self.skip_reasons)
            if hidden > 0:
                text += f"; and {hidden} more"
        return text


def import_sources(db: Database, sources: Sequence[str]) -> list[ImportResult]:
    """Import each source (zip path, folder of JSON, or http(s) URL of a zip) in turn.

    A source that fails is rolled back and recorded with its error, and the
    remaining sources are still imported.
    """
    return [import_source(db, source) for source in sources]


def import_source(
    db: Database,
    source: str,
    *,
    label: str | None = None,
    kind: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Import one source in one transaction.

    `label` and `kind` override what the history records, for a source that
    was downloaded first. `on_batch` runs after each batch of records is
    written (every `BATCH_SIZE` records) and before the transaction
    commits, for progress output.
    """
    shown = label or source
    try:
        with open_source(source, limits) as reader:
            reader.source = shown
            reader.kind = kind or reader.kind
            with db.session() as session:
                result = _import_reader(session, reader, on_batch)
    except SourceError as exc:
        logger.warning("advisory import failed", source=shown, error=str(exc))
        result = ImportResult(source=shown, kind=kind or _guess_kind(source))
        result.error = str(exc)
        _record_failure(db, result)
        return result
    logger.info(
        "advisories imported",
        source=shown,
        import_id=result.import_id,
        records=result.record_count,
        withdrawn=result.withdrawn_count,
        skipped=result.skipped_count,
        changed=result.changed_count,
    )
    return result


def _guess_kind(source: str) -> str:
    if source.startswith(("http://", "https://")):
        return "url"
    return "folder" if source.endswith("/") else "zip"


def _record_failure(db: Database, result: ImportResult) -> None:
    with db.session() as session:
        row = AdvisoryImport(
            source=result.source,
            kind=result.kind,
            sha256=result.sha256,
            record_count=0,
            withdrawn_count=0,
            skipped_count=0,
            message=result.message,
        )
        session.add(row)
        session.flush()
        result.import_id = row.id


def _import_reader(
    session: Session,
    reader: SourceReader,
    on_batch: Callable[[ImportResult], None] | None,
) -> ImportResult:
    row = AdvisoryImport(
        source=reader.source,
        kind=reader.kind,
        sha256="",
        record_count=0,
        withdrawn_count=0,
        skipped_count=0,
        message="",
    )
    session.add(row)
    session.flush()
    result = ImportResult(source=reader.source, kind=reader.kind, import_id=row.id)

    batch: dict[str, OsvRecord] = {}
    for member in reader.members():
        record = _parse_member(member, result)
        if record is None:
            continue
        result.record_count += 1
        result.withdrawn_count += record.withdrawn
        kept = batch.get(record.id)
        if kept is None or not _is_older(record, kept):
            batch[record.id] = record
        if len(batch) >= BATCH_SIZE:
            _write_batch(session, row.id, list(batch.values()), result)
            batch.clear()
            if on_batch is not None:
                on_batch(result)
    _write_batch(session, row.id, list(batch.values()), result)

    result.sha256 = reader.sha256
    row.sha256 = reader.sha256
    row.record_count = result.record_count
    row.withdrawn_count = result.withdrawn_count
    row.skipped_count = result.skipped_count
    row.message = result.message
    return result


def _parse_member(member: Member, result: ImportResult) -> OsvRecord | None:
    reason = member.error
    record = None
    if member.data is not None:
        try:
            record = parse_record(member.data)
        except InvalidRecord as exc:
            reason = str(exc)
    if record is not None:
        return record
    result.skipped_count += 1
    if len(result.skip_reasons) < MAX_MESSAGE_REASONS:
        result.skip_reasons.append(f"{member.name}: {reason}")
    logger.warning("advisory skipped", member=member.name, reason=reason)
    return None


def _is_older(record: OsvRecord, other: OsvRecord | Advisory) -> bool:
    """Tell whether `record` is strictly older than `other`. A missing time is never older."""
    if record.modified is None or other.modified is None:
        return False
    return record.modified < other.modified


def _write_batch(
    session: Session, import_id: int, records: list[OsvRecord], result: ImportResult
) -> None:
    if not records:
        return
    ids = [record.id for record in records]
    stored = {
        advisory.id: advisory
        for advisory in session.scalars(select(Advisory).where(Advisory.id.in_(ids)))
    }
    to_write: list[tuple[OsvRecord, str]] = []
    for record in records:
        document = _canonical_json(record)
        existing = stored.get(record.id)
        if existing is not None and _is_older(record, existing):
            result.older_count += 1
        elif existing is not None and existing.document == document:
            result.unchanged_count += 1
        else:
            to_write.append((record, document))
    if not to_write:
        return

    replaced = [record.id for record, _ in to_write if record.id in stored]
    if replaced:
        session.execute(
            delete(AdvisoryPackage).where(AdvisoryPackage.advisory_id.in_(replaced))
        )
        session.execute(delete(Advisory).where(Advisory.id.in_(replaced)))
    session.execute(
        insert(Advisory),
        [_advisory_row(record, document, import_id) for record, document in to_write],
    )
    package_rows = [row for record, _ in to_write for row in _package_rows(record)]
    if package_rows:
        session.execute(insert(AdvisoryPackage), package_rows)
    # The deleted and inserted rows bypass the identity map, so drop the
    # stale copies loaded above.
    for advisory in stored.values():
        session.expunge(advisory)
    result.changed_count += len(to_write)


def _canonical_json(record: OsvRecord) -> str:
    return json.dumps(record.document, sort_keys=True, separators=(",", ":"))


def _advisory_row(
    record: OsvRecord, document: str, import_id: int
) -> dict[str, object]:
    return {
        "id": record.id,
        "import_id": import_id,
        "modified": record.modified,
        "published": record.published,
        "withdrawn": record.withdrawn,
        "summary": record.summary,
        "aliases": json.dumps(record.aliases),
        "document": document,
    }


def _package_rows(record: OsvRecord) -> list[dict[str, object]]:
    return [
        {
            "advisory_id": record.id,
            "ecosystem": affected.ecosystem,
            "name": affected.name,
            "ranges": json.dumps(affected.ranges),
            "versions": json.dumps(affected.versions),
        }
        for affected in record.affected
    ]
