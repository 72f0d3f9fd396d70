"""Queries on the advisory tables: generation, import history, totals and lookup."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from seawall.db.models import Advisory, AdvisoryImport, AdvisoryPackage


@dataclass(frozen=True, slots=True)
class StoredAdvisory:
    """One advisory found for a package: its document and where it was imported from."""

    id: str
    document: str
    source: str


@dataclass(frozen=True, slots=True)
class AdvisoryTotals:
    advisories: int
    withdrawn: int
    packages: int
    imports: int


def current_generation(session: Session) -> int:
    """Return a number that grows after every import that changed a record.

    It is the newest import that wrote an advisory row. An import that only
    met unchanged or older records writes none, so the number stays put and
    scan reports are not rebuilt for nothing.
    """
    newest = session.scalar(select(func.max(Advisory.import_id)))
    return int(newest or 0)


def import_history(session: Session) -> list[AdvisoryImport]:
    """Return every import, oldest first."""
    return list(session.scalars(select(AdvisoryImport).order_by(AdvisoryImport.id)))


def last_import_sha256(session: Session, source: str) -> str | None:
    """Return the content hash of the newest successful import of `source`."""
    return session.scalar(
        select(AdvisoryImport.sha256)
        .where(AdvisoryImport.source == source, AdvisoryImport.sha256 != "")
        .order_by(AdvisoryImport.id.desc())
        .limit(1)
    )


def totals(session: Session) -> AdvisoryTotals:
    advisories = session.scalar(select(func.count()).select_from(Advisory)) or 0
    withdrawn = (
        session.scalar(
            select(func.count()).select_from(Advisory).where(Advisory.withdrawn)
        )
        or 0
    )
    packages = session.scalar(select(func.count()).select_from(AdvisoryPackage)) or 0
    imports = session.scalar(select(func.count()).select_from(AdvisoryImport)) or 0
    return AdvisoryTotals(advisories, withdrawn, packages, imports)


def ecosystem_counts(session: Session) -> list[tuple[str, int]]:
    """Return the number of distinct advisories per ecosystem, largest first."""
    count = func.count(func.distinct(AdvisoryPackage.advisory_id))
    rows = session.execute(
        select(AdvisoryPackage.ecosystem, count)
        .group_by(AdvisoryPackage.ecosystem)
        .order_by(count.desc(), AdvisoryPackage.ecosystem)
    )
    return [(ecosystem, int(number)) for ecosystem, number in rows]


# Keys per IN query, well below SQLite's default limit of 32,766 variables.
_LOOKUP_CHUNK = 400


def advisories_for(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[StoredAdvisory]]:
    """Return the non-withdrawn advisories naming each (ecosystem, name) key."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], list[StoredAdvisory]] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        rows = session.execute(
            select(
                AdvisoryPackage.ecosystem,
                AdvisoryPackage.name,
                Advisory.id,
                Advisory.document,
                func.coalesce(AdvisoryImport.source, ""),
            )
            .join(Advisory, Advisory.id == AdvisoryPackage.advisory_id)
            .outerjoin(AdvisoryImport, AdvisoryImport.id == Advisory.import_id)
            .where(
                tuple_(AdvisoryPackage.ecosystem, AdvisoryPackage.name).in_(chunk),
                Advisory.withdrawn.is_(False),
            )
            .distinct()
            .order_by(Advisory.id)
        )
        for ecosystem, name, advisory_id, document, source in rows:
            found.setdefault((ecosystem, name), []).append(
                StoredAdvisory(advisory_id, document, source)
            )
    return found
