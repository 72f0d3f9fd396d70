"""`seawall vulndb`: import OSV advisories into the offline database and show its state.

Both commands work on the database directly, as `seawall migrate` does,
and bring its schema up to date first. After an import that changed a
record, the metadata epoch in the data folder is bumped, so running
servers drop cached data that depends on advisories.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from seawall.cli.options import DATABASE_SETTINGS, load_settings, settings_options_for
from seawall.logs import configure_logging
from seawall.settings import Settings

if TYPE_CHECKING:
    from seawall.db import Database
    from seawall.db.models import AdvisoryImport
    from seawall.vulndb.importer import ImportResult

_JSON_HELP = "Print machine-readable JSON on stdout instead of text."


@click.group()
def vulndb() -> None:
    """Import and inspect the offline advisory database (OSV records)."""


@vulndb.command("import")
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@settings_options_for(*DATABASE_SETTINGS)
def import_command(sources: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Import OSV records from zip files, folders of JSON files, or http(s) URLs of zips.

    Each source is imported in its own transaction. The command exits with
    status 1 when any source failed.
    """
    from seawall.registry.cache import MetadataEpoch
    from seawall.vulndb import import_sources

    settings = load_settings(options)
    configure_logging(settings.log_format, settings.log_level)
    database = _open_database(settings)
    try:
        results = import_sources(database, list(sources))
    finally:
        database.dispose()
    if any(result.changed_count for result in results):
        MetadataEpoch(settings.data_dir).bump()

    if as_json:
        click.echo(json.dumps([_result_json(result) for result in results], indent=2))
    for result in results:
        if not result.ok:
            click.echo(f"{result.source}: import failed: {result.error}", err=True)
        elif not as_json:
            click.echo(
                f"{result.source}: {result.record_count} records, "
                f"{result.withdrawn_count} withdrawn, {result.skipped_count} skipped "
                f"({result.changed_count} new or changed)"
            )
    if not all(result.ok for result in results):
        raise SystemExit(1)


@vulndb.command("status")
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@settings_options_for(*DATABASE_SETTINGS)
def status_command(as_json: bool, **options: Any) -> None:
    """Show every import (source, kind, date, counts) and the database totals."""
    from seawall.vulndb.store import (
        current_generation,
        ecosystem_counts,
        import_history,
        totals,
    )

    settings = load_settings(options)
    configure_logging(settings.log_format, settings.log_level)
    database = _open_database(settings)
    try:
        with database.session(read_only=True) as session:
            history = import_history(session)
            summary = totals(session)
            per_ecosystem = ecosystem_counts(session)
            generation = current_generation(session)
    finally:
        database.dispose()

    if as_json:
        document = {
            "imports": [_import_json(row) for row in history],
            "advisories": summary.advisories,
            "withdrawn": summary.withdrawn,
            "package_entries": summary.packages,
            "generation": generation,
            "ecosystems": dict(per_ecosystem),
        }
        click.echo(json.dumps(document, indent=2))
        return
    _print_history(history)
    click.echo(
        f"total: {summary.advisories} advisories ({summary.withdrawn} withdrawn), "
        f"{summary.packages} package entries, {summary.imports} imports, "
        f"generation {generation}"
    )
    if per_ecosystem:
        click.echo(
            "ecosystems: "
            + ", ".join(f"{name} {count}" for name, count in per_ecosystem)
        )


def _open_database(settings: Settings) -> Database:
    from seawall.cli.migrate import open_schema
    from seawall.db import Database

    open_schema(settings)
    return Database(settings.resolved_database_url)


def _print_history(history: list[AdvisoryImport]) -> None:
    if not history:
        click.echo("no imports yet; run: seawall vulndb import PATH")
        return
    click.echo(
        f"{'ID':>4}  {'IMPORTED (UTC)':19}  {'KIND':6}  {'RECORDS':>8}  "
        f"{'WITHDRAWN':>9}  {'SKIPPED':>7}  SOURCE"
    )
    for row in history:
        click.echo(
            f"{row.id:>4}  {row.imported_at:%Y-%m-%d %H:%M:%S}  {row.kind:6}  "
            f"{row.record_count:>8}  {row.withdrawn_count:>9}  {row.skipped_count:>7}  "
            f"{row.source}"
        )
        if row.message.startswith("failed:"):
            click.echo(f"      {row.message}")


def _result_json(result: ImportResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "kind": result.kind,
        "ok": result.ok,
        "import_id": result.import_id,
        "sha256": result.sha256,
        "records": result.record_count,
        "withdrawn": result.withdrawn_count,
        "skipped": result.skipped_count,
        "changed": result.changed_count,
        "message": result.message,
    }


def _import_json(row: AdvisoryImport) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "kind": row.kind,
        "sha256": row.sha256,
        "imported_at": row.imported_at.isoformat(),
        "records": row.record_count,
        "withdrawn": row.withdrawn_count,
        "skipped": row.skipped_count,
        "message": row.message,
    }
