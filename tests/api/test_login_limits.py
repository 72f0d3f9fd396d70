"""Failed-login limits and what a refused login reveals, on servers of their own.

Each test starts a registry that allows 3 failed logins per client address
and per username per minute, because every request here comes from
127.0.0.1 and the address count would otherwise carry over between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import databases
from tests.support.process import json_log_records
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry

FAILURE_LIMIT = 3
PASSWORD = "Limit-Pass-1"
WRONG_PASSWORD = "Wrong-Pass-1"


@pytest.fixture
def limited_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    """A registry of this test's own with a failure limit of 3 and JSON logs."""
    with databases.test_database_url(tmp_path) as url:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        extra_env = {
            "SEAWALL_AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT),
            "SEAWALL_LOG_FORMAT": "json",
        }
        with start_registry(data_dir, url, extra_env=extra_env) as running:
            yield running


def create_user(registry: RunningRegistry) -> str:
    username = f"limit-{uuid.uuid4().hex[:10]}"
    body = {
        "username": username,
        "password": PASSWORD,
        "email": f"{username}@example.com",
        "realname": "Limit Test",
    }
    with httpx.Client(
        base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
    ) as admin:
        response = admin.post("/api/v2.0/users", json=body)
    assert response.status_code == 201, response.text
    return username


def get(registry: RunningRegistry, path: str, username: str, password: str) -> Any:
    with httpx.Client(
        base_url=registry.url, auth=(username, password), timeout=60
    ) as client:
        return client.get(path)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["errors"][0]
    return error


def fail_logins(registry: RunningRegistry, path: str, username: str) -> None:
    """Send wrong passwords up to the limit, each of which must still get 401."""
    for attempt in range(FAILURE_LIMIT):
        response = get(registry, path, username, WRONG_PASSWORD)
        assert response.status_code == 401, (attempt, response.text)


def test_api_limits_fourth_failure(limited_registry: RunningRegistry) -> None:
    username = create_user(limited_registry)
    fail_logins(limited_registry, "/api/v2.0/users/current", username)

    response = get(
        limited_registry, "/api/v2.0/users/current", username, WRONG_PASSWORD
    )

    assert response.status_code == 429, response.text
    assert error_of(response)["code"] == "TOO_MANY_REQUEST"
    assert response.headers["Retry-After"] == "60"


def test_registry_limits_fourth_failure(limited_registry: RunningRegistry) -> None:
    username = create_user(limited_registry)
    fail_logins(limited_registry, "/v2/", username)

    response = get(limited_registry, "/v2/", username, WRONG_PASSWORD)

    assert response.status_code == 429, response.text
    assert error_of(response)["code"] == "TOOMANYREQUESTS"
    assert response.headers["Retry-After"] == "60"


def test_limit_spans_both_surfaces(limited_registry: RunningRegistry) -> None:
    username = create_user(limited_registry)
    fail_logins(limited_registry, "/api/v2.0/users/current", username)

    response = get(limited_registry, "/v2/", username, WRONG_PASSWORD)

    assert response.status_code == 429, response.text


def test_limit_counts_unknown_usernames(limited_registry: RunningRegistry) -> None:
    """Guessing a different username each time still counts against the address."""
    for attempt in range(FAILURE_LIMIT):
        name = f"nobody-{attempt}-{uuid.uuid4().hex[:6]}"
        response = get(limited_registry, "/v2/", name, WRONG_PASSWORD)
        assert response.status_code == 401, (attempt, response.text)

    response = get(limited_registry, "/v2/", "nobody-last", WRONG_PASSWORD)

    assert response.status_code == 429, response.text


def test_correct_password_rejected_while_limited(
    limited_registry: RunningRegistry,
) -> None:
    """Once limited, a guess is rejected without a check, so a right guess reveals nothing."""
    username = create_user(limited_registry)
    fail_logins(limited_registry, "/api/v2.0/users/current", username)

    response = get(limited_registry, "/api/v2.0/users/current", username, PASSWORD)

    assert response.status_code == 429, response.text


@pytest.mark.parametrize("path", ["/api/v2.0/users/current", "/v2/"])
def test_unknown_user_same_reply(limited_registry: RunningRegistry, path: str) -> None:
    username = create_user(limited_registry)

    wrong_password = get(limited_registry, path, username, WRONG_PASSWORD)
    unknown_user = get(limited_registry, path, f"{username}-x", WRONG_PASSWORD)

    assert wrong_password.status_code == 401, wrong_password.text
    assert unknown_user.status_code == wrong_password.status_code
    assert unknown_user.json() == wrong_password.json()
    assert unknown_user.headers.get("WWW-Authenticate") == wrong_password.headers.get(
        "WWW-Authenticate"
    )


def test_rejections_logged_with_username(limited_registry: RunningRegistry) -> None:
    username = create_user(limited_registry)
    fail_logins(limited_registry, "/v2/", username)
    limited = get(limited_registry, "/v2/", username, WRONG_PASSWORD)
    assert limited.status_code == 429, limited.text

    records = json_log_records(limited_registry.log_path)
    failed = [
        record
        for record in records
        if record.get("event") == "login failed" and record.get("username") == username
    ]
    rejected = [
        record
        for record in records
        if record.get("event") == "login rejected: too many failures"
        and record.get("username") == username
    ]

    assert len(failed) == FAILURE_LIMIT, failed
    assert len(rejected) == 1, rejected
    assert rejected[0]["client"] == "127.0.0.1"
    log_text = limited_registry.log_path.read_text(errors="replace")
    assert WRONG_PASSWORD not in log_text
    assert PASSWORD not in log_text
