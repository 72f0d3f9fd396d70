"""CVE allowlists: the system list, each project's list, and which one applies.

A list names vulnerability ids that the pull gate ignores. Harbor expires a
whole list at `expires_at` (Unix seconds, `None` for never). Seawall adds an
`expires_at` and a `reason` to each item, and an item may name any id of a
finding (CVE, GHSA, PYSEC, DSA, ...), not only a CVE.

The project metadata key `reuse_sys_cve_allowlist` picks the list for a
project: absent or "true" means the system list, anything else the
project's own list. Rows live in `CveAllowlist`, whose `items` column is a
JSON list of `{"cve_id", "expires_at", "reason"}`. The functions here take a
session and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db.models import CveAllowlist, Project
from seawall.db.types import utcnow
from seawall.scan.model import Finding

logger = structlog.get_logger(__name__)

MAX_ID_LENGTH = 255
MAX_REASON_LENGTH = 1024
# `expires_at` is stored in a signed 64-bit column.
MAX_TIMESTAMP = 2**63 - 1
REUSE_SYSTEM_KEY = "reuse_sys_cve_allowlist"


class AllowlistInvalid(ValueError):
    """An allowlist that cannot be stored: a duplicate, empty or oversized entry."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AllowlistItem:
    """One allowlisted vulnerability id, with its own optional expiry and reason."""

    cve_id: str
    expires_at: int | None = None  # Unix seconds; None never expires
    reason: str | None = None

    def expired(self, now: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Allowlist:
    """A system list (`project_id` None) or one project's list.

    `id`, `created_at` and `updated_at` are None for a list never stored.
    """

    items: tuple[AllowlistItem, ...] = ()
    expires_at: int | None = None  # Unix seconds; None never expires
    project_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def expired(self, now: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def active_items(self, now: int) -> list[AllowlistItem]:
        """Return the items in force at `now`: none once the whole list expired."""
        if self.expired(now):
            return []
        return [item for item in self.items if not item.expired(now)]

    def match(self, finding: Finding, now: int) -> AllowlistItem | None:
        """Return the item in force at `now` that names any id of `finding`.

        Ids are compared without regard to case, so "cve-2021-44228" matches
        the finding CVE-2021-44228.
        """
        names = {finding.id.casefold(), *(alias.casefold() for alias in finding.ids)}
        for item in self.active_items(now):
            if item.cve_id.casefold() in names:
                return item
        return None


def _check_timestamp(value: int | None, field: str) -> None:
    if value is not None and not -MAX_TIMESTAMP <= value <= MAX_TIMESTAMP:
        raise AllowlistInvalid(
            f"{field} {value} is out of range: give Unix seconds or null for never"
        )


def _checked_item(index: int, item: AllowlistItem) -> AllowlistItem:
    cve_id = item.cve_id.strip()
    if not cve_id:
        raise AllowlistInvalid(f"empty CVE ID in allowlist at items[{index}]")
    if len(cve_id) > MAX_ID_LENGTH:
        raise AllowlistInvalid(
            f"CVE ID at items[{index}] is longer than {MAX_ID_LENGTH} characters"
        )
    if not cve_id.isprintable():
        raise AllowlistInvalid(
            f"CVE ID at items[{index}] contains a control character: {cve_id!r}"
        )
    _check_timestamp(item.expires_at, f"items[{index}].expires_at")
    reason = item.reason or None
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise AllowlistInvalid(
            f"reason of {cve_id} is longer than {MAX_REASON_LENGTH} characters"
        )
    return AllowlistItem(cve_id=cve_id, expires_at=item.expires_at, reason=reason)


def validate(allowlist: Allowlist) -> Allowlist:
    """Return `allowlist` with trimmed ids, or raise `AllowlistInvalid`.

    Two items that name the same id, ignoring case, are a duplicate, and the
    message uses Harbor's wording for it.
    """
    _check_timestamp(allowlist.expires_at, "expires_at")
    seen: set[str] = set()
    items: list[AllowlistItem] = []
    for index, raw in enumerate(allowlist.items):
        item = _checked_item(index, raw)
        key = item.cve_id.casefold()
        if key in seen:
            raise AllowlistInvalid(f"duplicate CVE ID in allowlist: {item.cve_id}")
        seen.add(key)
        items.append(item)
    return replace(allowlist, items=tuple(items))


def _encode_items(items: Iterable[AllowlistItem]) -> str:
    return json.dumps(
        [
            {
                "cve_id": item.cve_id,
                "expires_at": item.expires_at,
                "reason": item.reason,
            }
            for item in items
        ]
    )


def _decode_item(entry: Any) -> AllowlistItem | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("cve_id"), str):
        return None
    expires_at = entry.get("expires_at")
    reason = entry.get("reason")
    return AllowlistItem(
        cve_id=entry["cve_id"],
        expires_at=expires_at if isinstance(expires_at, int) else None,
        reason=reason if isinstance(reason, str) and reason else None,
    )


def _decode_items(row: CveAllowlist) -> tuple[AllowlistItem, ...]:
    # A row this module did not write can only make the gate stricter: an
    # unreadable list or entry is dropped, never read as allowing more.
    try:
        entries = json.loads(row.items)
    except ValueError:
        entries = None
    if not isinstance(entries, list):
        logger.warning("cve allowlist unreadable", allowlist_id=row.id)
        return ()
    items = [_decode_item(entry) for entry in entries]
    if None in items:
        logger.warning("cve allowlist entries skipped", allowlist_id=row.id)
    return tuple(item for item in items if item is not None)


def _from_row(row: CveAllowlist) -> Allowlist:
    return Allowlist(
        items=_decode_items(row),
        expires_at=row.expires_at,
        project_id=row.project_id,
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _system_rows(session: Session) -> list[CveAllowlist]:
    statement = (
        select(CveAllowlist)
        .where(CveAllowlist.project_id.is_(None))
        .order_by(CveAllowlist.id)
    )
    return list(session.scalars(statement))


def _project_row(session: Session, project_id: int) -> CveAllowlist | None:
    statement = select(CveAllowlist).where(CveAllowlist.project_id == project_id)
    return session.scalars(statement).first()


def load_system(session: Session) -> Allowlist:
    """Return the system list, empty if none was ever stored."""
    rows = _system_rows(session)
    return _from_row(rows[0]) if rows else Allowlist()


def load_project(session: Session, project_id: int) -> Allowlist:
    """Return the project's own list, empty if none was ever stored."""
    row = _project_row(session, project_id)
    return _from_row(row) if row is not None else Allowlist(project_id=project_id)


def load_projects(session: Session, project_ids: Sequence[int]) -> dict[int, Allowlist]:
    """Return the own list of each project in `project_ids`, empty where none exists."""
    found: dict[int, Allowlist] = {
        project_id: Allowlist(project_id=project_id) for project_id in project_ids
    }
    if not project_ids:
        return found
    statement = select(CveAllowlist).where(CveAllowlist.project_id.in_(project_ids))
    for row in session.scalars(statement):
        if row.project_id is not None:
            found[row.project_id] = _from_row(row)
    return found


def _store(row: CveAllowlist, allowlist: Allowlist) -> None:
    row.expires_at = allowlist.expires_at
    row.items = _encode_items(allowlist.items)
    row.updated_at = utcnow()


def save_system(session: Session, allowlist: Allowlist) -> Allowlist:
    """Validate `allowlist` and make it the system list, replacing the old one."""
    checked = validate(allowlist)
    rows = _system_rows(session)
    # NOTE: the unique index on `project_id` does not cover NULL, so two
    # first saves at the same moment can each insert a system row. Every
    # reader takes the lowest id, and the next save removes the others.
    for extra in rows[1:]:
        session.delete(extra)
    row = rows[0] if rows else CveAllowlist(project_id=None)
    _store(row, checked)
    session.add(row)
    session.flush()
    return _from_row(row)


def save_project(session: Session, project_id: int, allowlist: Allowlist) -> Allowlist:
    """Validate `allowlist` and make it the project's own list, replacing the old one."""
    checked = validate(allowlist)
    # Lock the project row so two first saves of its list cannot both insert.
    session.get(Project, project_id, with_for_update=True)
    row = _project_row(session, project_id)
    if row is None:
        row = CveAllowlist(project_id=project_id)
    _store(row, checked)
    session.add(row)
    session.flush()
    return _from_row(row)


def reuses_system(project: Project) -> bool:
    """Return whether the project applies the system list instead of its own.

    As in Harbor, an absent key means yes, and a stored value counts as yes
    only when it is "true" or "1".
    """
    value = project.metadata_value(REUSE_SYSTEM_KEY)
    if value is None:
        return True
    return value.strip().lower() in {"true", "1"}


def effective_allowlist(session: Session, project: Project) -> Allowlist:
    """Return the list the pull gate applies to `project`."""
    if reuses_system(project):
        return load_system(session)
    return load_project(session, project.id)
