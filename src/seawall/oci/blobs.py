"""Blob reads and deletes: `/v2/<name>/blobs/<digest>`."""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

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

_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)")

# A position with more digits than this lies past the end of any file, and
# is not converted, so a header of thousands of digits costs nothing.
_MAX_POSITION_DIGITS = 18
_PAST_ANY_FILE: int = 10**_MAX_POSITION_DIGITS

READ_CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ByteRange:
    """The bytes `start` up to, not including, `end` of a blob."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def _stat_blob(registry: RegistryContext, name: str, digest: Digest) -> os.stat_result:
    with registry.db.session(read_only=True) as session:
        require_linked_blob(session, name, digest)
    try:
        return os.stat(registry.store.blob_path(digest))
    except FileNotFoundError:
        raise BlobNotFound(str(digest)) from None


def select_range(header: str | None, size: int) -> ByteRange | None:
    """Return the byte range of a `Range` header to send, or None for the whole blob.

    Following RFC 9110 section 14, a unit other than bytes and a request for
    several ranges are ignored, so the whole blob is sent. A last position
    past the end is cut to the end, and a suffix longer than the blob takes
    all of it. A single byte range that is malformed, starts past the end or
    ends before it starts raises `OciError` with status 416.
    """
    if header is None:
        return None
    value = header.strip().lower()
    if not value.startswith("bytes=") or "," in value:
        return None
    error = OciError(
        ErrorCode.SIZE_INVALID,
        f"range {header[:80]!r} cannot be served: the blob has {size} bytes; "
        "send one range as bytes=START-END",
        {"size": size},
        status=416,
        headers={"Content-Range": f"bytes */{size}"},
    )
    match = _RANGE_RE.fullmatch(value)
    if match is None:
        raise error
    first, last = match.groups()
    if first:
        start = _position(first)
        if start >= size:
            raise error
        if not last:
            return ByteRange(start, size)
        end = _position(last) + 1
        if end <= start:
            raise error
        return ByteRange(start, min(end, size))
    if not last:
        raise error
    suffix = _position(last)
    if suffix == 0:
        raise error
    if size == 0:
        # A suffix of an empty blob is satisfiable but has no bytes to
        # select, so the whole (empty) blob is sent with 200.
        return None
    return ByteRange(max(size - suffix, 0), size)


def _position(digits: str) -> int:
    """Convert a byte position, capping one that is past any file's end."""
    if len(digits.lstrip("0")) > _MAX_POSITION_DIGITS:
        return _PAST_ANY_FILE
    return int(digits)


class _BlobFileResponse(FileResponse):
    """A blob, or one byte range of it, read in large chunks while the previous one is sent.

    Granian's own file sending reads 128 KiB at a time; 4 MiB reads on a
    worker thread, overlapped with sending, move a large blob faster. The
    range is chosen by `select_range`, so the request's headers are not
    read again here.
    """

    def __init__(
        self,
        path: Path,
        *,
        stat_result: os.stat_result,
        span: ByteRange | None,
        headers: dict[str, str],
    ) -> None:
        super().__init__(
            path,
            stat_result=stat_result,
            media_type="application/octet-stream",
            headers=headers,
        )
        size = stat_result.st_size
        self.span = span if span is not None else ByteRange(0, size)
        if span is not None:
            self.status_code = 206
            self.headers["content-length"] = str(span.length)
            self.headers["content-range"] = f"bytes {span.start}-{span.end - 1}/{size}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers,
            }
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        with open(self.path, "rb", buffering=0) as file:  # noqa: ASYNC230
            remaining = self.span.length

            def read_next() -> bytes:
                return file.read(min(READ_CHUNK_BYTES, remaining))

            if self.span.start:
                file.seek(self.span.start)
            pending = asyncio.ensure_future(run_in_threadpool(read_next))
            while True:
                chunk = await pending
                remaining -= len(chunk)
                if not chunk or remaining <= 0:
                    break
                pending = asyncio.ensure_future(run_in_threadpool(read_next))
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
        await send({"type": "http.response.body", "body": chunk})


def _range_applies(request: Request, digest: Digest) -> bool:
    """Return whether an `If-Range` header, if any, still matches the blob.

    The ETag is the digest, so RFC 9110 section 13.1.5 needs only a strong
    comparison with it. A date or another tag means the whole blob.
    """
    condition = request.headers.get("if-range")
    return condition is None or condition.strip() == f'"{digest}"'


@guarded("repository:pull")
async def get_blob(request: Request) -> Response:
    name = request.path_params["name"]
    access = await authorize(request, name, PULL)
    digest = to_digest(request.path_params["digest"])
    registry = context(request)
    stat = await run_in_threadpool(_stat_blob, registry, access.repository, digest)
    if request.method == "GET":
        await enforce_blob_gate(request, access, str(digest))
    span = select_range(request.headers.get("range"), stat.st_size)
    if span is not None and not _range_applies(request, digest):
        span = None
    return _BlobFileResponse(
        registry.store.blob_path(digest),
        stat_result=stat,
        span=span,
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
