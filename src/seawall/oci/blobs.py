"""Blob reads and deletes: `/v2/<name>/blobs/<digest>`."""

from __future__ import annotations

import asyncio
import os
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from seawall.context import RegistryContext
from seawall.oci.access import DELETE_BLOB, PULL, authorize, context
from seawall.oci.errors import ErrorCode, OciError
from seawall.oci.gate import enforce_blob_gate
from seawall.registry.blobs import require_linked_blob, unlink_blob
from seawall.registry.errors import BlobNotFound
from seawall.registry.names import to_digest
from seawall.registry.repositories import require_repository
from seawall.routing import guarded
from seawall.storage import Digest

_RANGE_RE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")


def _stat_blob(registry: RegistryContext, name: str, digest: Digest) -> os.stat_result:
    with registry.db.session(read_only=True) as session:
        require_linked_blob(session, name, digest)
    try:
        return os.stat(registry.store.blob_path(digest))
    except FileNotFoundError:
        raise BlobNotFound(str(digest)) from None


def check_range(header: str | None, size: int) -> bool:
    """Return whether to serve `header` as a range, or raise a 416 error.

    Following RFC 9110, a unit other than bytes and a request for several
    ranges are ignored, so the whole blob is sent. A single byte range
    that is malformed or starts past the end gets 416.
    """
    if header is None:
        return False
    value = header.strip().lower()
    if not value.startswith("bytes=") or "," in value:
        return False
    match = _RANGE_RE.fullmatch(value)
    error = OciError(
        ErrorCode.SIZE_INVALID,
        f"range {header!r} cannot be served: the blob has {size} bytes; "
        "send one range as bytes=START-END",
        {"size": size},
        status=416,
        headers={"Content-Range": f"bytes */{size}"},
    )
    if match is None:
        raise error
    first, last = match.groups()
    if not first and not last:
        raise error
    if first:
        start = int(first)
        if start >= size or (last and int(last) < start):
            raise error
    elif int(last) == 0:
        raise error
    return True


READ_CHUNK_BYTES = 4 * 1024 * 1024


class _WholeFileResponse(FileResponse):
    """A whole blob, read in large chunks while the previous chunk is sent.

    Granian's own file sending reads 128 KiB at a time; 4 MiB reads on a
    worker thread, overlapped with sending, move a large blob faster. The
    request's Range header is ignored.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        with open(self.path, "rb", buffering=0) as file:  # noqa: ASYNC230
            pending = asyncio.ensure_future(
                run_in_threadpool(file.read, READ_CHUNK_BYTES)
            )
            while True:
                chunk = await pending
                if not chunk:
                    break
                pending = asyncio.ensure_future(
                    run_in_threadpool(file.read, READ_CHUNK_BYTES)
                )
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
        await send({"type": "http.response.body", "body": b""})


@guarded("repository:pull")
async def get_blob(request: Request) -> Response:
    name = request.path_params["name"]
    access = await authorize(request, name, PULL)
    digest = to_digest(request.path_params["digest"])
    registry = context(request)
    stat = await run_in_threadpool(_stat_blob, registry, access.repository, digest)
    if request.method == "GET":
        await enforce_blob_gate(request, access, str(digest))
    use_range = check_range(request.headers.get("range"), stat.st_size)
    response_class = FileResponse if use_range else _WholeFileResponse
    return response_class(
        registry.store.blob_path(digest),
        stat_result=stat,
        media_type="application/octet-stream",
        headers={
            "Docker-Content-Digest": str(digest),
            "Accept-Ranges": "bytes",
            "ETag": f'"{digest}"',
        },
    )


def _delete_blob(registry: RegistryContext, name: str, digest: Digest) -> None:
    with registry.db.session() as session:
        repository = require_repository(session, name)
        unlink_blob(session, repository, digest)


@guarded("repository:delete")
async def delete_blob(request: Request) -> Response:
    access = await authorize(request, request.path_params["name"], DELETE_BLOB)
    digest = to_digest(request.path_params["digest"])
    await run_in_threadpool(_delete_blob, context(request), access.repository, digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest)})


routes = [
    Route("/v2/{name:path}/blobs/{digest}", get_blob, methods=["GET", "HEAD"]),
    Route("/v2/{name:path}/blobs/{digest}", delete_blob, methods=["DELETE"]),
]
