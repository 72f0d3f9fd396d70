"""Blob reads and deletes: `/v2/<name>/blobs/<digest>`."""

from __future__ import annotations

import os
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from seawall.context import RegistryContext
from seawall.oci.access import authorize, context
from seawall.oci.errors import ErrorCode, OciError
from seawall.policy import Action
from seawall.registry.blobs import require_linked_blob, unlink_blob
from seawall.registry.errors import BlobNotFound
from seawall.registry.names import to_digest
from seawall.registry.repositories import require_repository
from seawall.storage import Digest

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _stat_blob(registry: RegistryContext, name: str, digest: Digest) -> os.stat_result:
    with registry.db.session() as session:
        require_linked_blob(session, name, digest)
    try:
        return os.stat(registry.store.blob_path(digest))
    except FileNotFoundError:
        raise BlobNotFound(str(digest)) from None


def check_range(header: str | None, size: int) -> None:
    """Raise a 416 error unless `header` is absent or one satisfiable byte range."""
    if header is None:
        return
    match = _RANGE_RE.match(header.strip())
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


async def get_blob(request: Request) -> Response:
    name = request.path_params["name"]
    access = await authorize(request, name, Action.PULL)
    digest = to_digest(request.path_params["digest"])
    registry = context(request)
    stat = await run_in_threadpool(_stat_blob, registry, access.repository, digest)
    check_range(request.headers.get("range"), stat.st_size)
    return FileResponse(
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


async def delete_blob(request: Request) -> Response:
    access = await authorize(request, request.path_params["name"], Action.DELETE)
    digest = to_digest(request.path_params["digest"])
    await run_in_threadpool(_delete_blob, context(request), access.repository, digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest)})


routes = [
    Route("/v2/{name:path}/blobs/{digest}", get_blob, methods=["GET", "HEAD"]),
    Route("/v2/{name:path}/blobs/{digest}", delete_blob, methods=["DELETE"]),
]
