"""Merged findings for the kit's images, compared with expected-findings.json."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from seawall.db import Database
from seawall.scan.model import Finding
from seawall.vulndb import match_inventory
from tests.unit.vulndb.conftest import kit_inventory

FindingKey = tuple[str, frozenset[str]]


def findings_for(database: Database, packages: list[dict[str, Any]]) -> list[Finding]:
    with database.session(read_only=True) as session:
        return match_inventory(session, kit_inventory(packages))


def actual_view(findings: list[Finding]) -> dict[FindingKey, tuple[str, str | None]]:
    return {
        (f.package, frozenset(f.ids)): (f.severity.name, f.fix_version)
        for f in findings
    }


def expected_view(
    merged: list[dict[str, Any]],
) -> dict[FindingKey, tuple[str, str | None]]:
    return {
        (m["package"], frozenset(m["ids"])): (m["severity"], m["fixed_in"])
        for m in merged
    }


def per_record_as_merged(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn per-record findings (no record shares an alias) into the merged shape."""
    return [
        {
            "package": f["package"],
            "ids": [f["id"], *f["aliases"]],
            "severity": f["severity"],
            "fixed_in": f["fixed_in"],
        }
        for f in findings
    ]


def arm64_child(expected: dict[str, Any]) -> dict[str, Any]:
    children = expected["multiarch:1"]["children"]
    (child,) = [c for c in children if c["platform"]["architecture"] == "arm64"]
    return dict(child)


def find(findings: list[Finding], package: str, identifier: str) -> Finding:
    matches = [f for f in findings if f.package == package and identifier in f.ids]
    assert len(matches) == 1, f"{identifier} for {package}: {len(matches)} findings"
    return matches[0]


def test_python_app_merged_view(kit_db: Database, expected: dict[str, Any]) -> None:
    image = expected["python-app:1.0"]
    findings = findings_for(kit_db, image["packages"])

    assert actual_view(findings) == expected_view(image["merged_findings"])
    assert len(findings) == 54
    counts = Counter(f.severity.name for f in findings)
    assert counts == {"CRITICAL": 6, "HIGH": 17, "MEDIUM": 18, "LOW": 1, "UNKNOWN": 12}


def test_python_app_counts_match_json(
    kit_db: Database, expected: dict[str, Any]
) -> None:
    image = expected["python-app:1.0"]
    merged_counts = image["counts"]["merged"]
    findings = findings_for(kit_db, image["packages"])

    counts = Counter(f.severity.name for f in findings)
    for severity in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"):
        assert counts[severity] == merged_counts[severity], severity
    assert len(findings) == merged_counts["findings"]


@pytest.mark.parametrize(("key", "count"), [("node-app:1.0", 6), ("java-app:1.0", 3)])
def test_github_only_images(
    kit_db: Database, expected: dict[str, Any], key: str, count: int
) -> None:
    image = expected[key]
    findings = findings_for(kit_db, image["packages"])

    assert len(findings) == count
    assert actual_view(findings) == expected_view(
        per_record_as_merged(image["findings"])
    )


def test_multiarch_arm64_merged_view(
    kit_db: Database, expected: dict[str, Any]
) -> None:
    child = arm64_child(expected)
    findings = findings_for(kit_db, child["packages"])

    assert len(findings) == 8
    assert actual_view(findings) == expected_view(child["merged_findings"])


def test_clean_image_has_no_findings(
    kit_db: Database, expected: dict[str, Any]
) -> None:
    image = expected["clean:1.0"]
    assert image["packages"] == []
    assert findings_for(kit_db, image["packages"]) == []


def test_minimist_old_advisory_not_matched(
    kit_db: Database, expected: dict[str, Any]
) -> None:
    findings = findings_for(kit_db, expected["node-app:1.0"]["packages"])
    identifiers = {i for f in findings for i in f.ids}
    assert "GHSA-vh95-rmgr-6w4m" not in identifiers


def test_urllib3_cve_2021_33503(kit_db: Database, expected: dict[str, Any]) -> None:
    findings = findings_for(kit_db, expected["python-app:1.0"]["packages"])
    finding = find(findings, "urllib3", "CVE-2021-33503")

    assert finding.id == "CVE-2021-33503"
    assert set(finding.ids) == {
        "PYSEC-2021-108",
        "GHSA-q2q7-5pp4-w6pg",
        "CVE-2021-33503",
    }
    assert finding.severity.name == "HIGH"
    assert finding.fix_version == "1.26.5"
    matched = {record["id"]: record["matched"] for record in finding.records}
    assert matched == {"PYSEC-2021-108": True, "GHSA-q2q7-5pp4-w6pg": False}


def test_urllib3_cve_2023_43804(kit_db: Database, expected: dict[str, Any]) -> None:
    findings = findings_for(kit_db, expected["python-app:1.0"]["packages"])
    finding = find(findings, "urllib3", "CVE-2023-43804")

    assert finding.severity.name == "HIGH"
    assert finding.cvss is not None
    assert finding.cvss.score == 8.1
    scores = {record["id"]: record["score"] for record in finding.records}
    assert scores == {"PYSEC-2023-192": 8.1, "GHSA-v845-jxx5-vc9f": 5.9}
    words = {record["id"]: record["severity"] for record in finding.records}
    assert words["GHSA-v845-jxx5-vc9f"] == "MODERATE"


def test_django_cve_2024_45231(kit_db: Database, expected: dict[str, Any]) -> None:
    findings = findings_for(kit_db, expected["python-app:1.0"]["packages"])
    finding = find(findings, "Django", "CVE-2024-45231")

    assert finding.severity.name == "MEDIUM"
    assert finding.cvss is not None
    assert finding.cvss.score == 3.7
    assert finding.fix_version == "4.2.16"
    assert [record["id"] for record in finding.records] == ["GHSA-rrqc-c2jx-6jgv"]


def test_django_cve_2024_27351(kit_db: Database, expected: dict[str, Any]) -> None:
    findings = findings_for(kit_db, expected["python-app:1.0"]["packages"])
    finding = find(findings, "Django", "CVE-2024-27351")

    assert finding.severity.name == "LOW"
    assert finding.cvss is None
    assert finding.fix_version == "3.2.25"


def test_debian_finding_per_binary_package(
    kit_db: Database, expected: dict[str, Any]
) -> None:
    findings = findings_for(kit_db, expected["python-app:1.0"]["packages"])
    dsa = [f for f in findings if "DSA-5514-1" in f.ids]

    assert sorted(f.package for f in dsa) == ["libc-bin", "libc6"]
    for finding in dsa:
        assert finding.id == "CVE-2023-4911"
        assert finding.ecosystem == "Debian:12"
        assert finding.severity.name == "UNKNOWN"
        assert finding.fix_version == "2.36-9+deb12u3"
    unaffected = {"tzdata", "ca-certificates", "zlib1g"}
    assert not unaffected & {f.package for f in findings}


def test_finding_text_and_links(kit_db: Database, expected: dict[str, Any]) -> None:
    findings = findings_for(kit_db, expected["python-app:1.0"]["packages"])
    finding = find(findings, "Django", "CVE-2021-35042")

    assert finding.id == "CVE-2021-35042"
    assert finding.ids[0] == "CVE-2021-35042"
    assert finding.summary
    assert finding.links
    assert len(finding.links) == len(set(finding.links))
    sources = {record["source"].rsplit("/", 1)[-1] for record in finding.records}
    assert sources == {"pypi.zip", "ghsa-pypi.zip"}


def test_original_zips_per_record(
    original_kit_db: Database, expected: dict[str, Any]
) -> None:
    """With no GitHub PyPI records, no two records share an alias: merged equals per record."""
    for key in ("python-app:1.0", "node-app:1.0", "java-app:1.0"):
        image = expected[key]
        findings = findings_for(original_kit_db, image["packages"])
        wanted = expected_view(per_record_as_merged(image["findings"]))
        assert actual_view(findings) == wanted, key
    child = arm64_child(expected)
    findings = findings_for(original_kit_db, child["packages"])
    assert actual_view(findings) == expected_view(
        per_record_as_merged(child["findings"])
    )
    assert len(findings) == 7
