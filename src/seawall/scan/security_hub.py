"""The security hub: vulnerability figures over every artifact of the registry.

Every figure reads, for each artifact, the newest successful vulnerability
report of its manifest digest, whichever scanner wrote it. An artifact is
one manifest in one repository, so an image pushed to two repositories is
counted twice, as Harbor counts it. An index has no report of its own: its
images are artifacts of the same repository and are counted themselves.
The vulnerability list, built on these queries, is in `vulnerability_list`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seawall.db.models import Artifact, Repository, ScanReport, Tag
from seawall.scan.adapter_metadata import SBOM_REPORT
from seawall.scan.model import Finding

logger = structlog.get_logger(__name__)

SUCCESS = "Success"
TOP_COUNT = 5

# Summary keys are `Severity.label`, and Harbor's "None" is Seawall's Negligible.
_COUNT_FIELDS = {
    "Critical": "critical",
    "High": "high",
    "Medium": "medium",
    "Low": "low",
    "Negligible": "none",
    "None": "none",
    "Unknown": "unknown",
}


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    artifact_id: int
    project_id: int
    repository_name: str  # with the project: "library/app"
    digest: str


@dataclass(frozen=True, slots=True)
class LatestReport:
    """The summary columns of the newest successful report of one digest."""

    uuid: str
    digest: str
    counts: dict[str, int]
    total: int
    fixable: int
    scanner_name: str


@dataclass(slots=True)
class SeverityCounts:
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    none: int = 0
    unknown: int = 0

    def add(self, counts: dict[str, int]) -> None:
        for label, value in counts.items():
            name = _COUNT_FIELDS.get(label, "unknown")
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True, slots=True)
class DangerousCve:
    cve_id: str
    severity: str
    cvss_score_v3: float | None
    desc: str
    package: str
    version: str


@dataclass(frozen=True, slots=True)
class DangerousArtifact:
    project_id: int
    repository_name: str
    digest: str
    critical_cnt: int
    high_cnt: int
    medium_cnt: int


@dataclass(slots=True)
class SecuritySummary:
    counts: SeverityCounts
    total_vuls: int
    scanned_cnt: int
    total_artifact: int
    fixable_cnt: int
    dangerous_cves: list[DangerousCve] | None = None
    dangerous_artifacts: list[DangerousArtifact] | None = None


def artifact_rows(session: Session) -> list[ArtifactRow]:
    rows = session.execute(
        select(Artifact.id, Repository.project_id, Repository.name, Artifact.digest)
        .join(Repository, Repository.id == Artifact.repository_id)
        .order_by(Artifact.id)
    ).all()
    return [ArtifactRow(*row) for row in rows]


def latest_reports(
    session: Session, digests: Iterable[str] | None = None
) -> dict[str, LatestReport]:
    """Return the newest successful vulnerability report of each digest.

    The newest is the one that finished last. SBOM reports are left out.
    """
    statement = (
        select(
            ScanReport.uuid,
            ScanReport.digest,
            ScanReport.summary,
            ScanReport.total,
            ScanReport.fixable,
            ScanReport.scanner_name,
            func.coalesce(ScanReport.end_time, ScanReport.start_time),
        )
        .where(ScanReport.status == SUCCESS, ScanReport.mime_type != SBOM_REPORT)
        .order_by(ScanReport.digest)
    )
    if digests is not None:
        statement = statement.where(ScanReport.digest.in_(list(set(digests))))
    newest: dict[str, tuple[datetime, LatestReport]] = {}
    for uuid, digest, summary, total, fixable, scanner, finished in session.execute(
        statement
    ):
        report = LatestReport(
            uuid, digest, _counts(summary), total, fixable, scanner or ""
        )
        current = newest.get(digest)
        if current is None or _later(finished, current[0]):
            newest[digest] = (finished, report)
    return {digest: report for digest, (_, report) in newest.items()}


def _later(candidate: datetime | None, current: datetime | None) -> bool:
    if candidate is None:
        return False
    return current is None or candidate > current


def _counts(summary: str | None) -> dict[str, int]:
    try:
        parsed = json.loads(summary or "{}")
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): v for k, v in parsed.items() if isinstance(v, int) and v > 0}


def report_findings(
    session: Session, report_uuids: Iterable[str]
) -> dict[str, list[Finding]]:
    """Read the findings of the given reports, keyed by report UUID.

    A finding that does not parse is skipped with a warning, so one bad
    record does not hide the rest of the report.
    """
    uuids = list(set(report_uuids))
    found: dict[str, list[Finding]] = {}
    if not uuids:
        return found
    rows = session.execute(
        select(ScanReport.uuid, ScanReport.report).where(ScanReport.uuid.in_(uuids))
    )
    for uuid, body in rows:
        found[uuid] = list(_parse_findings(uuid, body))
    return found


def _parse_findings(report_uuid: str, body: str | None) -> Iterator[Finding]:
    try:
        document: Any = json.loads(body or "{}")
    except ValueError:
        logger.warning("scan report skipped", report=report_uuid, reason="not JSON")
        return
    items = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return
    for item in items:
        try:
            yield Finding.from_json(item)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning(
                "finding skipped", report=report_uuid, reason=type(exc).__name__
            )


def security_summary(
    session: Session, *, with_dangerous_cve: bool, with_dangerous_artifact: bool
) -> SecuritySummary:
    """Count artifacts, scanned artifacts and vulnerabilities by severity."""
    artifacts = artifact_rows(session)
    reports = latest_reports(session)
    summary = SecuritySummary(
        counts=SeverityCounts(),
        total_vuls=0,
        scanned_cnt=0,
        total_artifact=len(artifacts),
        fixable_cnt=0,
    )
    scanned: list[tuple[ArtifactRow, LatestReport]] = []
    for artifact in artifacts:
        report = reports.get(artifact.digest)
        if report is None:
            continue
        scanned.append((artifact, report))
        summary.scanned_cnt += 1
        summary.counts.add(report.counts)
        summary.total_vuls += report.total
        summary.fixable_cnt += report.fixable
    if with_dangerous_artifact:
        summary.dangerous_artifacts = _dangerous_artifacts(scanned)
    if with_dangerous_cve:
        summary.dangerous_cves = _dangerous_cves(session, scanned)
    return summary


def _dangerous_artifacts(
    scanned: list[tuple[ArtifactRow, LatestReport]],
) -> list[DangerousArtifact]:
    candidates = [
        DangerousArtifact(
            project_id=artifact.project_id,
            repository_name=artifact.repository_name,
            digest=artifact.digest,
            critical_cnt=report.counts.get("Critical", 0),
            high_cnt=report.counts.get("High", 0),
            medium_cnt=report.counts.get("Medium", 0),
        )
        for artifact, report in scanned
    ]
    candidates = [c for c in candidates if c.critical_cnt + c.high_cnt + c.medium_cnt]
    candidates.sort(
        key=lambda c: (-c.critical_cnt, -c.high_cnt, -c.medium_cnt, c.repository_name)
    )
    return candidates[:TOP_COUNT]


def _dangerous_cves(
    session: Session, scanned: list[tuple[ArtifactRow, LatestReport]]
) -> list[DangerousCve]:
    """Return the five worst distinct (CVE, package, version) findings.

    Harbor lists only critical CVEs by CVSS v3 score. Seawall orders every
    finding by severity and then by score, so high CVEs fill the list when
    fewer than five are critical.
    """
    uuids = [report.uuid for _, report in scanned if _has_dangerous(report)]
    best: dict[tuple[str, str, str], Finding] = {}
    for findings in report_findings(session, uuids).values():
        for finding in findings:
            key = (finding.id, finding.package, finding.version)
            if key not in best or _rank(finding) < _rank(best[key]):
                best[key] = finding
    ordered = sorted(best.values(), key=lambda f: (*_rank(f), f.id, f.package))
    return [
        DangerousCve(
            cve_id=finding.id,
            severity=finding.severity.label,
            cvss_score_v3=finding.cvss.score if finding.cvss else None,
            desc=finding.description or finding.summary,
            package=finding.package,
            version=finding.version,
        )
        for finding in ordered[:TOP_COUNT]
    ]


def _has_dangerous(report: LatestReport) -> bool:
    return any(report.counts.get(label) for label in ("Critical", "High", "Medium"))


def _rank(finding: Finding) -> tuple[int, float]:
    score = finding.cvss.score if finding.cvss else 0.0
    return (-int(finding.severity), -score)


def tags_by_artifact(
    session: Session, artifact_ids: Iterable[int] | None = None
) -> dict[int, list[str]]:
    statement = select(Tag.artifact_id, Tag.name).order_by(Tag.name)
    if artifact_ids is not None:
        statement = statement.where(Tag.artifact_id.in_(list(set(artifact_ids))))
    tags: dict[int, list[str]] = defaultdict(list)
    for artifact_id, name in session.execute(statement):
        tags[artifact_id].append(name)
    return tags
