"""Blob uploads: `/v2/<name>/blobs/uploads/` and each upload session."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from seawall.oci.access import PULL, PUSH, Access, authorize, context
from seawall.oci.numbers import parse_decimal
from seawall.registry.blobs import find_linked_blob, link_blob
from seawall.registry.errors import SizeInvalid, UploadInvalid
from seawall.registry.names import check_repository_name, to_digest
from seawall.registry.repositories import ensure_repository
from seawall.registry.uploads import UploadState
from seawall.routing import guarded
from seawall.storage import Digest

logger = structlog.get_logger(__name__)

_CONTENT_RANGE_RE = re.compile(
    r"(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})(?:/(?:[0-9]{1,19}|\*))?"
)

# Advice for a client whose request body stalled, ending the error message.
_RESUME_HINT = (
    "the upload keeps the bytes it had before this request; GET the upload URL "
    "for its current offset and send the rest from there"
)
_DISCARDED_HINT = "the upload was discarded; push the blob again"


def _upload_headers(name: str, state: UploadState) -> dict[str, str]:
    end = max(state.size - 1, 0)
    return {
        "Location": f"/v2/{name}/blobs/uploads/{state.upload_id}",
        "Docker-Upload-UUID": state.upload_id,
        "Range": f"0-{end}",
    }


def _blob_created(name: str, digest: Digest) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": str(digest),
        },
    )


def _required_length(request: Request) -> int:
    """Return the Content-Length of a single-request upload, which must be sent."""
    value = request.headers.get("content-length")
    if value is None:
        raise SizeInvalid(
            "Content-Length header is required for a single-request upload; "
            "send the blob size, or upload in chunks with POST then PATCH"
        )
    length = parse_decimal(value)
    if length is None:
        raise SizeInvalid(f"Content-Length {value!r} is not a non-negative integer")
    return length


def _optional_length(request: Request) -> int | None:
    """Return the Content-Length if sent, rejecting a malformed one."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    length = parse_decimal(value)
    if length is None:
        raise SizeInvalid(f"Content-Length {value!r} is not a non-negative integer")
    return length


async def _body(
    request: Request, upload_id: str, retry_hint: str
) -> AsyncIterator[bytes]:
    """Yield the request body, turning a client that went away or stalled into an error.

    Each chunk must arrive within the body idle timeout. A client that stops
    sending but keeps its connection open would otherwise hold the upload's
    file lock for as long as the connection lasts. `retry_hint` ends the
    error message with what the client can do next. A client that stays
    stalled gets the error once the access middleware gives up draining the
    rest of the body, with `Connection: close`.
    """
    idle_timeout = context(request).settings.upload_body_idle_timeout_seconds
    chunks = request.stream()
    received = 0
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(chunks, None)
        except ClientDisconnect:
            raise SizeInvalid(
                "the client closed the connection before the body ended"
            ) from None
        except TimeoutError:
            raise _body_stalled(upload_id, idle_timeout, received, retry_hint) from None
        if chunk is None:
            return
        received += len(chunk)
        yield chunk


def _body_stalled(
    upload_id: str, idle_timeout: float, received: int, retry_hint: str
) -> UploadInvalid:
    message = (
        f"request body stalled: no data arrived for {idle_timeout:g} s after "
        f"{received} bytes of this request, so the request was aborted; {retry_hint}"
    )
    logger.warning(
        "upload request aborted",
        upload=upload_id,
        reason="request body stalled",
        idle_timeout_seconds=idle_timeout,
        received=received,
    )
    return UploadInvalid(
        message,
        {
            "upload": upload_id,
            "received": received,
            "idle_timeout_seconds": idle_timeout,
        },
    )


@guarded("repository:push")
async def start_upload(request: Request) -> Response:
    name = request.path_params["name"]
    access = await authorize(request, name, PUSH)
    registry = context(request)
    mount = request.query_params.get("mount")
    if mount is not None:
        mounted = await _try_mount(
            request, access, mount, request.query_params.get("from")
        )
        if mounted is not None:
            return _blob_created(name, mounted)
    digest_param = request.query_params.get("digest")
    digest = to_digest(digest_param) if digest_param is not None else None
    length = _required_length(request) if digest is not None else None
    state = await run_in_threadpool(
        registry.uploads.start, name, access.project.project_id
    )
    if digest is None:
        return Response(status_code=202, headers=_upload_headers(name, state))
    try:
        body = _body(request, state.upload_id, _DISCARDED_HINT)
        await registry.uploads.append(state, body, length=length)
        await run_in_threadpool(registry.uploads.commit, state, digest)
    except BaseException:
        await run_in_threadpool(registry.uploads.discard, state.upload_id)
        raise
    return _blob_created(name, digest)


async def _try_mount(
    request: Request, access: Access, mount: str, source: str | None
) -> Digest | None:
    """Link a blob from `source` into the target repository if the caller may read it."""
    digest = to_digest(mount)
    if not source:
        return None
    try:
        check_repository_name(source)
        await authorize(request, source, PULL)
    except Exception:
        return None
    registry = context(request)

    def link() -> bool:
        with registry.db.session() as session:
            blob = find_linked_blob(session, source, digest)
            if blob is None:
                return False
            link_blob(session, ensure_repository(session, access.repository), blob)
            return True

    return digest if await run_in_threadpool(link) else None


@guarded("repository:push")
async def upload_status(request: Request) -> Response:
    name = request.path_params["name"]
    await authorize(request, name, PUSH)
    registry = context(request)
    state = await run_in_threadpool(
        registry.uploads.state, name, request.path_params["upload_id"]
    )
    return Response(status_code=204, headers=_upload_headers(name, state))


def _content_range(
    request: Request, length: int | None
) -> tuple[int | None, int | None]:
    """Return the chunk's start offset and length from `Content-Range`, if sent."""
    header = request.headers.get("content-range")
    if header is None:
        return None, length
    match = _CONTENT_RANGE_RE.fullmatch(header.strip())
    if match is None:
        raise UploadInvalid(f"invalid Content-Range {header!r}: expected START-END")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise UploadInvalid(f"invalid Content-Range {header!r}: end is before start")
    chunk_length = end - start + 1
    if length is not None and length != chunk_length:
        raise SizeInvalid(
            f"Content-Range {header!r} covers {chunk_length} bytes "
            f"but Content-Length is {length}"
        )
    return start, chunk_length


@guarded("repository:push")
async def patch_upload(request: Request) -> Response:
    name = request.path_params["name"]
    await authorize(request, name, PUSH)
    registry = context(request)
    upload_id = request.path_params["upload_id"]
    declared = _optional_length(request)
    async with registry.uploads.lock(upload_id):
        state = await run_in_threadpool(registry.uploads.state, name, upload_id)
        start, expected = _content_range(request, declared)
        body = _body(request, upload_id, _RESUME_HINT)
        size = await registry.uploads.append(state, body, start, expected)
    state = UploadState(state.upload_id, name, size)
    return Response(status_code=202, headers=_upload_headers(name, state))


@guarded("repository:push")
async def finish_upload(request: Request) -> Response:
    name = request.path_params["name"]
    await authorize(request, name, PUSH)
    registry = context(request)
    upload_id = request.path_params["upload_id"]
    digest_param = request.query_params.get("digest")
    if digest_param is None:
        raise UploadInvalid("digest query parameter is required to complete an upload")
    digest = to_digest(digest_param)
    declared = _optional_length(request)
    async with registry.uploads.lock(upload_id):
        state = await run_in_threadpool(registry.uploads.state, name, upload_id)
        if declared != 0:
            start, expected = _content_range(request, declared)
            body = _body(request, upload_id, _RESUME_HINT)
            size = await registry.uploads.append(state, body, start, expected)
            state = UploadState(state.upload_id, name, size)
        await run_in_threadpool(registry.uploads.commit, state, digest)
    return _blob_created(name, digest)


@guarded("repository:push")
async def cancel_upload(request: Request) -> Response:
    name = request.path_params["name"]
    await authorize(request, name, PUSH)
    registry = context(request)
    await run_in_threadpool(
        registry.uploads.cancel, name, request.path_params["upload_id"]
    )
    return Response(status_code=204)


routes = [
    Route("/v2/{name:path}/blobs/uploads/", start_upload, methods=["POST"]),
    Route("/v2/{name:path}/blobs/uploads/{upload_id}", upload_status, methods=["GET"]),
    Route("/v2/{name:path}/blobs/uploads/{upload_id}", patch_upload, methods=["PATCH"]),
    Route("/v2/{name:path}/blobs/uploads/{upload_id}", finish_upload, methods=["PUT"]),
    Route(
        "/v2/{name:path}/blobs/uploads/{upload_id}", cancel_upload, methods=["DELETE"]
    ),
]
