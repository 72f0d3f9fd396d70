"""Concurrent creation of LDAP user groups that share a DN or a name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.protocol_helpers import describe, unique_name
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

ATTEMPTS = 8


def _create_groups(
    registry: RunningRegistry, bodies: list[dict[str, object]]
) -> list[httpx.Response]:
    def create(body: dict[str, object]) -> httpx.Response:
        return httpx.post(
            f"{registry.url}/api/v2.0/usergroups",
            json=body,
            auth=("admin", ADMIN_PASSWORD),
            timeout=60,
        )

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(create, bodies))


def test_concurrent_dn_creates_one_group(registry: RunningRegistry) -> None:
    dn = f"cn={unique_name('race')},ou=groups,dc=example,dc=com"
    bodies: list[dict[str, object]] = [
        {"group_name": unique_name("race"), "group_type": 1, "ldap_group_dn": dn}
        for _ in range(ATTEMPTS)
    ]

    responses = _create_groups(registry, bodies)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (ATTEMPTS - 1), [describe(r) for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert f"an LDAP group with DN {dn} already exists" in response.text


def test_concurrent_name_creates_one_group(registry: RunningRegistry) -> None:
    name = unique_name("same")
    bodies: list[dict[str, object]] = [
        {"group_name": name, "group_type": 2} for _ in range(ATTEMPTS)
    ]

    responses = _create_groups(registry, bodies)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (ATTEMPTS - 1), [describe(r) for r in responses]
