"""The security hub routes, checked against scan reports written into the database.

Images are pushed for real, so artifacts and repositories exist; their scan
reports are then written through the ORM in the stored report format. The
summary covers the whole registry, which other tests also fill, so its
checks compare the figures before and after this file's reports appear.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import Project, ScannerRegistration, ScanReport
from seawall.scan.model import Cvss, Finding, Severity
from tests.api.test_artifacts import new_project, unique
from tests.e2e.protocol_helpers import push_image
from tests.support.seed import create_user
from tests.support.server import RunningRegistry

API = "/api/v2.0"
REPORT_MIME = "application/vnd.security.vulnerability.report; version=1.1"
BUILTIN_URL = "builtin://seawall"


def finding(
    cve: str,
    severity: Severity,
    score: float | None,
    *,
    package: str = "openssl",
    version: str = "1.0.0",
    fix: str | None = "1.0.1",
) -> Finding:
    return Finding(
        id=cve,
        ids=[cve, f"GHSA-{cve[-4:]}"],
        package=package,
        version=version,
        ecosystem="Debian",
        purl=f"pkg:deb/debian/{package}@{version}",
        severity=severity,
        fix_version=fix,
        description=f"{cve} in {package}",
        links=[f"https://osv.dev/vulnerability/{cve}"],
        cvss=Cvss(score, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1")
        if score is not None
        else None,
        cwe_ids=["CWE-79"],
    )


def scanner_uuid(database: Database, url: str = BUILTIN_URL) -> str:
    with database.session(read_only=True) as session:
        return str(
            session.scalars(
                select(ScannerRegistration.uuid).where(ScannerRegistration.url == url)
            ).one()
        )


def extra_scanner(database: Database) -> str:
    """Register a second scanner straight in the database and return its UUID."""
    with database.session() as session:
        row = ScannerRegistration(
            uuid=str(uuid.uuid4()),
            name=unique("other"),
            url=f"http://127.0.0.1:9/{uuid.uuid4().hex}",
        )
        session.add(row)
        return row.uuid


def write_report(
    registry: RunningRegistry,
    digest: str,
    findings: list[Finding],
    *,
    registration_uuid: str | None = None,
    status: str = "Success",
    finished: datetime | None = None,
    scanner_name: str = "Seawall",
) -> None:
    """Store a scan report of `digest` in the format the scan service writes."""
    database = Database(registry.database_url)
    try:
        registration = registration_uuid or scanner_uuid(database)
        counts: dict[str, int] = {}
        for item in findings:
            counts[item.severity.label] = counts.get(item.severity.label, 0) + 1
        end = finished or datetime.now(UTC)
        with database.session() as session:
            session.add(
                ScanReport(
                    uuid=str(uuid.uuid4()),
                    digest=digest,
                    registration_uuid=registration,
                    mime_type=REPORT_MIME,
                    status=status,
                    start_time=end - timedelta(seconds=5),
                    end_time=end,
                    severity=max(
                        (f.severity for f in findings), default=Severity.UNKNOWN
                    ).label,
                    total=len(findings),
                    fixable=sum(1 for f in findings if f.fix_version),
                    summary=json.dumps(counts),
                    report=json.dumps(
                        {
                            "findings": [f.to_json() for f in findings],
                            "generated_at": end.isoformat(),
                        }
                    ),
                    scanner_name=scanner_name,
                )
            )
    finally:
        database.dispose()


def project_id_of(registry: RunningRegistry, name: str) -> int:
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            return int(
                session.scalars(select(Project.id).where(Project.name == name)).one()
            )
    finally:
        database.dispose()


def summary(client: httpx.Client, **params: str) -> dict[str, Any]:
    response = client.get(f"{API}/security/summary", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def vulnerabilities(client: httpx.Client, q: str, **params: str) -> httpx.Response:
    response = client.get(f"{API}/security/vul", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response


def test_summary_counts(registry: RunningRegistry, admin_client: httpx.Client) -> None:
    project = new_project(registry)
    scanned = push_image(admin_client, f"{project}/app", "1.0").digest
    push_image(admin_client, f"{project}/app", "2.0")  # stays unscanned
    before = summary(admin_client)

    findings = [
        finding(unique("CVE-2099"), Severity.CRITICAL, 9.8),
        finding(unique("CVE-2099"), Severity.HIGH, 7.5, fix=None),
        finding(unique("CVE-2099"), Severity.LOW, 3.1),
        finding(unique("CVE-2099"), Severity.NEGLIGIBLE, None),
        finding(unique("CVE-2099"), Severity.UNKNOWN, None),
    ]
    write_report(registry, scanned, findings)
    after = summary(admin_client)

    delta = {
        key: after[key] - before[key]
        for key in before
        if key.endswith(("_cnt", "_vuls", "_artifact"))
    }
    assert delta == {
        "critical_cnt": 1,
        "high_cnt": 1,
        "medium_cnt": 0,
        "low_cnt": 1,
        "none_cnt": 1,
        "unknown_cnt": 1,
        "total_vuls": 5,
        "scanned_cnt": 1,
        "total_artifact": 0,
        "fixable_cnt": 4,
    }
    assert after["total_artifact"] >= 2
    assert "dangerous_cves" not in after
    assert "dangerous_artifacts" not in after


def test_summary_newest_success(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    digest = push_image(admin_client, f"{project}/app", "1.0").digest
    database = Database(registry.database_url)
    try:
        other = extra_scanner(database)
    finally:
        database.dispose()
    old = datetime.now(UTC) - timedelta(days=1)
    write_report(
        registry,
        digest,
        [finding(unique("CVE-2098"), Severity.CRITICAL, 9.0)] * 3,
        registration_uuid=other,
        finished=old,
    )
    before = summary(admin_client)
    # A newer successful report replaces the older one in every figure.
    write_report(registry, digest, [finding(unique("CVE-2098"), Severity.MEDIUM, 5.0)])
    after = summary(admin_client)
    assert after["critical_cnt"] - before["critical_cnt"] == -3
    assert after["medium_cnt"] - before["medium_cnt"] == 1
    assert after["scanned_cnt"] == before["scanned_cnt"]


def test_summary_ignores_failed_scan(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    digest = push_image(admin_client, f"{project}/app", "1.0").digest
    before = summary(admin_client)
    write_report(
        registry,
        digest,
        [finding(unique("CVE-2097"), Severity.HIGH, 8.0)],
        status="Error",
    )
    after = summary(admin_client)
    assert after["scanned_cnt"] == before["scanned_cnt"]
    assert after["high_cnt"] == before["high_cnt"]


def test_summary_dangerous_lists(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    digest = push_image(admin_client, f"{project}/team/app", "1.0").digest
    worst = unique("CVE-2096")
    findings = [finding(worst, Severity.CRITICAL, 10.0, package="glibc")]
    findings += [
        finding(unique("CVE-2096"), Severity.CRITICAL, 9.1) for _ in range(400)
    ]
    write_report(registry, digest, findings)

    body = summary(
        admin_client, with_dangerous_cve="true", with_dangerous_artifact="true"
    )
    cves = body["dangerous_cves"]
    assert len(cves) == 5
    assert cves[0] == {
        "cve_id": worst,
        "severity": "Critical",
        "cvss_score_v3": 10.0,
        "desc": f"{worst} in glibc",
        "package": "glibc",
        "version": "1.0.0",
    }
    artifacts = body["dangerous_artifacts"]
    assert artifacts[0] == {
        "project_id": project_id_of(registry, project),
        "repository_name": f"{project}/team/app",
        "digest": digest,
        "critical_cnt": 401,
        "high_cnt": 0,
        "medium_cnt": 0,
    }
    assert len(artifacts) <= 5


def test_vulnerability_list_filters(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    project_id = project_id_of(registry, project)
    first = push_image(admin_client, f"{project}/web", "v1").digest
    second = push_image(admin_client, f"{project}/db", "v2").digest
    shared = unique("CVE-2095")
    write_report(
        registry,
        first,
        [
            finding(shared, Severity.HIGH, 7.2, package="curl"),
            finding(unique("CVE-2095"), Severity.LOW, 2.0, package="zlib"),
        ],
    )
    write_report(
        registry, second, [finding(shared, Severity.HIGH, 7.2, package="curl")]
    )

    everything = vulnerabilities(admin_client, f"project_id={project_id}")
    assert everything.headers["X-Total-Count"] == "3"
    items = everything.json()
    assert [item["severity"] for item in items] == ["High", "High", "Low"]
    assert "tags" not in items[0]
    assert items[0]["links"] == [f"https://osv.dev/vulnerability/{shared}"]
    assert items[0]["fixed_version"] == "1.0.1"

    by_cve = vulnerabilities(admin_client, f"cve_id={shared}")
    assert {item["digest"] for item in by_cve.json()} == {first, second}

    by_score = vulnerabilities(
        admin_client, f"project_id={project_id},cvss_score_v3=[7~10]"
    )
    assert by_score.headers["X-Total-Count"] == "2"

    by_repository = vulnerabilities(
        admin_client, f"repository_name=~{project}/we", with_tag="true"
    )
    assert [item["package"] for item in by_repository.json()] == ["curl", "zlib"]
    assert by_repository.json()[0]["tags"] == ["v1"]

    by_tag = vulnerabilities(admin_client, f"project_id={project_id},tag=v2")
    assert [item["digest"] for item in by_tag.json()] == [second]

    by_package = vulnerabilities(
        admin_client, f"project_id={project_id},package=zlib,severity=low"
    )
    assert by_package.headers["X-Total-Count"] == "1"

    paged = vulnerabilities(admin_client, f"project_id={project_id}", page_size="2")
    assert len(paged.json()) == 2
    assert 'rel="next"' in paged.headers["Link"]


def test_vulnerability_list_bad_query(admin_client: httpx.Client) -> None:
    for q in ("owner=admin", "cvss_score_v3=[high~10]", "project_id=~1"):
        response = admin_client.get(f"{API}/security/vul", params={"q": q})
        assert response.status_code == 400, q
        assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_security_hub_needs_admin(
    registry: RunningRegistry, anonymous_client: httpx.Client
) -> None:
    assert anonymous_client.get(f"{API}/security/summary").status_code == 401
    assert anonymous_client.get(f"{API}/security/vul").status_code == 401
    username, password = unique("plain"), "Plain-Pass-1"
    create_user(registry, username, password)
    with httpx.Client(
        base_url=registry.url, auth=(username, password), timeout=60
    ) as client:
        assert client.get(f"{API}/security/summary").status_code == 403
        assert client.get(f"{API}/security/vul").status_code == 403
