"""Protocol tests for pulling, checking and deleting blobs (`/v2/<name>/blobs/<digest>`)."""

from __future__ import annotations

import httpx

from tests.e2e.protocol_helpers import (
    assert_error,
    describe,
    digest_of,
    push_blob,
    random_bytes,
    unique_repository,
)

SIZE = 4096


def pushed_blob(client: httpx.Client, size: int = SIZE) -> tuple[str, bytes, str]:
    """Push `size` random bytes to a new repository and return (repository, data, digest)."""
    repository = unique_repository()
    data = random_bytes(size)
    return repository, data, push_blob(client, repository, data)


def test_blob_get(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 200, describe(response)
    assert response.content == data
    assert response.headers.get("Docker-Content-Digest") == digest
    assert response.headers.get("Content-Length") == str(SIZE)


def test_blob_get_accept_ranges(admin_client: httpx.Client) -> None:
    repository, _, digest = pushed_blob(admin_client)

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 200, describe(response)
    assert response.headers.get("Accept-Ranges") == "bytes"


def test_blob_head(admin_client: httpx.Client) -> None:
    repository, _, digest = pushed_blob(admin_client)

    response = admin_client.head(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 200, describe(response)
    assert response.content == b""
    assert response.headers.get("Docker-Content-Digest") == digest
    assert response.headers.get("Content-Length") == str(SIZE)
    assert response.headers.get("Accept-Ranges") == "bytes"


def test_blob_empty(admin_client: httpx.Client) -> None:
    """A zero-byte blob is valid content with a well-known digest."""
    repository = unique_repository()
    digest = push_blob(admin_client, repository, b"")

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 200, describe(response)
    assert response.content == b""
    assert response.headers.get("Content-Length") == "0"
    assert response.headers.get("Docker-Content-Digest") == digest_of(b"")


def test_blob_sha512(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    digest = push_blob(admin_client, repository, data, algorithm="sha512")

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 200, describe(response)
    assert response.content == data
    assert response.headers.get("Docker-Content-Digest") == digest


def test_blob_range_middle(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=10-19"}
    )

    assert response.status_code == 206, describe(response)
    assert response.content == data[10:20]
    assert response.headers.get("Content-Range") == f"bytes 10-19/{SIZE}"
    assert response.headers.get("Content-Length") == "10"


def test_blob_range_first_byte(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=0-0"}
    )

    assert response.status_code == 206, describe(response)
    assert response.content == data[:1]
    assert response.headers.get("Content-Range") == f"bytes 0-0/{SIZE}"


def test_blob_range_open_ended(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=4000-"}
    )

    assert response.status_code == 206, describe(response)
    assert response.content == data[4000:]
    assert response.headers.get("Content-Range") == f"bytes 4000-{SIZE - 1}/{SIZE}"


def test_blob_range_suffix(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=-5"}
    )

    assert response.status_code == 206, describe(response)
    assert response.content == data[-5:]
    assert (
        response.headers.get("Content-Range") == f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}"
    )


def test_blob_range_end_clamped(admin_client: httpx.Client) -> None:
    """RFC 9110 section 14.1.2: a last position past the end means the end of the content."""
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=4090-999999"}
    )

    assert response.status_code == 206, describe(response)
    assert response.content == data[4090:]
    assert response.headers.get("Content-Range") == f"bytes 4090-{SIZE - 1}/{SIZE}"


def test_blob_range_end_beyond_any_size_clamped(admin_client: httpx.Client) -> None:
    """A last position of more digits than any file size still means the end."""
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=100-" + "9" * 25}
    )

    assert response.status_code == 206, describe(response)
    assert response.content == data[100:]
    assert response.headers.get("Content-Range") == f"bytes 100-{SIZE - 1}/{SIZE}"


def test_blob_range_across_read_chunks(admin_client: httpx.Client) -> None:
    """A range that spans several server reads returns exactly its bytes."""
    size = 9 * 1024 * 1024 + 7
    repository, data, digest = pushed_blob(admin_client, size)
    start, last = 4 * 1024 * 1024 - 3, 8 * 1024 * 1024 + 5

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": f"bytes={start}-{last}"}
    )

    assert response.status_code == 206, describe(response)
    assert response.headers.get("Content-Length") == str(last - start + 1)
    assert response.content == data[start : last + 1]


def test_blob_range_head(admin_client: httpx.Client) -> None:
    repository, _, digest = pushed_blob(admin_client)

    response = admin_client.head(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=10-19"}
    )

    assert response.status_code == 206, describe(response)
    assert response.headers.get("Content-Length") == "10"
    assert response.headers.get("Content-Range") == f"bytes 10-19/{SIZE}"
    assert response.content == b""


def test_blob_range_if_range_matching(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)
    headers = {"Range": "bytes=10-19", "If-Range": f'"{digest}"'}

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}", headers=headers)

    assert response.status_code == 206, describe(response)
    assert response.content == data[10:20]


def test_blob_range_if_range_other_tag(admin_client: httpx.Client) -> None:
    """RFC 9110 section 13.1.5: a validator that does not match means the whole blob."""
    repository, data, digest = pushed_blob(admin_client)
    headers = {"Range": "bytes=10-19", "If-Range": '"something-else"'}

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}", headers=headers)

    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_blob_range_unsatisfiable(admin_client: httpx.Client) -> None:
    repository, _, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": f"bytes={SIZE}-"}
    )

    assert response.status_code == 416, describe(response)
    assert response.headers.get("Content-Range") == f"bytes */{SIZE}"


def test_blob_range_malformed(admin_client: httpx.Client) -> None:
    """RFC 9110 section 14.2 lets a server ignore (200) or reject (416) an invalid range."""
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=ten-twenty"}
    )

    assert response.status_code in {200, 416}, describe(response)
    if response.status_code == 200:
        assert response.content == data


def test_blob_range_other_unit_ignored(admin_client: httpx.Client) -> None:
    """RFC 9110 section 14.2: an origin server must ignore a range unit it does not know."""
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "items=0-5"}
    )

    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_blob_range_multiple(admin_client: httpx.Client) -> None:
    """RFC 9110 section 14.2: a server that does not serve several ranges ignores the header.

    Sending the whole blob (200) or a multipart reply (206) are both correct.
    A 416 is not, because both ranges lie inside the blob.
    """
    repository, data, digest = pushed_blob(admin_client)

    response = admin_client.get(
        f"/v2/{repository}/blobs/{digest}", headers={"Range": "bytes=0-1,5-6"}
    )

    assert response.status_code in {200, 206}, describe(response)
    if response.status_code == 200:
        assert response.content == data


def test_blob_unknown(admin_client: httpx.Client) -> None:
    repository, _, _ = pushed_blob(admin_client)

    response = admin_client.get(f"/v2/{repository}/blobs/{digest_of(random_bytes())}")

    assert_error(response, 404, "BLOB_UNKNOWN")


def test_blob_head_unknown(admin_client: httpx.Client) -> None:
    repository, _, _ = pushed_blob(admin_client)

    response = admin_client.head(f"/v2/{repository}/blobs/{digest_of(random_bytes())}")

    assert response.status_code == 404, describe(response)
    assert response.content == b""


def test_blob_unknown_repository(admin_client: httpx.Client) -> None:
    response = admin_client.get(
        f"/v2/{unique_repository()}/blobs/{digest_of(random_bytes())}"
    )

    assert response.status_code == 404, describe(response)


def test_blob_other_repository(admin_client: httpx.Client) -> None:
    """A blob pushed to one repository is not readable through another."""
    _, _, digest = pushed_blob(admin_client)
    other, _, _ = pushed_blob(admin_client)

    get = admin_client.get(f"/v2/{other}/blobs/{digest}")
    head = admin_client.head(f"/v2/{other}/blobs/{digest}")

    assert_error(get, 404, "BLOB_UNKNOWN")
    assert head.status_code == 404, describe(head)


def test_blob_delete(admin_client: httpx.Client) -> None:
    repository, _, digest = pushed_blob(admin_client)

    response = admin_client.delete(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 202, describe(response)
    assert_error(
        admin_client.get(f"/v2/{repository}/blobs/{digest}"), 404, "BLOB_UNKNOWN"
    )
    assert admin_client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404


def test_blob_delete_twice(admin_client: httpx.Client) -> None:
    repository, _, digest = pushed_blob(admin_client)
    first = admin_client.delete(f"/v2/{repository}/blobs/{digest}")

    second = admin_client.delete(f"/v2/{repository}/blobs/{digest}")

    assert first.status_code == 202, describe(first)
    assert_error(second, 404, "BLOB_UNKNOWN")


def test_blob_delete_unknown(admin_client: httpx.Client) -> None:
    repository, _, _ = pushed_blob(admin_client)

    response = admin_client.delete(
        f"/v2/{repository}/blobs/{digest_of(random_bytes())}"
    )

    assert_error(response, 404, "BLOB_UNKNOWN")


def test_blob_delete_keeps_other_repository(admin_client: httpx.Client) -> None:
    """Deleting a blob unlinks it from one repository, not from every repository holding it."""
    first, data, digest = pushed_blob(admin_client)
    second = unique_repository()
    push_blob(admin_client, second, data)

    deleted = admin_client.delete(f"/v2/{first}/blobs/{digest}")
    response = admin_client.get(f"/v2/{second}/blobs/{digest}")

    assert deleted.status_code == 202, describe(deleted)
    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_blob_repush_after_delete(admin_client: httpx.Client) -> None:
    repository, data, digest = pushed_blob(admin_client)
    deleted = admin_client.delete(f"/v2/{repository}/blobs/{digest}")
    push_blob(admin_client, repository, data)

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert deleted.status_code == 202, describe(deleted)
    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_blob_large(admin_client: httpx.Client) -> None:
    """A blob larger than typical read buffers round-trips intact."""
    repository, data, digest = pushed_blob(admin_client, size=9 * 1024 * 1024 + 7)

    response = admin_client.get(f"/v2/{repository}/blobs/{digest}")

    assert response.status_code == 200, describe(response)
    assert digest_of(response.content) == digest
    assert len(response.content) == len(data)
