"""Protocol tests for rejected uploads: chunks out of order, wrong digests and wrong sizes.

Range headers in upload replies are inclusive byte positions, so after N
bytes the registry reports `Range: 0-<N-1>`. A session that contains no bytes
yet reports `0-0`, as the reference implementation (distribution) does.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.protocol_helpers import (
    OCTET_STREAM,
    admin_authorization,
    assert_blob_absent,
    assert_blob_stored,
    assert_error,
    describe,
    digest_of,
    error_codes,
    error_messages,
    patch_chunk,
    random_bytes,
    send_raw,
    start_upload,
    unique_repository,
)
from tests.support.server import RunningRegistry


def test_chunk_out_of_order(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]

    response = patch_chunk(admin_client, location, random_bytes(10), 5)

    assert response.status_code == 416, describe(response)
    assert admin_client.get(location).headers.get("Range") == "0-0"


def test_chunk_overlapping(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]
    first = patch_chunk(admin_client, location, random_bytes(10), 0)

    response = patch_chunk(admin_client, first.headers["Location"], random_bytes(10), 5)

    assert first.status_code == 202, describe(first)
    assert response.status_code == 416, describe(response)
    assert admin_client.get(location).headers.get("Range") == "0-9"


def test_chunk_gap(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]
    first = patch_chunk(admin_client, location, random_bytes(10), 0)

    response = patch_chunk(
        admin_client, first.headers["Location"], random_bytes(10), 20
    )

    assert response.status_code == 416, describe(response)
    assert admin_client.get(location).headers.get("Range") == "0-9"


def test_chunk_resume_after_416(admin_client: httpx.Client) -> None:
    """After a 416 the client reads the offset from GET and resumes there."""
    repository = unique_repository()
    data = random_bytes(2000)
    location = start_upload(admin_client, repository).headers["Location"]
    patch_chunk(admin_client, location, data[:1000], 0)
    rejected = patch_chunk(admin_client, location, data[500:], 500)

    status = admin_client.get(location)
    offset = int(status.headers["Range"].split("-")[1]) + 1
    resumed = patch_chunk(
        admin_client, status.headers["Location"], data[offset:], offset
    )
    done = admin_client.put(
        resumed.headers["Location"], params={"digest": digest_of(data)}
    )

    assert rejected.status_code == 416, describe(rejected)
    assert offset == 1000
    assert done.status_code == 201, describe(done)
    assert_blob_stored(admin_client, repository, data)


def test_put_chunk_wrong_offset(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes(2000)
    location = start_upload(admin_client, repository).headers["Location"]
    patch_chunk(admin_client, location, data[:1000], 0)

    response = admin_client.put(
        location,
        params={"digest": digest_of(data)},
        content=data[1500:],
        headers={**OCTET_STREAM, "Content-Range": f"1500-{len(data) - 1}"},
    )

    assert response.status_code == 416, describe(response)
    assert admin_client.get(location).headers.get("Range") == "0-999"


def test_chunk_range_length_mismatch(admin_client: httpx.Client) -> None:
    """A Content-Range that disagrees with the body length is rejected as SIZE_INVALID."""
    location = start_upload(admin_client, unique_repository()).headers["Location"]

    response = admin_client.patch(
        location,
        content=random_bytes(5),
        headers={**OCTET_STREAM, "Content-Range": "0-9"},
    )

    assert_error(response, 400, "SIZE_INVALID")
    assert admin_client.get(location).headers.get("Range") == "0-0"


@pytest.mark.parametrize("content_range", ["0-", "-9", "nine", "0 - 9", "0-9-19"])
def test_chunk_range_malformed(admin_client: httpx.Client, content_range: str) -> None:
    """The spec requires a chunk's Content-Range to match `^[0-9]+-[0-9]+$`."""
    location = start_upload(admin_client, unique_repository()).headers["Location"]

    response = admin_client.patch(
        location,
        content=random_bytes(10),
        headers={**OCTET_STREAM, "Content-Range": content_range},
    )

    assert_error(response, 400, "BLOB_UPLOAD_INVALID")
    assert admin_client.get(location).headers.get("Range") == "0-0"


# Digest and size checks


def test_digest_mismatch_monolithic(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    claimed = digest_of(random_bytes())

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": claimed}, content=data
    )

    assert_error(response, 400, "DIGEST_INVALID")
    assert_blob_absent(admin_client, repository, claimed)
    assert_blob_absent(admin_client, repository, digest_of(data))


def test_digest_mismatch_put(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    claimed = digest_of(random_bytes())
    location = start_upload(admin_client, repository).headers["Location"]

    response = admin_client.put(location, params={"digest": claimed}, content=data)

    assert_error(response, 400, "DIGEST_INVALID")
    assert_blob_absent(admin_client, repository, claimed)
    assert_blob_absent(admin_client, repository, digest_of(data))


def test_digest_mismatch_chunked(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes(2000)
    claimed = digest_of(data[:1999])
    location = start_upload(admin_client, repository).headers["Location"]
    patched = patch_chunk(admin_client, location, data, 0)

    response = admin_client.put(patched.headers["Location"], params={"digest": claimed})

    assert_error(response, 400, "DIGEST_INVALID")
    assert_blob_absent(admin_client, repository, claimed)
    assert_blob_absent(admin_client, repository, digest_of(data))


def test_digest_algorithm_mismatch(admin_client: httpx.Client) -> None:
    """A sha512 digest whose value is not the sha512 of the content is rejected."""
    repository = unique_repository()
    data = random_bytes()
    claimed = "sha512:" + digest_of(data).split(":")[1] * 2

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": claimed}, content=data
    )

    assert_error(response, 400, "DIGEST_INVALID")
    assert_blob_absent(admin_client, repository, digest_of(data))


def test_digest_unknown_algorithm(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": "md5:" + "0" * 32},
        content=data,
    )

    assert response.status_code == 400, describe(response)
    assert {"UNSUPPORTED", "DIGEST_INVALID"} & set(error_codes(response)), describe(
        response
    )
    assert "md5" in error_messages(response), describe(response)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:xyz",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha256" + "a" * 64,
        ":" + "a" * 64,
        "sha256:",
        "sha256:../../../../etc/passwd",
        "not-a-digest",
    ],
)
def test_digest_malformed(admin_client: httpx.Client, digest: str) -> None:
    repository = unique_repository()

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest},
        content=random_bytes(),
    )

    assert_error(response, 400, "DIGEST_INVALID")


def test_put_without_digest(admin_client: httpx.Client) -> None:
    """The closing PUT must name the digest of the whole blob.

    The spec names no error code for a missing digest: distribution sends
    DIGEST_INVALID, and BLOB_UPLOAD_INVALID describes the request as well.
    """
    location = start_upload(admin_client, unique_repository()).headers["Location"]

    response = admin_client.put(location, content=random_bytes())

    assert response.status_code == 400, describe(response)
    assert {"DIGEST_INVALID", "BLOB_UPLOAD_INVALID"} & set(error_codes(response)), (
        describe(response)
    )
    assert admin_client.get(location).status_code == 204


def test_upload_usable_after_bad_digest(admin_client: httpx.Client) -> None:
    """A PUT rejected for a malformed digest leaves the session open for a correct one."""
    repository = unique_repository()
    data = random_bytes()
    location = start_upload(admin_client, repository).headers["Location"]
    patched = patch_chunk(admin_client, location, data, 0)
    rejected = admin_client.put(
        patched.headers["Location"], params={"digest": "sha256:xyz"}
    )

    response = admin_client.put(
        patched.headers["Location"], params={"digest": digest_of(data)}
    )

    assert_error(rejected, 400, "DIGEST_INVALID")
    assert response.status_code == 201, describe(response)
    assert_blob_stored(admin_client, repository, data)


def test_size_mismatch(registry: RunningRegistry) -> None:
    """A body shorter than its Content-Length is rejected as SIZE_INVALID and not stored."""
    repository = unique_repository()
    data = random_bytes(100)
    digest = digest_of(data)
    head = "\r\n".join(
        [
            f"POST /v2/{repository}/blobs/uploads/?digest={digest} HTTP/1.1",
            f"Host: {registry.host}",
            f"Authorization: {admin_authorization()}",
            "Content-Type: application/octet-stream",
            "Content-Length: 200",
            "Connection: close",
        ]
    )

    response = send_raw(registry.host, head, data)

    assert response.status == 400, response.head
    assert b"SIZE_INVALID" in response.body, response.body


def test_monolithic_post_without_length(admin_client: httpx.Client) -> None:
    """A single-POST upload must carry Content-Length, so a chunked body is rejected."""
    repository = unique_repository()
    data = random_bytes()

    def body() -> Iterator[bytes]:
        yield data

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest_of(data)},
        content=body(),
        headers=OCTET_STREAM,
    )

    assert response.status_code == 400, describe(response)
    assert error_codes(response), describe(response)
    assert_blob_absent(admin_client, repository, digest_of(data))
