"""Scan routes of an artifact on a live registry: scan, stop, log and reports.

The module runs one registry of its own with the kit's advisories
imported, pushes the kit's images with skopeo and compares what the
built-in scanner reports with the kit's `expected-findings.json`. Scans
held in Pending or Running are stored straight in the database, so the
conflict and stop cases do not race a real scan thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from seawall.db import Database
from seawall.db.models import ScannerRegistration
from seawall.registry.cache import MetadataEpoch
from tests.e2e.protocol_helpers import push_image
from tests.support.scanning import (
    ADMIN,
    ADVISORY_ZIPS,
    GENERIC_REPORT,
    HARBOR_REPORT,
    admin_api,
    artifact_path,
    create_project,
    expected_findings,
    push,
    scan_and_wait,
    scanning_registry,
    wait_for_scan,
    write_active_report,
)
from tests.support.seed import add_member, create_user
from tests.support.server import RunningRegistry

PROJECT = "apps"
INDEX_DIGEST = "sha256:ca6b557dc28fa39a232d6eaaa9f1ad97ab133774fa3ace59afa2b7cb1e16b3cb"
AMD64_DIGEST = "sha256:3836c461e97d16d443302288015ec7849070c91bf2c32c00a3cb3dad79840657"
ARM64_DIGEST = "sha256:1f9ea65d064449a2f34f0dda52bf6efa5f72eb9467650fdb5cd7d58911b02568"
PASSWORD = "Member-Pass-1"

# Harbor's project role ids.
DEVELOPER = 2
GUEST = 3
MAINTAINER = 4
LIMITED_GUEST = 5


@pytest.fixture(scope="module")
def scan_registry(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[RunningRegistry]:
    zips = (*ADVISORY_ZIPS, "npm.zip")
    with scanning_registry(tmp_path_factory, testdata, "scans", zips) as running:
        yield running


@pytest.fixture(scope="module")
def module_api(scan_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with admin_api(scan_registry) as client:
        yield client


@pytest.fixture
def api(module_api: httpx.Client) -> httpx.Client:
    return module_api


@pytest.fixture(scope="module")
def expected(testdata: Path) -> dict[str, Any]:
    return expected_findings(testdata)


@pytest.fixture(scope="module")
def python_app(
    scan_registry: RunningRegistry, module_api: httpx.Client, testdata: Path
) -> dict[str, Any]:
    """The scan overview of python-app:1.0, pushed to `apps/python-app:1.0`."""
    create_project(module_api, PROJECT)
    push(scan_registry, testdata, "python-app", "1.0", f"{PROJECT}/python-app:1.0")
    return scan_and_wait(module_api, PROJECT, "python-app", "1.0")


@pytest.fixture(scope="module")
def multiarch(
    scan_registry: RunningRegistry, module_api: httpx.Client, testdata: Path
) -> dict[str, Any]:
    """The scan overview of the kit's index, pushed to `fleet/multi:1`."""
    create_project(module_api, "fleet")
    push(scan_registry, testdata, "multiarch", "1", "fleet/multi:1")
    return scan_and_wait(module_api, "fleet", "multi", "1")


@pytest.fixture(scope="module")
def java_app(
    scan_registry: RunningRegistry, module_api: httpx.Client, testdata: Path
) -> str:
    """The digest of java-app:1.0 in `held/java:1.0`, pushed and never scanned."""
    create_project(module_api, "held")
    push(scan_registry, testdata, "java-app", "1.0", "held/java:1.0")
    response = module_api.get(artifact_path("held", "java", "1.0"))
    assert response.status_code == 200, response.text
    return str(response.json()["digest"])


def harbor_summary(counts: dict[str, Any]) -> dict[str, int]:
    """Harbor's per-severity summary: capitalized labels, zero counts left out."""
    labels = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
    return {label.capitalize(): counts[label] for label in labels if counts[label]}


def report_of(
    api: httpx.Client, project: str, repository: str, reference: str, **headers: str
) -> httpx.Response:
    path = artifact_path(project, repository, reference)
    return api.get(f"{path}/additions/vulnerabilities", headers=headers)


def error_message(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["message"])


def project_id(api: httpx.Client, name: str) -> int:
    response = api.get(f"/projects/{name}")
    assert response.status_code == 200, response.text
    return int(response.json()["project_id"])


# Reports of an image ---------------------------------------------------------


def test_python_app_overview(
    python_app: dict[str, Any], expected: dict[str, Any]
) -> None:
    merged = expected["python-app:1.0"]["counts"]["merged"]
    fixable = [
        finding
        for finding in expected["python-app:1.0"]["merged_findings"]
        if finding["fixed_in"]
    ]
    assert python_app["scan_status"] == "Success"
    assert python_app["severity"] == merged["highest"].capitalize()
    assert python_app["summary"]["total"] == merged["findings"] == 54
    assert python_app["summary"]["fixable"] == len(fixable)
    assert python_app["summary"]["summary"] == harbor_summary(merged)
    assert python_app["complete_percent"] == 100


def test_overview_times_and_scanner(python_app: dict[str, Any]) -> None:
    start = datetime.fromisoformat(python_app["start_time"])
    end = datetime.fromisoformat(python_app["end_time"])
    assert start <= end
    assert python_app["duration"] == int((end - start).total_seconds())
    assert python_app["report_id"]
    assert python_app["scanner"]["name"] == "Seawall"
    assert python_app["scanner"]["vendor"] == "Seawall"
    assert python_app["scanner"]["version"]


def test_vulnerabilities_match_expected(
    api: httpx.Client, python_app: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = report_of(api, PROJECT, "python-app", "1.0")
    assert response.status_code == 200, response.text
    (document,) = response.json().values()
    items = document["vulnerabilities"]
    groups = expected["python-app:1.0"]["merged_findings"]
    assert len(items) == len(groups)

    # Each reported item is one merged group: same package, an id of the group.
    unmatched = list(groups)
    for item in items:
        group = next(
            (
                group
                for group in unmatched
                if group["package"] == item["package"] and item["id"] in group["ids"]
            ),
            None,
        )
        assert group is not None, f"{item['package']} {item['id']} is not expected"
        unmatched.remove(group)
        assert item["version"] == group["installed"]
        assert item["fix_version"] == group["fixed_in"]
        assert item["severity"] == group["severity"].capitalize()
    assert unmatched == []


def test_vulnerabilities_document_fields(
    api: httpx.Client, python_app: dict[str, Any]
) -> None:
    (document,) = report_of(api, PROJECT, "python-app", "1.0").json().values()
    assert document["severity"] == "Critical"
    assert document["scanner"]["name"] == "Seawall"
    assert document["generated_at"]
    layer_digests = {item["layer"]["digest"] for item in document["vulnerabilities"]}
    assert len(layer_digests) == 2
    for item in document["vulnerabilities"]:
        assert item["artifact_digests"] == [
            "sha256:a987c54aa5ea22209666756c506101a554854b695f197821776498f53c0becd2"
        ]


@pytest.mark.parametrize(
    ("header", "mime"),
    [
        (HARBOR_REPORT, HARBOR_REPORT),
        (GENERIC_REPORT, GENERIC_REPORT),
        (f"{HARBOR_REPORT}, {GENERIC_REPORT}", HARBOR_REPORT),
        (f"{GENERIC_REPORT}, {HARBOR_REPORT}", GENERIC_REPORT),
        (f"application/vnd.example.unknown, {HARBOR_REPORT}", HARBOR_REPORT),
        (HARBOR_REPORT.replace("; ", ";"), HARBOR_REPORT),
        (GENERIC_REPORT.upper(), GENERIC_REPORT),
    ],
)
def test_report_media_type_chosen(
    api: httpx.Client, python_app: dict[str, Any], header: str, mime: str
) -> None:
    headers = {"X-Accept-Vulnerabilities": header}
    report = report_of(api, PROJECT, "python-app", "1.0", **headers)
    assert report.status_code == 200, report.text
    assert list(report.json()) == [mime]
    assert len(report.json()[mime]["vulnerabilities"]) == 54

    artifact = api.get(
        artifact_path(PROJECT, "python-app", "1.0"),
        params={"with_scan_overview": "true"},
        headers=headers,
    ).json()
    assert list(artifact["scan_overview"]) == [mime]
    assert artifact["scan_overview"][mime]["summary"]["total"] == 54


def test_report_default_media_type(
    api: httpx.Client, python_app: dict[str, Any]
) -> None:
    report = report_of(api, PROJECT, "python-app", "1.0")
    assert list(report.json()) == [GENERIC_REPORT]
    generic_item = report.json()[GENERIC_REPORT]["vulnerabilities"][0]
    assert "vendor_attributes" in generic_item

    artifact = api.get(
        artifact_path(PROJECT, "python-app", "1.0"),
        params={"with_scan_overview": "true"},
    ).json()
    assert list(artifact["scan_overview"]) == [GENERIC_REPORT]


def test_report_unknown_media_type_empty(
    api: httpx.Client, python_app: dict[str, Any]
) -> None:
    headers = {"X-Accept-Vulnerabilities": "application/vnd.example.unknown"}
    report = report_of(api, PROJECT, "python-app", "1.0", **headers)
    assert report.status_code == 200, report.text
    assert report.json() == {}


def test_report_before_scan_empty(api: httpx.Client, java_app: str) -> None:
    report = report_of(api, "held", "java", "1.0")
    assert report.status_code == 200, report.text
    assert report.json() == {}
    artifact = api.get(
        artifact_path("held", "java", "1.0"), params={"with_scan_overview": "true"}
    ).json()
    assert "scan_overview" not in artifact


# An image index --------------------------------------------------------------


def test_index_overview_aggregated(
    multiarch: dict[str, Any], expected: dict[str, Any]
) -> None:
    arm64 = expected["multiarch:1"]["children"][1]
    assert arm64["manifest"] == ARM64_DIGEST
    merged = arm64["counts"]["merged"]
    assert multiarch["scan_status"] == "Success"
    assert multiarch["severity"] == merged["highest"].capitalize()
    assert multiarch["summary"]["total"] == merged["findings"] == 8
    assert multiarch["summary"]["summary"] == harbor_summary(merged)


def test_index_children_overviews(api: httpx.Client, multiarch: dict[str, Any]) -> None:
    arm64 = wait_for_scan(api, "fleet", "multi", ARM64_DIGEST)
    amd64 = wait_for_scan(api, "fleet", "multi", AMD64_DIGEST)
    assert arm64["summary"]["total"] == 8
    assert arm64["severity"] == "High"
    assert amd64["summary"]["total"] == 0
    assert amd64["severity"] == "None"


def test_index_vulnerabilities_digests(
    api: httpx.Client, multiarch: dict[str, Any]
) -> None:
    for header in (GENERIC_REPORT, HARBOR_REPORT):
        report = report_of(
            api, "fleet", "multi", "1", **{"X-Accept-Vulnerabilities": header}
        )
        assert report.status_code == 200, report.text
        document = report.json()[header]
        assert len(document["vulnerabilities"]) == 8
        assert document["severity"] == "High"
        assert document["artifact"]["digest"] == INDEX_DIGEST
        for item in document["vulnerabilities"]:
            assert item["package"] == "urllib3"
            assert item["artifact_digests"] == [ARM64_DIGEST]


# Rejected requests -----------------------------------------------------------


def test_non_image_rejected(
    scan_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    create_project(api, "documents")
    push(scan_registry, testdata, "artifact", "sbom", "documents/sbom:sbom")
    response = api.post(f"{artifact_path('documents', 'sbom', 'sbom')}/scan")
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    message = error_message(response)
    assert "does not support scanning artifact" in message
    assert "application/vnd.oci.image.manifest.v1+json" in message
    assert "is not a container image" in message


def test_unknown_scan_type_rejected(
    api: httpx.Client, python_app: dict[str, Any]
) -> None:
    response = api.post(
        f"{artifact_path(PROJECT, 'python-app', '1.0')}/scan",
        json={"scan_type": "malware"},
    )
    assert response.status_code == 400, response.text
    assert error_message(response) == "scan type malware is not supported"


def test_unknown_artifact_not_found(api: httpx.Client, python_app: Any) -> None:
    response = api.post(f"{artifact_path(PROJECT, 'python-app', 'missing')}/scan")
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("status", ["Pending", "Running"])
def test_scan_conflict_while_active(
    scan_registry: RunningRegistry, api: httpx.Client, java_app: str, status: str
) -> None:
    write_active_report(scan_registry, java_app, status)
    response = api.post(f"{artifact_path('held', 'java', '1.0')}/scan")
    assert response.status_code == 409, response.text
    assert response.json()["errors"][0]["code"] == "CONFLICT"
    assert error_message(response) == f"a previous scan process is {status}"

    stopped = api.post(f"{artifact_path('held', 'java', '1.0')}/scan/stop")
    assert stopped.status_code == 202, stopped.text


def test_stale_scan_replaced(
    scan_registry: RunningRegistry, api: httpx.Client, java_app: str
) -> None:
    # A scan queued hours ago by a process that died is taken as lost.
    started = datetime.now(UTC) - timedelta(hours=2)
    write_active_report(scan_registry, java_app, "Running", started=started)
    overview = scan_and_wait(api, "held", "java", "1.0")
    assert overview["summary"]["total"] == 3
    assert overview["severity"] == "Critical"


# Stop ------------------------------------------------------------------------


def test_stop_marks_scan_stopped(
    scan_registry: RunningRegistry, api: httpx.Client, java_app: str
) -> None:
    report_id = write_active_report(scan_registry, java_app, "Running")
    path = artifact_path("held", "java", "1.0")
    response = api.post(f"{path}/scan/stop")
    assert response.status_code == 202, response.text

    overview = wait_for_scan(api, "held", "java", "1.0", expected_status="Stopped")
    assert overview["report_id"] == report_id
    assert "summary" not in overview
    log = api.get(f"{path}/scan/{report_id}/log")
    assert "scan stopped on request" in log.text

    again = api.post(f"{path}/scan/stop")
    assert again.status_code == 400, again.text
    assert error_message(again) == f"no scan job for artifact digest={java_app}"

    # A stopped scan can be requested again.
    overview = scan_and_wait(api, "held", "java", "1.0")
    assert overview["summary"]["total"] == 3


def test_stop_without_scan(api: httpx.Client, python_app: dict[str, Any]) -> None:
    response = api.post(f"{artifact_path(PROJECT, 'python-app', '1.0')}/scan/stop")
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert error_message(response) == (
        "no scan job for artifact digest="
        "sha256:a987c54aa5ea22209666756c506101a554854b695f197821776498f53c0becd2"
    )


def test_stop_index_stops_children(
    scan_registry: RunningRegistry, api: httpx.Client, multiarch: dict[str, Any]
) -> None:
    write_active_report(scan_registry, ARM64_DIGEST, "Running")
    response = api.post(f"{artifact_path('fleet', 'multi', '1')}/scan/stop")
    assert response.status_code == 202, response.text
    wait_for_scan(api, "fleet", "multi", ARM64_DIGEST, expected_status="Stopped")
    # Harbor's precedence puts Stopped before Success for the index.
    wait_for_scan(api, "fleet", "multi", "1", expected_status="Stopped")

    overview = scan_and_wait(api, "fleet", "multi", "1")
    assert overview["summary"]["total"] == 8


# Log -------------------------------------------------------------------------


def test_scan_log_lines(api: httpx.Client, python_app: dict[str, Any]) -> None:
    path = artifact_path(PROJECT, "python-app", "1.0")
    response = api.get(f"{path}/scan/{python_app['report_id']}/log")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(
        f"scan of {PROJECT}/python-app@sha256:a987c54aa5ea22209666756c506101a554854b69"
        "5f197821776498f53c0becd2 queued (manual)"
    )
    assert lines[1].endswith("scanning with Seawall")
    assert lines[2].endswith("inventory of 12 packages from 2 layers")
    assert "found 54 vulnerabilities in" in lines[3]
    for line in lines:
        stamp = datetime.fromisoformat(line.split(" ", 1)[0])
        assert stamp.tzinfo == UTC
        assert stamp <= datetime.now(UTC)


def test_log_unknown_report(api: httpx.Client, python_app: dict[str, Any]) -> None:
    path = artifact_path(PROJECT, "python-app", "1.0")
    response = api.get(f"{path}/scan/no-such-report/log")
    assert response.status_code == 404, response.text
    assert error_message(response) == "report with uuid no-such-report does not exist"


def test_log_of_other_artifact_hidden(
    api: httpx.Client, python_app: dict[str, Any], multiarch: dict[str, Any]
) -> None:
    # An index's report id is a child's; it is not a report of python-app.
    other = wait_for_scan(api, "fleet", "multi", "1")["report_id"]
    path = artifact_path(PROJECT, "python-app", "1.0")
    response = api.get(f"{path}/scan/{other}/log")
    assert response.status_code == 404, response.text
    index_log = api.get(f"{artifact_path('fleet', 'multi', '1')}/scan/{other}/log")
    assert index_log.status_code == 200, index_log.text
    assert "queued (manual)" in index_log.text


# Permissions -----------------------------------------------------------------


@pytest.fixture(scope="module")
def members(
    scan_registry: RunningRegistry,
    module_api: httpx.Client,
    testdata: Path,
    python_app: dict[str, Any],
) -> dict[str, tuple[str, str] | None]:
    """Callers of the private project `vault`, which contains a scanned python-app."""
    create_project(module_api, "vault")
    push(scan_registry, testdata, "python-app", "1.0", "vault/app:1.0")
    callers: dict[str, tuple[str, str] | None] = {"anonymous": None}
    roles = {
        "limited-guest": LIMITED_GUEST,
        "guest": GUEST,
        "developer": DEVELOPER,
        "maintainer": MAINTAINER,
        "outsider": None,
    }
    for name, role in roles.items():
        username = f"vault-{name}"
        user_id = create_user(scan_registry, username, PASSWORD)
        if role is not None:
            add_member(scan_registry, "vault", user_id, role)
        callers[name] = (username, PASSWORD)
    return callers


def caller(
    registry: RunningRegistry, members: dict[str, tuple[str, str] | None], name: str
) -> httpx.Client:
    return httpx.Client(
        base_url=f"{registry.url}/api/v2.0", auth=members[name], timeout=60
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("anonymous", 401),
        ("outsider", 403),
        ("limited-guest", 403),
        ("guest", 403),
        ("developer", 403),
        ("maintainer", 202),
    ],
)
def test_scan_create_permission(
    scan_registry: RunningRegistry,
    api: httpx.Client,
    members: dict[str, tuple[str, str] | None],
    name: str,
    status: int,
) -> None:
    with caller(scan_registry, members, name) as client:
        response = client.post(f"{artifact_path('vault', 'app', '1.0')}/scan")
    assert response.status_code == status, response.text
    if status == 202:
        wait_for_scan(api, "vault", "app", "1.0")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("anonymous", 401),
        ("outsider", 403),
        ("limited-guest", 403),
        ("guest", 403),
        ("developer", 403),
        ("maintainer", 400),  # allowed, but no scan runs
    ],
)
def test_scan_stop_permission(
    scan_registry: RunningRegistry,
    api: httpx.Client,
    members: dict[str, tuple[str, str] | None],
    name: str,
    status: int,
) -> None:
    wait_for_scan(api, "vault", "app", "1.0")
    with caller(scan_registry, members, name) as client:
        response = client.post(f"{artifact_path('vault', 'app', '1.0')}/scan/stop")
    assert response.status_code == status, response.text
    if status == 400:
        assert error_message(response).startswith("no scan job for artifact")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("anonymous", 401),
        ("outsider", 403),
        ("limited-guest", 200),
        ("guest", 200),
        ("developer", 200),
        ("maintainer", 200),
    ],
)
def test_scan_read_permission(
    scan_registry: RunningRegistry,
    api: httpx.Client,
    members: dict[str, tuple[str, str] | None],
    name: str,
    status: int,
) -> None:
    overview = wait_for_scan(api, "vault", "app", "1.0")
    path = artifact_path("vault", "app", "1.0")
    with caller(scan_registry, members, name) as client:
        report = client.get(f"{path}/additions/vulnerabilities")
        log = client.get(f"{path}/scan/{overview['report_id']}/log")
    assert report.status_code == status, report.text
    assert log.status_code == status, log.text
    if status == 200:
        (document,) = report.json().values()
        assert len(document["vulnerabilities"]) == 54
        assert "found 54 vulnerabilities" in log.text


def test_public_project_anonymous_reads(
    scan_registry: RunningRegistry,
    api: httpx.Client,
    testdata: Path,
    python_app: dict[str, Any],
) -> None:
    create_project(api, "open", public="true")
    push(scan_registry, testdata, "python-app", "1.0", "open/app:1.0")
    path = artifact_path("open", "app", "1.0")
    with httpx.Client(base_url=f"{scan_registry.url}/api/v2.0", timeout=60) as client:
        artifact = client.get(path, params={"with_scan_overview": "true"})
        assert artifact.status_code == 200, artifact.text
        (overview,) = artifact.json()["scan_overview"].values()
        assert overview["summary"]["total"] == 54

        report = client.get(f"{path}/additions/vulnerabilities")
        assert report.status_code == 200, report.text
        (document,) = report.json().values()
        assert len(document["vulnerabilities"]) == 54

        log = client.get(f"{path}/scan/{overview['report_id']}/log")
        assert log.status_code == 200, log.text

        assert client.post(f"{path}/scan").status_code == 401
        assert client.post(f"{path}/scan/stop").status_code == 401


# Scanner availability --------------------------------------------------------


def set_builtin_default(registry: RunningRegistry, is_default: bool) -> None:
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            session.execute(
                update(ScannerRegistration)
                .where(ScannerRegistration.url == "builtin://seawall")
                .values(is_default=is_default)
            )
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()


def test_no_scanner_precondition(
    scan_registry: RunningRegistry, api: httpx.Client, python_app: dict[str, Any]
) -> None:
    path = artifact_path(PROJECT, "python-app", "1.0")
    expected_message = f"no available scanner for project: {project_id(api, PROJECT)}"
    set_builtin_default(scan_registry, False)
    try:
        for body in (None, {"scan_type": "vulnerability"}, {"scan_type": "sbom"}):
            response = api.post(f"{path}/scan", json=body)
            assert response.status_code == 412, response.text
            assert response.json()["errors"][0]["code"] == "PRECONDITION"
            assert error_message(response) == expected_message
    finally:
        set_builtin_default(scan_registry, True)
    assert api.post(f"{path}/scan").status_code == 202
    wait_for_scan(api, PROJECT, "python-app", "1.0")


# Scan on push ----------------------------------------------------------------


def test_scan_on_push(
    scan_registry: RunningRegistry,
    api: httpx.Client,
    testdata: Path,
    expected: dict[str, Any],
) -> None:
    create_project(api, "manual")
    create_project(api, "autoscan", auto_scan="true")

    # An image pushed to a project without auto_scan stays unscanned.
    with httpx.Client(base_url=scan_registry.url, auth=ADMIN, timeout=60) as client:
        push_image(client, "manual/random", "1")
        push_image(client, "autoscan/random", "1")
    push(scan_registry, testdata, "node-app", "1.0", "autoscan/web:1.0")

    overview = wait_for_scan(api, "autoscan", "web", "1.0")
    findings = expected["node-app:1.0"]["findings"]
    assert overview["summary"]["total"] == len(findings) == 6
    assert overview["severity"] == "Critical"
    log = api.get(
        f"{artifact_path('autoscan', 'web', '1.0')}/scan/{overview['report_id']}/log"
    )
    assert "queued (push)" in log.text

    wait_for_scan(api, "autoscan", "random", "1")
    manual = api.get(
        artifact_path("manual", "random", "1"), params={"with_scan_overview": "true"}
    )
    assert manual.status_code == 200, manual.text
    assert "scan_overview" not in manual.json()
