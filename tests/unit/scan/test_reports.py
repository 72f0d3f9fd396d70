"""Report documents: summaries, both vulnerability report types, and reading them back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from seawall.scan.model import Cvss, Finding, Severity
from seawall.scan.reports import (
    GENERIC_REPORT_MIME,
    HARBOR_REPORT_MIME,
    REPORT_MIMES,
    SBOM_REPORT_MIME,
    ReportFormatError,
    ScannerInfo,
    build_vulnerability_report,
    canonical_mime,
    findings_from_report,
    summarize,
)

SCANNER = ScannerInfo(name="Seawall", vendor="Seawall", version="0.1.0")
DIGEST = "sha256:" + "a" * 64
LAYER = "sha256:" + "b" * 64
GENERATED_AT = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def make_finding(
    identifier: str,
    severity: Severity,
    *,
    fix_version: str | None = None,
    cvss: Cvss | None = None,
) -> Finding:
    return Finding(
        id=identifier,
        ids=[identifier, f"GHSA-{identifier[-4:]}"],
        package="lodash",
        version="4.17.15",
        ecosystem="npm",
        purl="pkg:npm/lodash@4.17.15",
        severity=severity,
        fix_version=fix_version,
        summary=f"summary of {identifier}",
        description=f"description of {identifier}",
        links=[f"https://osv.dev/vulnerability/{identifier}"],
        cvss=cvss,
        cwe_ids=["CWE-94"],
        layer_digest=LAYER,
    )


FINDINGS = [
    make_finding(
        "CVE-2021-23337",
        Severity.HIGH,
        fix_version="4.17.21",
        cvss=Cvss(7.2, "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", "3.1"),
    ),
    make_finding("CVE-2020-28500", Severity.MEDIUM, fix_version="4.17.21"),
    make_finding("CVE-2020-8203", Severity.HIGH),
    make_finding("CVE-2000-0001", Severity.UNKNOWN),
]


def build(mime: str, findings: list[Finding]) -> dict[str, Any]:
    return build_vulnerability_report(
        mime,
        findings,
        scanner=SCANNER,
        artifact_digest=DIGEST,
        generated_at=GENERATED_AT,
        repository="library/node-app",
        artifact_mime_type="application/vnd.oci.image.manifest.v1+json",
    )


def test_report_mimes_prefer_generic() -> None:
    assert REPORT_MIMES == (GENERIC_REPORT_MIME, HARBOR_REPORT_MIME)
    assert SBOM_REPORT_MIME not in REPORT_MIMES


def test_summarize_counts_by_label() -> None:
    summary = summarize(FINDINGS)

    assert summary.total == 4
    assert summary.fixable == 2
    assert summary.counts == {"High": 2, "Medium": 1, "Unknown": 1}
    assert summary.highest is Severity.HIGH
    assert summary.severity_label == "High"
    assert summary.to_json() == {
        "total": 4,
        "fixable": 2,
        "summary": {"High": 2, "Medium": 1, "Unknown": 1},
    }


def test_summarize_without_findings() -> None:
    summary = summarize([])

    assert summary.total == 0
    assert summary.fixable == 0
    assert summary.counts == {}
    assert summary.highest is None
    assert summary.severity_label == "None"


def test_summarize_only_unknown() -> None:
    summary = summarize([make_finding("CVE-2000-0002", Severity.UNKNOWN)])

    assert summary.highest is Severity.UNKNOWN
    assert summary.severity_label == "Unknown"


def test_harbor_report_shape() -> None:
    document = build(HARBOR_REPORT_MIME, FINDINGS)

    assert document["generated_at"] == "2024-05-01T10:00:00Z"
    assert document["artifact"] == {
        "repository": "library/node-app",
        "digest": DIGEST,
        "mime_type": "application/vnd.oci.image.manifest.v1+json",
    }
    assert document["scanner"] == {
        "name": "Seawall",
        "vendor": "Seawall",
        "version": "0.1.0",
    }
    assert document["severity"] == "High"
    first = document["vulnerabilities"][0]
    assert first == {
        "id": "CVE-2021-23337",
        "package": "lodash",
        "version": "4.17.15",
        "fix_version": "4.17.21",
        "severity": "High",
        "description": "description of CVE-2021-23337",
        "links": ["https://osv.dev/vulnerability/CVE-2021-23337"],
        "layer": {"digest": LAYER},
    }
    assert document["vulnerabilities"][2]["fix_version"] == ""


def test_generic_report_adds_details() -> None:
    document = build(GENERIC_REPORT_MIME, FINDINGS)

    first = document["vulnerabilities"][0]
    assert first["preferred_cvss"] == {
        "score_v3": 7.2,
        "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
    }
    assert first["cwe_ids"] == ["CWE-94"]
    assert first["vendor_attributes"]["ids"] == ["CVE-2021-23337", "GHSA-3337"]
    assert first["vendor_attributes"]["ecosystem"] == "npm"
    assert first["vendor_attributes"]["purl"] == "pkg:npm/lodash@4.17.15"
    assert document["vulnerabilities"][1]["preferred_cvss"] == {}


def test_report_without_findings() -> None:
    document = build(GENERIC_REPORT_MIME, [])

    assert document["severity"] == "None"
    assert document["vulnerabilities"] == []


def test_build_accepts_mime_spelling() -> None:
    spelled = "Application/vnd.security.vulnerability.report;version=1.1"

    document = build(spelled, FINDINGS[:1])

    assert "preferred_cvss" in document["vulnerabilities"][0]
    assert canonical_mime(spelled) == canonical_mime(GENERIC_REPORT_MIME)


@pytest.mark.parametrize(
    "mime",
    [SBOM_REPORT_MIME, "application/vnd.scanner.adapter.vuln.report.raw", "text/plain"],
)
def test_build_rejects_other_mimes(mime: str) -> None:
    with pytest.raises(ReportFormatError, match="unsupported"):
        build(mime, FINDINGS)


@pytest.mark.parametrize("mime", REPORT_MIMES)
def test_findings_round_trip(mime: str) -> None:
    document = build(mime, FINDINGS)

    findings = findings_from_report(mime, document)

    assert [f.id for f in findings] == [f.id for f in FINDINGS]
    assert [f.severity for f in findings] == [f.severity for f in FINDINGS]
    assert [f.fix_version for f in findings] == ["4.17.21", "4.17.21", None, None]
    assert summarize(findings) == summarize(FINDINGS)
    assert findings[0].layer_digest == LAYER
    assert findings[0].records[0]["source"] == "Seawall"


def test_generic_round_trip_keeps_details() -> None:
    document = build(GENERIC_REPORT_MIME, FINDINGS)

    first = findings_from_report(GENERIC_REPORT_MIME, document)[0]

    assert first.ids == ["CVE-2021-23337", "GHSA-3337"]
    assert first.ecosystem == "npm"
    assert first.purl == "pkg:npm/lodash@4.17.15"
    assert first.cvss == Cvss(
        7.2, "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", "3.1"
    )
    assert first.cwe_ids == ["CWE-94"]
    assert first.description == "description of CVE-2021-23337"


def test_external_report_items() -> None:
    document = {
        "severity": "Critical",
        "vulnerabilities": [
            {"id": "CVE-1", "package": "a", "version": "1", "severity": "Negligible"},
            {"id": "CVE-2", "package": "b", "version": "1", "severity": "moderate"},
            {"id": "CVE-3", "package": "c", "version": "1", "severity": "Extreme"},
            {"id": "CVE-4", "package": "d", "version": "1"},
            {
                "id": "CVE-5",
                "package": "e",
                "preferred_cvss": {
                    "score_v2": 5.0,
                    "vector_v2": "AV:N/AC:L/Au:N/C:N/I:N/A:P",
                },
                "vendor_attributes": [{"key": "k", "value": "v"}],
            },
        ],
    }

    findings = findings_from_report(HARBOR_REPORT_MIME, document)

    assert [f.severity for f in findings] == [
        Severity.NEGLIGIBLE,
        Severity.MEDIUM,
        Severity.CRITICAL,
        Severity.UNKNOWN,
        Severity.UNKNOWN,
    ]
    assert findings[4].cvss == Cvss(5.0, "AV:N/AC:L/Au:N/C:N/I:N/A:P", "2.0")
    assert findings[4].version == ""
    assert findings[4].ids == ["CVE-5"]


def test_report_with_null_list() -> None:
    assert findings_from_report(GENERIC_REPORT_MIME, {"vulnerabilities": None}) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"vulnerabilities": {}}, "not a list"),
        ({"vulnerabilities": ["x"]}, r"vulnerabilities\[0\] is not a JSON object"),
        ({"vulnerabilities": [{"package": "a"}]}, r"vulnerabilities\[0\]\.id"),
        ({"vulnerabilities": [{"id": "CVE-1"}]}, r"vulnerabilities\[0\]\.package"),
        (
            {"vulnerabilities": [{"id": "CVE-1", "package": "a", "version": 3}]},
            r"vulnerabilities\[0\]\.version",
        ),
    ],
)
def test_malformed_reports_raise(document: Any, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message):
        findings_from_report(GENERIC_REPORT_MIME, document)


def test_findings_from_unknown_mime() -> None:
    with pytest.raises(ReportFormatError, match="unsupported"):
        findings_from_report(SBOM_REPORT_MIME, {"vulnerabilities": []})
