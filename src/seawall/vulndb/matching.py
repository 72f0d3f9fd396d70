"""Matching an image's inventory against the advisory database, with merged findings.

For each installed package, every non-withdrawn record that names it is
put in one group with every record sharing its id or an alias, transitively.
A group becomes one `Finding` when at least one of its records matches the
installed version. A record whose own ranges leave the version out still
adds its ids, severity and fixes to the group.

Distribution advisories name source packages, so Debian, Ubuntu and Alpine
packages are looked up by `source_name` (and compared by `source_version`
when the inventory has one). One advisory thus yields one finding per
installed binary package of that source.

`related` ids (a Debian DSA lists the CVEs it fixes there) are reported in
`Finding.ids` so that an allowlist entry naming the CVE applies, but they do
not join groups, because the OSV schema defines them as different
vulnerabilities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

from seawall.scan.model import Cvss, Finding, Inventory, Package, Severity
from seawall.vulndb.osv import (
    AffectedPackage,
    InvalidRecord,
    OsvRecord,
    normalise_name,
    parse_document,
)
from seawall.vulndb.ranges import entry_affects, fixes_above
from seawall.vulndb.severity import record_severity
from seawall.vulndb.store import StoredAdvisory, advisories_for

logger = structlog.get_logger(__name__)

MAX_LINKS = 20
_CVE = re.compile(r"CVE-(\d{4})-(\d+)")


@dataclass(slots=True)
class _Candidate:
    """One record evaluated for one installed package."""

    record: OsvRecord
    source: str
    entries: list[AffectedPackage]
    matched: bool


def lookup_keys(package: Package) -> list[tuple[str, str]]:
    """Return the (ecosystem, name) keys advisories for `package` are stored under."""
    name = package.source_name or package.name
    keys = []
    for ecosystem in (package.ecosystem_release, package.ecosystem):
        if ecosystem:
            key = (ecosystem, normalise_name(ecosystem, name))
            if key not in keys:
                keys.append(key)
    return keys


def match_inventory(session: Session, inventory: Inventory) -> list[Finding]:
    """Return the merged findings of every package in `inventory`, sorted by package."""
    keys = {key for package in inventory.packages for key in lookup_keys(package)}
    stored = advisories_for(session, keys)
    parsed: dict[str, OsvRecord] = {}
    findings: list[Finding] = []
    for package in inventory.packages:
        candidates = _candidates(package, stored, parsed)
        findings.extend(_findings(package, candidates))
    findings.sort(key=lambda f: (f.package, f.version, f.purl, -f.severity, f.id))
    return findings


def _candidates(
    package: Package,
    stored: dict[tuple[str, str], list[StoredAdvisory]],
    parsed: dict[str, OsvRecord],
) -> list[_Candidate]:
    keys = lookup_keys(package)
    installed = package.source_version if package.source_name else None
    installed = installed or package.version
    sources: dict[str, str] = {}
    for key in keys:
        for advisory in stored.get(key, []):
            sources.setdefault(advisory.id, advisory.source)
            if advisory.id not in parsed:
                record = _stored_record(advisory)
                if record is None:
                    continue
                parsed[advisory.id] = record
    candidates = []
    for advisory_id in sorted(sources):
        if advisory_id not in parsed:
            continue
        record = parsed[advisory_id]
        entries = [e for e in record.affected if (e.ecosystem, e.name) in keys]
        matched = any(entry_affects(entry, installed) for entry in entries)
        candidates.append(_Candidate(record, sources[advisory_id], entries, matched))
    return candidates


def _stored_record(advisory: StoredAdvisory) -> OsvRecord | None:
    # Stored documents passed validation when imported. A row that fails a
    # stricter check of a later release is skipped rather than stopping a scan.
    try:
        return parse_document(json.loads(advisory.document))
    except (InvalidRecord, json.JSONDecodeError) as exc:
        logger.warning(
            "stored advisory not readable", advisory_id=advisory.id, error=str(exc)
        )
        return None


def _findings(package: Package, candidates: list[_Candidate]) -> list[Finding]:
    return [
        _merge(package, group)
        for group in _groups(candidates)
        if any(candidate.matched for candidate in group)
    ]


def _groups(candidates: list[_Candidate]) -> list[list[_Candidate]]:
    """Split candidates into groups linked by shared ids or aliases (union-find)."""
    parent = list(range(len(candidates)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    owner: dict[str, int] = {}
    for index, candidate in enumerate(candidates):
        for identifier in (candidate.record.id, *candidate.record.aliases):
            other = owner.setdefault(identifier, index)
            parent[root(index)] = root(other)
    groups: dict[int, list[_Candidate]] = {}
    for index, candidate in enumerate(candidates):
        groups.setdefault(root(index), []).append(candidate)
    return list(groups.values())


def preferred_id(identifiers: set[str], record_ids: list[str]) -> str:
    """Choose the id a finding is shown by: its CVE, the lowest CVE, or the first record id."""
    cves = sorted(
        (int(m[1]), int(m[2]), identifier)
        for identifier in identifiers
        if (m := _CVE.fullmatch(identifier))
    )
    if cves:
        return cves[0][2]
    return min(record_ids)


def _merge(package: Package, group: list[_Candidate]) -> Finding:
    installed = package.source_version if package.source_name else None
    installed = installed or package.version
    identifiers = {
        identifier
        for candidate in group
        for identifier in (
            candidate.record.id,
            *candidate.record.aliases,
            *candidate.record.related,
        )
    }
    chosen = preferred_id(identifiers, [c.record.id for c in group])
    ordered = sorted(group, key=lambda c: (c.record.id != chosen, c.record.id))

    severity = Severity.UNKNOWN
    best: Cvss | None = None
    records = []
    for candidate in ordered:
        vectors = [v for entry in candidate.entries for v in entry.cvss_vectors]
        rated = record_severity(candidate.record, vectors)
        severity = max(severity, rated.severity)
        if rated.cvss and (best is None or rated.cvss.score > best.score):
            best = rated.cvss
        records.append(
            {
                "id": candidate.record.id,
                "source": candidate.source,
                "severity": rated.word,
                "score": rated.cvss.score if rated.cvss else None,
                "matched": candidate.matched,
            }
        )

    return Finding(
        id=chosen,
        ids=[chosen, *sorted(identifiers - {chosen})],
        package=package.name,
        version=package.version,
        ecosystem=package.ecosystem_release or package.ecosystem,
        purl=package.purl,
        severity=severity,
        fix_version=_lowest_fix(group, installed),
        summary=_first_text(c.record.summary for c in ordered),
        description=_first_text(c.record.details for c in ordered),
        links=_links(ordered),
        cvss=best,
        cwe_ids=sorted({cwe for c in group for cwe in c.record.cwe_ids}),
        records=records,
        layer_digest=package.layer_digest,
    )


def _lowest_fix(group: list[_Candidate], installed: str) -> str | None:
    fixes = [
        fix
        for candidate in group
        for entry in candidate.entries
        for fix in fixes_above(entry, installed)
    ]
    if not fixes:
        return None
    lowest = fixes[0]
    for fix in fixes[1:]:
        try:
            if fix[0] < lowest[0]:
                lowest = fix
        except Exception:  # noqa: S112 - univers can raise on mixed parts
            continue
    return lowest[1]


def _first_text(texts: Iterable[str]) -> str:
    return next((text for text in texts if text), "")


def _links(ordered: list[_Candidate]) -> list[str]:
    links: list[str] = []
    for candidate in ordered:
        for url in candidate.record.references:
            if url not in links:
                links.append(url)
            if len(links) >= MAX_LINKS:
                return links
    return links
