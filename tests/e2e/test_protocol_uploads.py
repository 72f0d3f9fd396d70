"""Protocol tests for blob upload sessions: monolithic, chunked and streamed uploads.

Range headers in upload replies are inclusive byte positions, so after N
bytes the registry reports `Range: 0-<N-1>`. A session that contains no bytes
yet reports `0-0`, as the reference implementation (distribution) does.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.e2e.protocol_helpers import (
    OCTET_STREAM,
    assert_blob_absent,
    assert_blob_stored,
    assert_error,
    describe,
    digest_of,
    patch_chunk,
    push_blob,
    random_bytes,
    start_upload,
    unique_repository,
)

# Monolithic uploads


def test_monolithic_post(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    digest = digest_of(data)

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers=OCTET_STREAM,
    )

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == digest
    assert "Location" in response.headers, describe(response)
    assert_blob_stored(admin_client, repository, data)


def test_monolithic_post_location(admin_client: httpx.Client) -> None:
    """The Location of a finished upload is a URL the blob can be pulled from."""
    repository = unique_repository()
    data = random_bytes()

    posted = admin_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest_of(data)},
        content=data,
        headers=OCTET_STREAM,
    )
    response = admin_client.get(posted.headers["Location"])

    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_post_then_put(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    digest = digest_of(data)
    location = start_upload(admin_client, repository).headers["Location"]

    response = admin_client.put(
        location, params={"digest": digest}, content=data, headers=OCTET_STREAM
    )

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == digest
    assert admin_client.get(response.headers["Location"]).content == data
    assert_blob_stored(admin_client, repository, data)


def test_upload_session_headers(admin_client: httpx.Client) -> None:
    response = start_upload(admin_client, unique_repository())

    upload_id = response.headers.get("Docker-Upload-UUID", "")
    assert upload_id, describe(response)
    assert upload_id in response.headers["Location"]
    assert response.headers.get("Range") == "0-0"


def test_upload_sessions_distinct(admin_client: httpx.Client) -> None:
    repository = unique_repository()

    first = start_upload(admin_client, repository)
    second = start_upload(admin_client, repository)

    assert first.headers["Docker-Upload-UUID"] != second.headers["Docker-Upload-UUID"]


def test_upload_empty_blob(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    location = start_upload(admin_client, repository).headers["Location"]

    response = admin_client.put(
        location, params={"digest": digest_of(b"")}, content=b""
    )

    assert response.status_code == 201, describe(response)
    assert_blob_stored(admin_client, repository, b"")


def test_upload_existing_blob(admin_client: httpx.Client) -> None:
    """Pushing content that the repository already contains succeeds again."""
    repository = unique_repository()
    data = random_bytes()
    push_blob(admin_client, repository, data)

    push_blob(admin_client, repository, data)

    assert_blob_stored(admin_client, repository, data)


def test_upload_sha512_monolithic(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    digest = digest_of(data, "sha512")

    response = admin_client.post(
        f"/v2/{repository}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers=OCTET_STREAM,
    )

    assert response.status_code == 201, describe(response)
    assert response.headers.get("Docker-Content-Digest") == digest
    assert admin_client.get(f"/v2/{repository}/blobs/{digest}").content == data


def test_upload_sha512_chunked(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes(3000)
    digest = digest_of(data, "sha512")
    location = start_upload(admin_client, repository).headers["Location"]
    patched = patch_chunk(admin_client, location, data[:1000], 0)

    response = admin_client.put(
        patched.headers["Location"], params={"digest": digest}, content=data[1000:]
    )

    assert response.status_code == 201, describe(response)
    assert admin_client.get(f"/v2/{repository}/blobs/{digest}").content == data


# Chunked and streamed uploads


def test_chunked_upload(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes(3000)
    location = start_upload(admin_client, repository).headers["Location"]

    first = patch_chunk(admin_client, location, data[:1000], 0)
    second = patch_chunk(admin_client, first.headers["Location"], data[1000:], 1000)
    done = admin_client.put(
        second.headers["Location"], params={"digest": digest_of(data)}
    )

    assert first.status_code == 202, describe(first)
    assert first.headers.get("Range") == "0-999"
    assert second.status_code == 202, describe(second)
    assert second.headers.get("Range") == "0-2999"
    assert done.status_code == 201, describe(done)
    assert done.headers.get("Docker-Content-Digest") == digest_of(data)
    assert_blob_stored(admin_client, repository, data)


def test_chunked_patch_headers(admin_client: httpx.Client) -> None:
    session = start_upload(admin_client, unique_repository())

    response = patch_chunk(
        admin_client, session.headers["Location"], random_bytes(10), 0
    )

    assert response.status_code == 202, describe(response)
    assert "Location" in response.headers, describe(response)
    assert (
        response.headers.get("Docker-Upload-UUID")
        == session.headers["Docker-Upload-UUID"]
    )


def test_chunked_final_chunk_in_put(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes(3000)
    location = start_upload(admin_client, repository).headers["Location"]
    patched = patch_chunk(admin_client, location, data[:1000], 0)

    response = admin_client.put(
        patched.headers["Location"],
        params={"digest": digest_of(data)},
        content=data[1000:],
        headers={**OCTET_STREAM, "Content-Range": f"1000-{len(data) - 1}"},
    )

    assert response.status_code == 201, describe(response)
    assert_blob_stored(admin_client, repository, data)


def test_chunked_one_byte_chunks(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes(5)
    location = start_upload(admin_client, repository).headers["Location"]

    ranges = []
    for offset in range(len(data)):
        response = patch_chunk(
            admin_client, location, data[offset : offset + 1], offset
        )
        assert response.status_code == 202, describe(response)
        ranges.append(response.headers.get("Range"))
        location = response.headers["Location"]
    done = admin_client.put(location, params={"digest": digest_of(data)})

    assert ranges == ["0-0", "0-1", "0-2", "0-3", "0-4"]
    assert done.status_code == 201, describe(done)
    assert_blob_stored(admin_client, repository, data)


def test_patch_empty_body(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]
    patch_chunk(admin_client, location, random_bytes(10), 0)

    response = admin_client.patch(location, content=b"", headers=OCTET_STREAM)

    assert response.status_code == 202, describe(response)
    assert response.headers.get("Range") == "0-9"


def test_streamed_patch(admin_client: httpx.Client) -> None:
    """A PATCH without Content-Range appends its whole body to the session."""
    repository = unique_repository()
    data = random_bytes(3000)
    location = start_upload(admin_client, repository).headers["Location"]

    first = admin_client.patch(location, content=data[:1200], headers=OCTET_STREAM)
    second = admin_client.patch(
        first.headers["Location"], content=data[1200:], headers=OCTET_STREAM
    )
    done = admin_client.put(
        second.headers["Location"], params={"digest": digest_of(data)}
    )

    assert first.status_code == 202, describe(first)
    assert first.headers.get("Range") == "0-1199"
    assert second.status_code == 202, describe(second)
    assert second.headers.get("Range") == "0-2999"
    assert done.status_code == 201, describe(done)
    assert_blob_stored(admin_client, repository, data)


def test_streamed_patch_chunked_encoding(admin_client: httpx.Client) -> None:
    """A streamed PATCH may arrive with chunked transfer encoding and no Content-Length."""
    repository = unique_repository()
    data = random_bytes(200_000)
    location = start_upload(admin_client, repository).headers["Location"]

    def body() -> Iterator[bytes]:
        for offset in range(0, len(data), 65_536):
            yield data[offset : offset + 65_536]

    patched = admin_client.patch(location, content=body(), headers=OCTET_STREAM)
    done = admin_client.put(
        patched.headers["Location"], params={"digest": digest_of(data)}
    )

    assert patched.status_code == 202, describe(patched)
    assert patched.headers.get("Range") == f"0-{len(data) - 1}"
    assert done.status_code == 201, describe(done)
    assert_blob_stored(admin_client, repository, data)


def test_upload_incomplete_invisible(admin_client: httpx.Client) -> None:
    """Bytes of an open session are not a blob until the closing PUT verifies them."""
    repository = unique_repository()
    push_blob(admin_client, repository, random_bytes())
    data = random_bytes()
    location = start_upload(admin_client, repository).headers["Location"]
    patch_chunk(admin_client, location, data, 0)

    assert_blob_absent(admin_client, repository, digest_of(data))


def test_upload_status(admin_client: httpx.Client) -> None:
    session = start_upload(admin_client, unique_repository())
    patched = patch_chunk(
        admin_client, session.headers["Location"], random_bytes(100), 0
    )

    response = admin_client.get(patched.headers["Location"])

    assert response.status_code == 204, describe(response)
    assert response.headers.get("Range") == "0-99"
    assert "Location" in response.headers, describe(response)
    assert (
        response.headers.get("Docker-Upload-UUID")
        == session.headers["Docker-Upload-UUID"]
    )


def test_upload_status_empty(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]

    response = admin_client.get(location)

    assert response.status_code == 204, describe(response)
    assert response.headers.get("Range") == "0-0"


# Cancelled, finished and foreign sessions


def test_upload_cancel(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]
    patch_chunk(admin_client, location, random_bytes(10), 0)

    response = admin_client.delete(location)

    assert response.status_code == 204, describe(response)
    assert_error(admin_client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_cancelled_patch(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]
    admin_client.delete(location)

    response = patch_chunk(admin_client, location, random_bytes(10), 0)

    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_cancelled_put(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    data = random_bytes()
    location = start_upload(admin_client, repository).headers["Location"]
    admin_client.delete(location)

    response = admin_client.put(
        location, params={"digest": digest_of(data)}, content=data
    )

    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_blob_absent(admin_client, repository, digest_of(data))


def test_upload_cancel_twice(admin_client: httpx.Client) -> None:
    location = start_upload(admin_client, unique_repository()).headers["Location"]
    admin_client.delete(location)

    response = admin_client.delete(location)

    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_finished_session(admin_client: httpx.Client) -> None:
    """A session closed by a successful PUT cannot be read or written again."""
    repository = unique_repository()
    data = random_bytes()
    location = start_upload(admin_client, repository).headers["Location"]
    admin_client.put(location, params={"digest": digest_of(data)}, content=data)

    status = admin_client.get(location)
    patched = patch_chunk(admin_client, location, random_bytes(10), len(data))

    assert_error(status, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patched, 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_unknown_session(admin_client: httpx.Client) -> None:
    repository = unique_repository()
    push_blob(admin_client, repository, random_bytes())
    path = f"/v2/{repository}/blobs/uploads/6a1e4c1b-0f0b-4b8e-9b5a-5c0d7f1e2a3b"

    assert_error(admin_client.get(path), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(admin_client, path, b"x", 0), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(admin_client.delete(path), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_session_other_repository(admin_client: httpx.Client) -> None:
    """An upload session belongs to the repository that opened it."""
    owner = unique_repository()
    other = unique_repository()
    push_blob(admin_client, other, random_bytes())
    session = start_upload(admin_client, owner)
    upload_id = session.headers["Docker-Upload-UUID"]
    data = random_bytes()
    foreign = f"/v2/{other}/blobs/uploads/{upload_id}"

    status = admin_client.get(foreign)
    committed = admin_client.put(
        foreign, params={"digest": digest_of(data)}, content=data
    )

    assert_error(status, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(committed, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_blob_absent(admin_client, other, digest_of(data))
    assert admin_client.get(session.headers["Location"]).status_code == 204
