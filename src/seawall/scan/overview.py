"""Harbor's `scan_overview` of artifacts, built from stored scan reports.

An image's overview is its own newest report. An index's overview merges
the reports of its images: counts add up, and the status follows Harbor's
precedence (Running, then Stopped, then Success when any image succeeded,
then the rest).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db.models import Artifact, ArtifactReference, ScanReport
from seawall.registry import media_types
from seawall.scan.model import Severity, utc_text
from seawall.scan.reports import (
    GENERIC_REPORT_MIME,
    HARBOR_REPORT_MIME,
    REPORT_MIMES,
    canonical_mime,
)
from seawall.scan.service import ERROR, PENDING, REPORT_MIME, RUNNING, STOPPED, SUCCESS

DEFAULT_ACCEPT = f"{GENERIC_REPORT_MIME}, {HARBOR_REPORT_MIME}"
_STATUS_ORDER = [RUNNING, STOPPED, SUCCESS, ERROR, PENDING]


def accepted_report_mimes(header: str | None) -> list[str]:
    """Return the vulnerability report media types a caller accepts, in its order.

    Media types are compared without case and blanks around `;` and `=`,
    so `...report;version=1.1` names the same type as `...report; version=1.1`.
    """
    known = {canonical_mime(mime): mime for mime in REPORT_MIMES}
    accepted = []
    for part in (header or DEFAULT_ACCEPT).split(","):
        mime = known.get(canonical_mime(part))
        if mime is not None and mime not in accepted:
            accepted.append(mime)
    return accepted


@dataclass(frozen=True, slots=True)
class ScanTargets:
    """The image digests whose reports make up one artifact's overview."""

    artifact_digest: str
    digests: tuple[str, ...]


def targets_of(session: Session, artifacts: Sequence[Artifact]) -> list[ScanTargets]:
    index_ids = [a.id for a in artifacts if a.media_type in media_types.INDEXES]
    children: dict[int, list[str]] = {}
    if index_ids:
        for artifact_id, digest in session.execute(
            select(ArtifactReference.artifact_id, ArtifactReference.digest).where(
                ArtifactReference.artifact_id.in_(index_ids),
                ArtifactReference.is_manifest.is_(True),
            )
        ):
            children.setdefault(artifact_id, []).append(digest)
    return [
        ScanTargets(
            artifact.digest,
            tuple(children.get(artifact.id, ()))
            if artifact.media_type in media_types.INDEXES
            else (artifact.digest,),
        )
        for artifact in artifacts
    ]


def newest_reports(
    session: Session, digests: Iterable[str], registration_uuid: str | None
) -> dict[str, ScanReport]:
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    statement = select(ScanReport).where(
        ScanReport.digest.in_(wanted), ScanReport.mime_type == REPORT_MIME
    )
    if registration_uuid is not None:
        statement = statement.where(ScanReport.registration_uuid == registration_uuid)
    newest: dict[str, ScanReport] = {}
    for row in session.scalars(statement):
        current = newest.get(row.digest)
        if current is None or row.start_time > current.start_time:
            newest[row.digest] = row
    return newest


def overview(
    targets: ScanTargets, reports: dict[str, ScanReport], mimes: Sequence[str]
) -> dict[str, Any] | None:
    """Harbor's `scan_overview` for one artifact, or None when never scanned."""
    rows = [reports[d] for d in targets.digests if d in reports]
    if not rows or not mimes:
        return None
    return {mimes[0]: merged_summary(rows)}


def merged_summary(rows: Sequence[ScanReport]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    total = fixable = 0
    severity = Severity.UNKNOWN
    any_findings = False
    for row in rows:
        if row.status != SUCCESS:
            continue
        total += row.total
        fixable += row.fixable
        for label, count in json.loads(row.summary or "{}").items():
            counts[label] = counts.get(label, 0) + int(count)
        if row.total:
            any_findings = True
            severity = max(severity, Severity.parse(row.severity))
    status = merge_status(row.status for row in rows)
    newest = max(rows, key=lambda row: row.start_time)
    ends = [row.end_time for row in rows if row.end_time is not None]
    start = min(row.start_time for row in rows)
    end = max(ends) if ends and status not in (RUNNING, PENDING) else None
    result: dict[str, Any] = {
        "report_id": newest.uuid,
        "scan_status": status,
        "severity": severity.label if any_findings else "None",
        "duration": int((end - start).total_seconds()) if end else 0,
        "start_time": utc_text(start),
        "end_time": utc_text(end) if end else None,
        "complete_percent": 100 if status == SUCCESS else 0,
        "scanner": {
            "name": newest.scanner_name,
            "vendor": newest.scanner_vendor,
            "version": newest.scanner_version,
        },
    }
    if status == SUCCESS:
        result["summary"] = {"total": total, "fixable": fixable, "summary": counts}
    return result


def merge_status(statuses: Iterable[str]) -> str:
    seen = set(statuses)
    for status in _STATUS_ORDER:
        if status in seen:
            return status
    return next(iter(seen), PENDING)


def overviews_for(
    session: Session,
    project_id: int,
    artifacts: Sequence[tuple[str, str, Sequence[str]]],
    mimes: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Scan overviews by digest for (digest, manifest media type, children) triples."""
    from seawall.scan.registrations import scanner_for_project

    registration = scanner_for_project(session, project_id)
    targets = [
        ScanTargets(
            digest,
            tuple(children) if media_type in media_types.INDEXES else (digest,),
        )
        for digest, media_type, children in artifacts
    ]
    reports = newest_reports(
        session,
        (d for target in targets for d in target.digests),
        registration.uuid if registration is not None else "",
    )
    result = {}
    for target in targets:
        found = overview(target, reports, mimes)
        if found is not None:
            result[target.artifact_digest] = found
    return result
