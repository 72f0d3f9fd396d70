"""The "scan all" routes on a live registry: schedule, run now, stop and metrics.

The module runs one registry of its own with the kit's advisories
imported and the kit's images pushed with skopeo. Executions held in
Running are stored straight in the database, so the conflict and stop
cases do not race real scan threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update

from seawall.db import Database
from seawall.db.models import ScanAllExecution, ScannerRegistration
from seawall.registry.cache import MetadataEpoch
from tests.support.scanning import (
    admin_api,
    create_project,
    push,
    scan_and_wait,
    scanning_registry,
    wait_for_scan,
    write_active_report,
)
from tests.support.seed import create_user
from tests.support.server import RunningRegistry

SCHEDULE = "/system/scanAll/schedule"
STOP = "/system/scanAll/stop"
ALL_METRICS = "/scans/all/metrics"
SCHEDULE_METRICS = "/scans/schedule/metrics"
TASK_STATES = ("Pending", "Running", "Success", "Error", "Stopped")

# python-app and java-app are one scan each, the index two (one per image);
# the artifact contains no image and is skipped.
SCANS_PER_RUN = 4
# The server checks the schedule every 30 s (`SCHEDULE_CHECK_SECONDS`).
SCHEDULE_WAIT_SECONDS = 75


@pytest.fixture(scope="module")
def scan_all_registry(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[RunningRegistry]:
    with scanning_registry(tmp_path_factory, testdata, "scan-all") as running:
        yield running


@pytest.fixture(scope="module")
def module_api(scan_all_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with admin_api(scan_all_registry) as client:
        yield client


@pytest.fixture
def api(module_api: httpx.Client) -> httpx.Client:
    return module_api


@pytest.fixture(scope="module")
def images(
    scan_all_registry: RunningRegistry, module_api: httpx.Client, testdata: Path
) -> dict[str, str]:
    """Push the kit's images into `estate` and return their digests by repository."""
    create_project(module_api, "estate")
    push(scan_all_registry, testdata, "python-app", "1.0", "estate/python:1.0")
    push(scan_all_registry, testdata, "java-app", "1.0", "estate/java:1.0")
    push(scan_all_registry, testdata, "multiarch", "1", "estate/multi:1")
    push(scan_all_registry, testdata, "artifact", "sbom", "estate/sbom:sbom")
    digests = {}
    for repository, tag in (("python", "1.0"), ("java", "1.0"), ("multi", "1")):
        response = module_api.get(
            f"/projects/estate/repositories/{repository}/artifacts/{tag}"
        )
        assert response.status_code == 200, response.text
        digests[repository] = str(response.json()["digest"])
    return digests


def database_of(registry: RunningRegistry) -> Database:
    return Database(registry.database_url)


def clear_executions(registry: RunningRegistry) -> None:
    database = database_of(registry)
    try:
        with database.session() as session:
            session.execute(delete(ScanAllExecution))
    finally:
        database.dispose()


def write_running_execution(registry: RunningRegistry, report_ids: list[str]) -> None:
    """Store a manual execution whose scans are the reports `report_ids`."""
    database = database_of(registry)
    try:
        with database.session() as session:
            session.add(
                ScanAllExecution(
                    trigger="Manual",
                    status="Running",
                    start_time=datetime.now(UTC),
                    total=len(report_ids),
                    metrics=json.dumps({"reports": report_ids}),
                )
            )
    finally:
        database.dispose()


def set_builtin_default(registry: RunningRegistry, is_default: bool) -> None:
    database = database_of(registry)
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


def metrics(api: httpx.Client, path: str = ALL_METRICS) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def wait_until_finished(api: httpx.Client, path: str = ALL_METRICS) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stats = metrics(api, path)
        if stats["total"] and not stats["ongoing"]:
            return stats
        time.sleep(0.2)
    raise AssertionError(f"scan all did not finish: {metrics(api, path)}")


def get_schedule(api: httpx.Client) -> dict[str, Any]:
    response = api.get(SCHEDULE)
    assert response.status_code == 200, response.text
    schedule: dict[str, Any] = response.json()["schedule"]
    return schedule


def put_schedule(api: httpx.Client, **schedule: str) -> httpx.Response:
    return api.put(SCHEDULE, json={"schedule": schedule})


def error_message(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["message"])


@pytest.fixture
def no_schedule(api: httpx.Client) -> Iterator[None]:
    """Start and end the test without a stored schedule."""
    assert put_schedule(api, type="None").status_code == 200
    yield
    assert put_schedule(api, type="None").status_code == 200


# Run now ---------------------------------------------------------------------


def test_manual_run_completes(api: httpx.Client, images: dict[str, str]) -> None:
    response = api.post(SCHEDULE, json={"schedule": {"type": "Manual"}})
    assert response.status_code == 201, response.text

    stats = wait_until_finished(api)
    assert stats["total"] == SCANS_PER_RUN
    assert stats["completed"] == stats["total"]
    expected_counts = dict.fromkeys(TASK_STATES, 0)
    expected_counts["Success"] = SCANS_PER_RUN
    assert stats["metrics"] == expected_counts
    assert stats["trigger"] == "Manual"


def test_manual_run_scans_images(api: httpx.Client, images: dict[str, str]) -> None:
    response = api.post(SCHEDULE, json={"schedule": {"type": "Manual"}})
    assert response.status_code == 201, response.text
    wait_until_finished(api)

    python = wait_for_scan(api, "estate", "python", "1.0")
    assert python["summary"]["total"] == 54
    java = wait_for_scan(api, "estate", "java", "1.0")
    assert java["summary"]["total"] == 3
    index = wait_for_scan(api, "estate", "multi", "1")
    assert index["summary"]["total"] == 8

    artifact = api.get(
        "/projects/estate/repositories/sbom/artifacts/sbom",
        params={"with_scan_overview": "true"},
    ).json()
    assert "scan_overview" not in artifact


def test_later_scan_keeps_run_complete(
    api: httpx.Client, images: dict[str, str]
) -> None:
    response = api.post(SCHEDULE, json={"schedule": {"type": "Manual"}})
    assert response.status_code == 201, response.text
    wait_until_finished(api)

    # A scan of one image replaces the run's report of it.
    scan_and_wait(api, "estate", "python", "1.0")
    stats = metrics(api)
    assert stats["total"] == SCANS_PER_RUN
    assert stats["completed"] == SCANS_PER_RUN
    assert stats["ongoing"] is False


def test_scheduled_metrics_ignore_manual_runs(
    scan_all_registry: RunningRegistry, api: httpx.Client, images: dict[str, str]
) -> None:
    clear_executions(scan_all_registry)
    response = api.post(SCHEDULE, json={"schedule": {"type": "Manual"}})
    assert response.status_code == 201, response.text
    wait_until_finished(api)
    assert metrics(api, SCHEDULE_METRICS) == {
        "total": 0,
        "completed": 0,
        "metrics": {},
        "ongoing": False,
    }


# Conflict and stop -------------------------------------------------------------


def test_manual_run_conflict(
    scan_all_registry: RunningRegistry, api: httpx.Client, images: dict[str, str]
) -> None:
    report_id = write_active_report(scan_all_registry, images["java"], "Running")
    write_running_execution(scan_all_registry, [report_id])

    response = api.post(SCHEDULE, json={"schedule": {"type": "Manual"}})
    assert response.status_code == 409, response.text
    assert response.json()["errors"][0]["code"] == "CONFLICT"
    assert "a previous scan all job" in error_message(response)

    stats = metrics(api)
    assert stats["ongoing"] is True
    assert stats["completed"] == 0
    assert stats["metrics"]["Running"] == 1

    assert api.post(STOP).status_code == 202


def test_stop_running_execution(
    scan_all_registry: RunningRegistry, api: httpx.Client, images: dict[str, str]
) -> None:
    report_id = write_active_report(scan_all_registry, images["java"], "Running")
    write_running_execution(scan_all_registry, [report_id])

    response = api.post(STOP)
    assert response.status_code == 202, response.text
    stats = metrics(api)
    assert stats["ongoing"] is False
    assert stats["total"] == 1
    assert stats["completed"] == 1
    assert stats["metrics"]["Stopped"] == 1
    overview = wait_for_scan(api, "estate", "java", "1.0", expected_status="Stopped")
    assert overview["report_id"] == report_id

    # Stopping a finished execution is accepted and changes nothing.
    assert api.post(STOP).status_code == 202
    assert metrics(api) == stats

    # A new run starts after the stop.
    assert api.post(SCHEDULE, json={"schedule": {"type": "Manual"}}).status_code == 201
    assert wait_until_finished(api)["metrics"]["Success"] == SCANS_PER_RUN


def test_stop_finished_run_keeps_counts(
    api: httpx.Client, images: dict[str, str]
) -> None:
    assert api.post(SCHEDULE, json={"schedule": {"type": "Manual"}}).status_code == 201
    finished = wait_until_finished(api)
    assert api.post(STOP).status_code == 202
    assert metrics(api) == finished


def test_stop_without_execution(
    scan_all_registry: RunningRegistry, api: httpx.Client
) -> None:
    clear_executions(scan_all_registry)
    response = api.post(STOP)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert "no scan all job is found" in error_message(response)
    assert metrics(api) == {"total": 0, "completed": 0, "metrics": {}, "ongoing": False}


# Schedule --------------------------------------------------------------------


def test_schedule_none_by_default(api: httpx.Client, no_schedule: None) -> None:
    schedule = get_schedule(api)
    assert schedule["type"] == "None"
    assert schedule["cron"] == ""
    assert schedule["next_scheduled_time"] is None


def test_schedule_daily(api: httpx.Client, no_schedule: None) -> None:
    response = put_schedule(api, type="Daily")
    assert response.status_code == 200, response.text
    schedule = get_schedule(api)
    assert schedule["type"] == "Daily"
    assert schedule["cron"] == "0 0 0 * * *"
    next_time = datetime.fromisoformat(schedule["next_scheduled_time"])
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert next_time.date() == tomorrow
    assert (next_time.hour, next_time.minute, next_time.second) == (0, 0, 0)


def test_schedule_custom(api: httpx.Client, no_schedule: None) -> None:
    response = put_schedule(api, type="Custom", cron="0 */5 * * * *")
    assert response.status_code == 200, response.text
    schedule = get_schedule(api)
    assert schedule["type"] == "Custom"
    assert schedule["cron"] == "0 */5 * * * *"
    next_time = datetime.fromisoformat(schedule["next_scheduled_time"])
    assert next_time.minute % 5 == 0
    assert next_time.second == 0
    assert timedelta(0) < next_time - datetime.now(UTC) <= timedelta(minutes=5)


@pytest.mark.parametrize(
    "schedule",
    [
        {"type": "Custom", "cron": "not a cron"},
        {"type": "Custom", "cron": "0 0 * * *"},  # five fields: no seconds
        {"type": "Custom", "cron": "0 61 * * * *"},
        {"type": "Custom", "cron": ""},
        {"type": "Fortnightly"},
    ],
)
def test_schedule_invalid(
    api: httpx.Client, no_schedule: None, schedule: dict[str, str]
) -> None:
    assert put_schedule(api, type="Daily").status_code == 200
    for method in ("PUT", "POST"):
        response = api.request(method, SCHEDULE, json={"schedule": schedule})
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert get_schedule(api)["type"] == "Daily"


def test_schedule_invalid_cron_message(api: httpx.Client, no_schedule: None) -> None:
    response = put_schedule(api, type="Custom", cron="0 61 * * * *")
    assert error_message(response) == (
        "invalid cron string for scheduled scan all: 0 61 * * * *"
    )


def test_schedule_missing_rejected(api: httpx.Client) -> None:
    response = api.put(SCHEDULE, json={})
    assert response.status_code == 400, response.text


def test_create_when_schedule_exists(api: httpx.Client, no_schedule: None) -> None:
    created = api.post(SCHEDULE, json={"schedule": {"type": "Weekly"}})
    assert created.status_code == 201, created.text
    assert get_schedule(api)["cron"] == "0 0 0 * * 0"

    again = api.post(SCHEDULE, json={"schedule": {"type": "Daily"}})
    assert again.status_code == 412, again.text
    assert again.json()["errors"][0]["code"] == "PRECONDITION"
    assert get_schedule(api)["type"] == "Weekly"

    # PUT replaces it, and type None removes it.
    assert put_schedule(api, type="Hourly").status_code == 200
    assert get_schedule(api)["cron"] == "0 0 * * * *"
    assert put_schedule(api, type="None").status_code == 200
    assert get_schedule(api)["type"] == "None"


def test_create_none_changes_nothing(api: httpx.Client, no_schedule: None) -> None:
    assert put_schedule(api, type="Daily").status_code == 200
    response = api.post(SCHEDULE, json={"schedule": {"type": "None"}})
    assert response.status_code == 201, response.text
    assert get_schedule(api)["type"] == "Daily"


def test_update_manual_rejected(api: httpx.Client, no_schedule: None) -> None:
    response = put_schedule(api, type="Manual")
    assert response.status_code == 400, response.text
    assert "Manual" in error_message(response)
    assert get_schedule(api)["type"] == "None"


def test_scheduled_run(
    scan_all_registry: RunningRegistry,
    api: httpx.Client,
    images: dict[str, str],
    no_schedule: None,
) -> None:
    clear_executions(scan_all_registry)
    assert put_schedule(api, type="Custom", cron="* * * * * *").status_code == 200

    deadline = time.monotonic() + SCHEDULE_WAIT_SECONDS
    while metrics(api, SCHEDULE_METRICS)["total"] == 0:
        assert time.monotonic() < deadline, "the schedule did not start a scan all"
        time.sleep(0.5)
    assert put_schedule(api, type="None").status_code == 200

    stats = wait_until_finished(api, SCHEDULE_METRICS)
    assert stats["trigger"] == "Schedule"
    assert stats["total"] == SCANS_PER_RUN
    assert stats["completed"] == SCANS_PER_RUN
    assert metrics(api)["trigger"] == "Schedule"


# Access ----------------------------------------------------------------------


def test_anonymous_unauthorized(scan_all_registry: RunningRegistry) -> None:
    with httpx.Client(
        base_url=f"{scan_all_registry.url}/api/v2.0", timeout=60
    ) as client:
        checks = [
            client.get(SCHEDULE),
            client.post(SCHEDULE, json={"schedule": {"type": "Manual"}}),
            client.put(SCHEDULE, json={"schedule": {"type": "Daily"}}),
            client.post(STOP),
            client.get(ALL_METRICS),
            client.get(SCHEDULE_METRICS),
        ]
    for response in checks:
        assert response.status_code == 401, response.text


def test_user_forbidden(scan_all_registry: RunningRegistry) -> None:
    credentials = ("scan-all-user", "User-Pass-1")
    create_user(scan_all_registry, *credentials)
    with httpx.Client(
        base_url=f"{scan_all_registry.url}/api/v2.0", auth=credentials, timeout=60
    ) as client:
        checks = [
            client.post(SCHEDULE, json={"schedule": {"type": "Manual"}}),
            client.put(SCHEDULE, json={"schedule": {"type": "Daily"}}),
            client.post(STOP),
        ]
    for response in checks:
        assert response.status_code == 403, response.text


def test_no_default_scanner(
    scan_all_registry: RunningRegistry, api: httpx.Client, no_schedule: None
) -> None:
    set_builtin_default(scan_all_registry, False)
    try:
        manual = api.post(SCHEDULE, json={"schedule": {"type": "Manual"}})
        daily = put_schedule(api, type="Daily")
    finally:
        set_builtin_default(scan_all_registry, True)
    for response in (manual, daily):
        assert response.status_code == 412, response.text
        assert response.json()["errors"][0]["code"] == "PRECONDITION"
        assert error_message(response) == "no default scanner is configured"
