"""Protocol tests for concurrent requests that race on the same repository, blob or session.

Clients such as containerd push layers in parallel, and two CI jobs often push
the same base layers at once, so these races are the normal case, not a
corner. Each worker thread has its own connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import TypeVar

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    OCTET_STREAM,
    describe,
    digest_of,
    image_manifest,
    push_blob,
    put_manifest,
    random_bytes,
    unique_repository,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

WORKERS = 8
Result = TypeVar("Result")


@pytest.fixture
def admin_clients(registry: RunningRegistry) -> Iterator[list[httpx.Client]]:
    """One admin client, and so one connection, per worker thread."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                httpx.Client(
                    base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
                )
            )
            for _ in range(WORKERS)
        ]


def run_parallel(
    clients: list[httpx.Client], call: Callable[[httpx.Client, int], Result]
) -> list[Result]:
    """Run `call(client, index)` once per client, all at the same time."""
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [
            pool.submit(call, client, index) for index, client in enumerate(clients)
        ]
        return [future.result() for future in futures]


def test_same_blob_parallel(admin_clients: list[httpx.Client]) -> None:
    """Parallel uploads of one blob to one new repository all succeed."""
    repository = unique_repository()
    data = random_bytes(100_000)
    digest = digest_of(data)

    def upload(client: httpx.Client, _: int) -> httpx.Response:
        return client.post(
            f"/v2/{repository}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers=OCTET_STREAM,
        )

    responses = run_parallel(admin_clients, upload)

    assert [response.status_code for response in responses] == [201] * WORKERS, [
        describe(response) for response in responses
    ]
    assert admin_clients[0].get(f"/v2/{repository}/blobs/{digest}").content == data


def test_new_repository_parallel(admin_clients: list[httpx.Client]) -> None:
    """Parallel first pushes of different blobs to one new repository all succeed."""
    repository = unique_repository()
    blobs = [random_bytes(10_000) for _ in admin_clients]

    def upload(client: httpx.Client, index: int) -> httpx.Response:
        return client.post(
            f"/v2/{repository}/blobs/uploads/",
            params={"digest": digest_of(blobs[index])},
            content=blobs[index],
            headers=OCTET_STREAM,
        )

    responses = run_parallel(admin_clients, upload)

    assert [response.status_code for response in responses] == [201] * WORKERS, [
        describe(response) for response in responses
    ]
    for data in blobs:
        assert (
            admin_clients[0]
            .head(f"/v2/{repository}/blobs/{digest_of(data)}")
            .status_code
            == 200
        )


def test_same_blob_many_repositories(admin_clients: list[httpx.Client]) -> None:
    """One blob pushed to several repositories at once is stored once per repository view."""
    repositories = [unique_repository() for _ in admin_clients]
    data = random_bytes(50_000)

    def upload(client: httpx.Client, index: int) -> str:
        return push_blob(client, repositories[index], data)

    digests = run_parallel(admin_clients, upload)

    assert set(digests) == {digest_of(data)}
    for repository in repositories:
        response = admin_clients[0].get(f"/v2/{repository}/blobs/{digest_of(data)}")
        assert response.content == data, describe(response)


def test_same_manifest_parallel(admin_clients: list[httpx.Client]) -> None:
    repository = unique_repository()
    manifest = image_manifest(admin_clients[0], repository)

    def push(client: httpx.Client, _: int) -> httpx.Response:
        return put_manifest(client, repository, "latest", manifest)

    responses = run_parallel(admin_clients, push)

    assert [response.status_code for response in responses] == [201] * WORKERS, [
        describe(response) for response in responses
    ]
    assert (
        admin_clients[0].get(f"/v2/{repository}/manifests/latest").content
        == manifest.body
    )


def test_tag_race(admin_clients: list[httpx.Client]) -> None:
    """Different manifests pushed to one tag at once: every push succeeds, one of them wins."""
    repository = unique_repository()
    manifests = [image_manifest(admin_clients[0], repository) for _ in admin_clients]

    def push(client: httpx.Client, index: int) -> httpx.Response:
        return put_manifest(client, repository, "latest", manifests[index])

    responses = run_parallel(admin_clients, push)
    winner = admin_clients[0].get(f"/v2/{repository}/manifests/latest")
    tags = admin_clients[0].get(f"/v2/{repository}/tags/list").json()["tags"]

    assert [response.status_code for response in responses] == [201] * WORKERS, [
        describe(response) for response in responses
    ]
    assert winner.content in {manifest.body for manifest in manifests}
    assert tags == ["latest"]


def test_chunk_race(admin_clients: list[httpx.Client]) -> None:
    """Two chunks sent for the same offset of one session: one is taken, the other gets 416."""
    repository = unique_repository()
    session = admin_clients[0].post(f"/v2/{repository}/blobs/uploads/")
    assert session.status_code == 202, describe(session)
    location = session.headers["Location"]
    chunks = [random_bytes(500_000) for _ in admin_clients[:2]]

    def patch(client: httpx.Client, index: int) -> httpx.Response:
        headers = {**OCTET_STREAM, "Content-Range": f"0-{len(chunks[index]) - 1}"}
        return client.patch(location, content=chunks[index], headers=headers)

    responses = run_parallel(admin_clients[:2], patch)
    statuses = sorted(response.status_code for response in responses)
    status = admin_clients[0].get(location)
    winner = chunks[[response.status_code for response in responses].index(202)]
    done = admin_clients[0].put(location, params={"digest": digest_of(winner)})

    assert statuses == [202, 416], [describe(response) for response in responses]
    assert status.headers.get("Range") == f"0-{len(winner) - 1}"
    assert done.status_code == 201, describe(done)
    assert (
        admin_clients[0].get(f"/v2/{repository}/blobs/{digest_of(winner)}").content
        == winner
    )
