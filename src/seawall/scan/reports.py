"""Vulnerability report documents in the shapes of Harbor's scanner adapter API.

Two report media types carry findings: Harbor's native report
(`HARBOR_REPORT_MIME`) and the generic vulnerability report
(`GENERIC_REPORT_MIME`), which adds CVSS details, CWE ids and vendor
attributes to each item. `build_vulnerability_report` writes either one from
Seawall's findings, `findings_from_report` reads either one back, for
example from an external adapter, and `summarize` computes the counts that
Harbor's `VulnerabilitySummary` and overall severity show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seawall.scan.model import Cvss, Finding, Severity

HARBOR_REPORT_MIME = (
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)
GENERIC_REPORT_MIME = "application/vnd.security.vulnerability.report; version=1.1"
SBOM_REPORT_MIME = "application/vnd.security.sbom.report+json; version=1.0"
# Harbor requests the generic type first when an adapter produces both.
REPORT_MIMES = (GENERIC_REPORT_MIME, HARBOR_REPORT_MIME)

# Harbor's word for the overall severity of an artifact without findings.
NO_SEVERITY = "None"


class ReportFormatError(ValueError):
    """A report document or media type that this module cannot read or write."""


def canonical_mime(value: str) -> str:
    """Normalize a media type for comparison: lower case, no blanks around `;` and `=`."""
    parts = [part.strip() for part in value.split(";")]
    main = parts[0].lower()
    parameters = []
    for parameter in parts[1:]:
        if not parameter:
            continue
        key, _, parameter_value = parameter.partition("=")
        parameters.append(f"{key.strip().lower()}={parameter_value.strip()}")
    return "; ".join([main, *parameters])


def _supported_mime(mime_type: str) -> str:
    wanted = canonical_mime(mime_type)
    for known in REPORT_MIMES:
        if canonical_mime(known) == wanted:
            return known
    raise ReportFormatError(
        f"unsupported vulnerability report media type {mime_type!r}; "
        f"expected one of {', '.join(REPORT_MIMES)}"
    )


@dataclass(frozen=True, slots=True)
class ScannerInfo:
    """The scanner that produced a report, as the adapter API names it."""

    name: str
    vendor: str
    version: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "vendor": self.vendor, "version": self.version}


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """Totals of one report, as Harbor's `VulnerabilitySummary` counts them."""

    total: int
    fixable: int  # findings with a fix version
    counts: dict[str, int]  # Harbor severity label to count, labels with findings only
    highest: Severity | None  # None when there are no findings

    @property
    def severity_label(self) -> str:
        """The overall severity label, `"None"` for a report without findings."""
        return NO_SEVERITY if self.highest is None else self.highest.label

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "fixable": self.fixable, "summary": self.counts}


def summarize(findings: Iterable[Finding]) -> ReportSummary:
    """Count findings by severity and find the highest one."""
    total = 0
    fixable = 0
    counts: dict[str, int] = {}
    highest: Severity | None = None
    for finding in findings:
        total += 1
        if finding.fix_version:
            fixable += 1
        label = finding.severity.label
        counts[label] = counts.get(label, 0) + 1
        if highest is None or finding.severity > highest:
            highest = finding.severity
    return ReportSummary(total=total, fixable=fixable, counts=counts, highest=highest)


def build_vulnerability_report(
    mime_type: str,
    findings: Iterable[Finding],
    *,
    scanner: ScannerInfo,
    artifact_digest: str,
    generated_at: datetime,
    repository: str = "",
    artifact_mime_type: str = "",
) -> dict[str, Any]:
    """Write findings as a report document of `mime_type`.

    Raises `ReportFormatError` when `mime_type` is not one of `REPORT_MIMES`.
    """
    generic = _supported_mime(mime_type) == GENERIC_REPORT_MIME
    findings = list(findings)
    artifact: dict[str, str] = {"digest": artifact_digest}
    if repository:
        artifact["repository"] = repository
    if artifact_mime_type:
        artifact["mime_type"] = artifact_mime_type
    return {
        "generated_at": generated_at.isoformat().replace("+00:00", "Z"),
        "artifact": artifact,
        "scanner": scanner.to_json(),
        "severity": summarize(findings).severity_label,
        "vulnerabilities": [_item(finding, generic=generic) for finding in findings],
    }


def _item(finding: Finding, *, generic: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": finding.id,
        "package": finding.package,
        "version": finding.version,
        "fix_version": finding.fix_version or "",
        "severity": finding.severity.label,
        "description": finding.description or finding.summary,
        "links": list(finding.links),
    }
    if finding.layer_digest:
        item["layer"] = {"digest": finding.layer_digest}
    if generic:
        item["preferred_cvss"] = _cvss_details(finding.cvss)
        item["cwe_ids"] = list(finding.cwe_ids)
        item["vendor_attributes"] = {
            "ids": list(finding.ids),
            "ecosystem": finding.ecosystem,
            "purl": finding.purl,
            "summary": finding.summary,
        }
    return item


def _cvss_details(cvss: Cvss | None) -> dict[str, Any]:
    if cvss is None:
        return {}
    if cvss.version.startswith("2"):
        return {"score_v2": cvss.score, "vector_v2": cvss.vector}
    return {"score_v3": cvss.score, "vector_v3": cvss.vector}


def findings_from_report(mime_type: str, document: Any) -> list[Finding]:
    """Read the findings of a report document of `mime_type`.

    Items may carry fields of either report type. A severity word that is
    not on Harbor's scale counts as Critical, as Harbor counts it, so an
    unreadable word never lets an image through a severity gate. Raises
    `ReportFormatError` for a document that is not a report.
    """
    _supported_mime(mime_type)
    if not isinstance(document, Mapping):
        raise ReportFormatError("report is not a JSON object")
    items = document.get("vulnerabilities")
    if items is None:
        return []
    if not isinstance(items, list):
        raise ReportFormatError("report field vulnerabilities is not a list")
    source = _scanner_name(document.get("scanner"))
    return [
        _finding(item, f"vulnerabilities[{index}]", source)
        for index, item in enumerate(items)
    ]


def _scanner_name(scanner: Any) -> str:
    if isinstance(scanner, Mapping) and isinstance(scanner.get("name"), str):
        return str(scanner["name"])
    return ""


def _text(item: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ReportFormatError(f"{where}.{key} is missing or not a string")
    return value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, str) and entry]


def _severity(word: Any) -> Severity:
    if not isinstance(word, str) or not word.strip():
        return Severity.UNKNOWN
    if word.strip().title() in {"Unknown", NO_SEVERITY}:
        return Severity.UNKNOWN
    severity = Severity.parse(word)
    return Severity.CRITICAL if severity is Severity.UNKNOWN else severity


def _finding(item: Any, where: str, source: str) -> Finding:
    if not isinstance(item, Mapping):
        raise ReportFormatError(f"{where} is not a JSON object")
    identifier = _text(item, "id", where, required=True)
    vendor = item.get("vendor_attributes")
    vendor = vendor if isinstance(vendor, Mapping) else {}
    ids = [identifier, *(i for i in _strings(vendor.get("ids")) if i != identifier)]
    severity = _severity(item.get("severity"))
    cvss = _cvss_from(item)
    layer = item.get("layer")
    return Finding(
        id=identifier,
        ids=ids,
        package=_text(item, "package", where, required=True),
        version=_text(item, "version", where, required=False),
        ecosystem=_vendor_text(vendor, "ecosystem"),
        purl=_vendor_text(vendor, "purl"),
        severity=severity,
        fix_version=_text(item, "fix_version", where, required=False) or None,
        summary=_vendor_text(vendor, "summary"),
        description=_text(item, "description", where, required=False),
        links=_strings(item.get("links")),
        cvss=cvss,
        cwe_ids=_strings(item.get("cwe_ids")),
        records=[
            {
                "id": identifier,
                "source": source,
                "severity": severity.name,
                "score": cvss.score if cvss else None,
            }
        ],
        layer_digest=_layer_digest(layer),
    )


def _vendor_text(vendor: Mapping[str, Any], key: str) -> str:
    value = vendor.get(key)
    return value if isinstance(value, str) else ""


def _layer_digest(layer: Any) -> str:
    if isinstance(layer, Mapping) and isinstance(layer.get("digest"), str):
        return str(layer["digest"])
    return ""


def _cvss_from(item: Mapping[str, Any]) -> Cvss | None:
    details = item.get("preferred_cvss")
    if not isinstance(details, Mapping):
        return None
    for score_key, vector_key in (("score_v3", "vector_v3"), ("score_v2", "vector_v2")):
        score = details.get(score_key)
        vector = details.get(vector_key)
        if isinstance(score, int | float) and not isinstance(score, bool) and score > 0:
            vector_text = vector if isinstance(vector, str) else ""
            return Cvss(
                float(score), vector_text, _cvss_version(vector_text, score_key)
            )
    return None


def _cvss_version(vector: str, score_key: str) -> str:
    if vector.startswith("CVSS:"):
        return vector.split("/", 1)[0].removeprefix("CVSS:")
    return "2.0" if score_key == "score_v2" else "3.0"
