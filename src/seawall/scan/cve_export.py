"""CVE export: the findings of one project's artifacts as a CSV document.

The columns are those of the CSV export in Harbor's `src/pkg/scan/export`:
Repository, Artifact Digest, Tags, CVE, Package, Current Version,
Fixed in version, Severity, CWE Ids, Additional Data, Scanner. Each artifact
contributes the findings of the newest successful vulnerability report of
its digest.

Filters follow Harbor's export request: `repositories` and `tags` are glob
patterns (`*` within a path segment, `**` across segments, `{a,b}` for
alternatives) matched against the repository name without its project and
against each tag of the artifact. `cve_ids` is a comma-separated list,
optionally in braces.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from seawall.scan.glob_filter import glob_matcher
from seawall.scan.model import Finding
from seawall.scan.security_hub import (
    ArtifactRow,
    artifact_rows,
    latest_reports,
    report_findings,
    tags_by_artifact,
)

CSV_HEADER = (
    "Repository",
    "Artifact Digest",
    "Tags",
    "CVE",
    "Package",
    "Current Version",
    "Fixed in version",
    "Severity",
    "CWE Ids",
    "Additional Data",
    "Scanner",
)

# A spreadsheet runs a cell that starts with one of these as a formula,
# so such a cell is written with a leading apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True, slots=True)
class ExportCriteria:
    project_ids: tuple[int, ...]
    repositories: str = ""
    tags: str = ""
    cve_ids: str = ""
    labels: tuple[int, ...] = field(default_factory=tuple)


def parse_cve_ids(raw: str) -> frozenset[str]:
    text = raw.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return frozenset(item.strip() for item in text.split(",") if item.strip())


def sanitize_cell(value: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with an apostrophe."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _selected_artifacts(
    session: Session, criteria: ExportCriteria
) -> list[tuple[ArtifactRow, list[str]]]:
    repositories = glob_matcher(criteria.repositories)
    tag_pattern = glob_matcher(criteria.tags)
    projects = set(criteria.project_ids)
    candidates = [a for a in artifact_rows(session) if a.project_id in projects]
    tags = tags_by_artifact(session, (a.artifact_id for a in candidates))
    selected = []
    for artifact in candidates:
        relative = artifact.repository_name.partition("/")[2]
        if repositories is not None and not repositories.fullmatch(relative):
            continue
        artifact_tags = tags.get(artifact.artifact_id, [])
        if tag_pattern is not None and not any(
            tag_pattern.fullmatch(tag) for tag in artifact_tags
        ):
            continue
        selected.append((artifact, artifact_tags))
    return selected


def export_rows(session: Session, criteria: ExportCriteria) -> list[list[str]]:
    """Return the CSV rows (without header) for `criteria`, ordered by repository."""
    selected = _selected_artifacts(session, criteria)
    reports = latest_reports(session, (a.digest for a, _ in selected))
    findings = report_findings(session, (r.uuid for r in reports.values()))
    wanted_cves = parse_cve_ids(criteria.cve_ids)
    rows: list[list[str]] = []
    for artifact, tags in sorted(selected, key=lambda s: s[0].repository_name):
        report = reports.get(artifact.digest)
        if report is None:
            continue
        for finding in findings.get(report.uuid, []):
            if wanted_cves and wanted_cves.isdisjoint({finding.id, *finding.ids}):
                continue
            rows.append(_row(artifact, tags, finding, report.scanner_name))
    return rows


def _row(
    artifact: ArtifactRow, tags: list[str], finding: Finding, scanner: str
) -> list[str]:
    additional: dict[str, object] = {}
    if finding.cvss is not None:
        additional["cvss"] = {
            "score": finding.cvss.score,
            "vector": finding.cvss.vector,
            "version": finding.cvss.version,
        }
    return [
        artifact.repository_name,
        artifact.digest,
        ",".join(tags),
        finding.id,
        finding.package,
        finding.version,
        finding.fix_version or "",
        finding.severity.label,
        ",".join(finding.cwe_ids),
        json.dumps(additional, sort_keys=True),
        scanner,
    ]


def render_csv(rows: Iterable[list[str]]) -> str:
    """Write the header and `rows` as CSV, every cell sanitized and quoted as needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([sanitize_cell(cell) for cell in row])
    return buffer.getvalue()
