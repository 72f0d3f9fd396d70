"""CVE export to CSV: the routes on a live registry, and the CSV writer itself."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from seawall.scan import cve_export
from seawall.scan.model import Severity
from tests.api.test_artifacts import member_client, new_project, unique
from tests.api.test_security_hub import finding, project_id_of, write_report
from tests.e2e.protocol_helpers import push_image
from tests.support.server import RunningRegistry

API = "/api/v2.0"
DATA_TYPE = {
    "X-Scan-Data-Type": "application/vnd.security.vulnerability.report; version=1.1"
}
DEVELOPER = 2
GUEST = 3


def start_export(
    client: httpx.Client, project_id: int, **criteria: Any
) -> httpx.Response:
    body = {"job_name": "nightly", "projects": [project_id], **criteria}
    return client.post(f"{API}/export/cve", json=body, headers=DATA_TYPE)


def export_id(client: httpx.Client, project_id: int, **criteria: Any) -> int:
    response = start_export(client, project_id, **criteria)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def download(client: httpx.Client, identifier: int) -> list[dict[str, str]]:
    response = client.get(f"{API}/export/cve/download/{identifier}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture
def exported_project(
    registry: RunningRegistry, admin_client: httpx.Client
) -> tuple[str, int, dict[str, str]]:
    """A project with two scanned repositories, and the CVE ids of its findings."""
    project = new_project(registry)
    web = push_image(admin_client, f"{project}/team/web", "v1.0").digest
    worker = push_image(admin_client, f"{project}/worker", "stable").digest
    cves = {
        "web": unique("CVE-2094"),
        "formula": unique("CVE-2094"),
        "worker": unique("CVE-2094"),
    }
    write_report(
        registry,
        web,
        [
            finding(cves["web"], Severity.HIGH, 8.1, package="curl"),
            finding(
                cves["formula"],
                Severity.MEDIUM,
                None,
                package="@evil/pkg",
                version="=cmd|'/c calc'!A1",
                fix="+1+1",
            ),
        ],
    )
    write_report(registry, worker, [finding(cves["worker"], Severity.CRITICAL, 9.9)])
    return project, project_id_of(registry, project), cves


def test_export_csv_contents(
    admin_client: httpx.Client, exported_project: tuple[str, int, dict[str, str]]
) -> None:
    project, project_id, cves = exported_project
    identifier = export_id(admin_client, project_id)

    execution = admin_client.get(f"{API}/export/cve/execution/{identifier}")
    assert execution.status_code == 200, execution.text
    assert execution.json()["status"] == "Success"
    assert execution.json()["file_present"] is True
    assert execution.json()["user_name"] == "admin"

    response = admin_client.get(f"{API}/export/cve/download/{identifier}")
    header = response.text.splitlines()[0]
    assert header == (
        "Repository,Artifact Digest,Tags,CVE,Package,Current Version,"
        "Fixed in version,Severity,CWE Ids,Additional Data,Scanner"
    )
    rows = download(admin_client, identifier)
    assert {row["CVE"] for row in rows} == set(cves.values())
    web = next(row for row in rows if row["CVE"] == cves["web"])
    assert web["Repository"] == f"{project}/team/web"
    assert web["Tags"] == "v1.0"
    assert web["Severity"] == "High"
    assert web["Fixed in version"] == "1.0.1"
    assert web["CWE Ids"] == "CWE-79"
    assert '"score": 8.1' in web["Additional Data"]
    assert web["Scanner"] == "Seawall"


def test_export_blocks_formulas(
    admin_client: httpx.Client, exported_project: tuple[str, int, dict[str, str]]
) -> None:
    _, project_id, cves = exported_project
    rows = download(admin_client, export_id(admin_client, project_id))
    formula = next(row for row in rows if row["CVE"] == cves["formula"])
    assert formula["Package"] == "'@evil/pkg"
    assert formula["Current Version"] == "'=cmd|'/c calc'!A1"
    assert formula["Fixed in version"] == "'+1+1"


def test_export_filters(
    admin_client: httpx.Client, exported_project: tuple[str, int, dict[str, str]]
) -> None:
    _, project_id, cves = exported_project
    by_repository = download(
        admin_client, export_id(admin_client, project_id, repositories="team/**")
    )
    assert {row["CVE"] for row in by_repository} == {cves["web"], cves["formula"]}

    by_tag = download(
        admin_client, export_id(admin_client, project_id, tags="{stable,x}")
    )
    assert [row["CVE"] for row in by_tag] == [cves["worker"]]

    by_cve = download(
        admin_client,
        export_id(admin_client, project_id, cveIds=f"{cves['web']},{cves['worker']}"),
    )
    assert {row["CVE"] for row in by_cve} == {cves["web"], cves["worker"]}


def test_export_lists_own_executions(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    project = new_project(registry)
    project_id = project_id_of(registry, project)
    with member_client(registry, project, DEVELOPER) as developer:
        identifier = export_id(developer, project_id)
        listed = developer.get(f"{API}/export/cve/executions")
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [identifier]
    admin_ids = [
        item["id"]
        for item in admin_client.get(f"{API}/export/cve/executions").json()["items"]
    ]
    assert identifier not in admin_ids
    # Only the creator may read or download an export, administrators included.
    other = admin_client.get(f"{API}/export/cve/download/{identifier}")
    assert other.status_code == 403
    assert (
        admin_client.get(f"{API}/export/cve/execution/{identifier}").status_code == 403
    )


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"X-Scan-Data-Type": "text/plain"}, {}, "Unsupported MIME type : text/plain"),
        ({}, {}, "Unsupported MIME type"),
        (DATA_TYPE, {"projects": []}, "projects must list one project id"),
        (DATA_TYPE, {"labels": [1]}, "label filters are not supported"),
        (DATA_TYPE, {"tags": "v1, v2"}, "please remove additional spaces"),
    ],
)
def test_export_invalid_request(
    registry: RunningRegistry,
    admin_client: httpx.Client,
    headers: dict[str, str],
    body: dict[str, Any],
    expected: str,
) -> None:
    project_id = project_id_of(registry, new_project(registry))
    request = {"projects": [project_id], **body}
    response = admin_client.post(f"{API}/export/cve", json=request, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert expected in response.json()["errors"][0]["message"]


def test_export_permissions(
    registry: RunningRegistry,
    anonymous_client: httpx.Client,
    admin_client: httpx.Client,
) -> None:
    project = new_project(registry)
    project_id = project_id_of(registry, project)
    assert start_export(anonymous_client, project_id).status_code == 401
    with member_client(registry, project, GUEST) as guest:
        assert start_export(guest, project_id).status_code == 403
    other = new_project(registry)
    with member_client(registry, other, DEVELOPER) as outsider:
        assert start_export(outsider, project_id).status_code == 403
        assert start_export(outsider, 2**31 - 2).status_code == 403
    assert start_export(admin_client, 2**31 - 2).status_code == 404
    assert admin_client.get(f"{API}/export/cve/download/2147483646").status_code == 404


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=cmd|'/c calc'!A1", "'=cmd|'/c calc'!A1"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@evil/pkg", "'@evil/pkg"),
        ("\tx", "'\tx"),
        ("libssl1.1", "libssl1.1"),
        ("CVE-2025-0001", "CVE-2025-0001"),
        ("", ""),
    ],
)
def test_sanitize_cell(value: str, expected: str) -> None:
    assert cve_export.sanitize_cell(value) == expected


def test_render_csv_quotes_cells() -> None:
    document = cve_export.render_csv([["a,b", 'say "hi"', "line\nbreak"] + [""] * 8])
    rows = list(csv.reader(io.StringIO(document)))
    assert rows[0][0] == "Repository"
    assert rows[1][:3] == ["a,b", 'say "hi"', "line\nbreak"]


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("team/**", "team/a/b", True),
        ("team/*", "team/a/b", False),
        ("team/*", "team/a", True),
        ("{web,db}", "db", True),
        ("{web,db}", "cache", False),
        ("app?", "app1", True),
        ("v1.*", "v1x0", False),
    ],
)
def test_glob_matcher(pattern: str, name: str, matches: bool) -> None:
    compiled = cve_export.glob_matcher(pattern)
    assert compiled is not None
    assert bool(compiled.fullmatch(name)) is matches


def test_parse_cve_ids() -> None:
    assert cve_export.parse_cve_ids("{CVE-1,CVE-2}") == frozenset({"CVE-1", "CVE-2"})
    assert cve_export.parse_cve_ids("") == frozenset()
