"""Manifests by tag or digest: `/v2/<name>/manifests/<reference>`."""

from __future__ import annotations

import structlog
from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from seawall.audit import AuditOperation, record
from seawall.audit.context import audit_context
from seawall.context import CACHEABLE_MANIFEST_BYTES, CachedManifest, RegistryContext
from seawall.oci.access import (
    DELETE_ARTIFACT,
    DELETE_TAG,
    PULL,
    PUSH,
    Access,
    authorize,
    context,
)
from seawall.oci.gate import enforce_gate
from seawall.oci.numbers import parse_decimal
from seawall.registry import media_types
from seawall.registry.errors import ManifestNotFound, ManifestTooLarge, SizeInvalid
from seawall.registry.manifests import delete_manifest, put_manifest, resolve_manifest
from seawall.registry.names import check_tag, is_digest_reference, to_digest
from seawall.routing import guarded
from seawall.scan.sbom_service import sbom_on_push
from seawall.scan.service import queue_scan
from seawall.storage import parse_digest

logger = structlog.get_logger(__name__)


def _load_manifest(
    registry: RegistryContext, name: str, reference: str
) -> CachedManifest:
    with registry.db.session(read_only=True) as session:
        record = resolve_manifest(session, name, reference)
    body = registry.store.read_blob(parse_digest(record.digest))
    return CachedManifest(record.digest, record.media_type, body)


async def _manifest(request: Request, name: str, reference: str) -> CachedManifest:
    registry = context(request)
    if is_digest_reference(reference):
        to_digest(reference)
    else:
        check_tag(reference)
    epoch = registry.epoch.current()
    key = (name, reference)
    cached = registry.manifests.get(key, epoch)
    if cached is not None:
        return cached
    manifest = await run_in_threadpool(_load_manifest, registry, name, reference)
    if len(manifest.body) <= CACHEABLE_MANIFEST_BYTES:
        registry.manifests.put(key, epoch, manifest)
    return manifest


def _scanner_token(access: Access) -> bool:
    """True for a scanner's token: its reads are not pulls, as in Harbor."""
    token = access.principal.token_access
    return token is not None and (access.repository, "scanner-pull") in token


@guarded("repository:pull")
async def get_manifest(request: Request) -> Response:
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    access = await authorize(request, name, PULL)
    manifest = await _manifest(request, name, reference)
    await enforce_gate(request, access, reference, manifest)
    if request.method == "GET" and not _scanner_token(access):
        tag = None if is_digest_reference(reference) else reference
        context(request).pulls.record(access.repository, manifest.digest, tag)
    # Clients such as skopeo send one Accept header per media type.
    accept = ", ".join(request.headers.getlist("accept"))
    if not media_types.accepts(accept, manifest.media_type):
        # As distribution does: a manifest the client cannot accept is reported
        # as unknown, so the client can try another reference.
        raise ManifestNotFound(name, reference)
    headers = {
        "Docker-Content-Digest": manifest.digest,
        "Content-Length": str(len(manifest.body)),
        "ETag": f'"{manifest.digest}"',
    }
    if request.method == "HEAD":
        return Response(
            status_code=200, media_type=manifest.media_type, headers=headers
        )
    return Response(manifest.body, media_type=manifest.media_type, headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes:
    header = request.headers.get("content-length")
    length = parse_decimal(header) if header is not None else None
    if header is not None and length is None:
        raise SizeInvalid(f"Content-Length {header!r} is not a non-negative integer")
    if length is not None and length > limit:
        raise ManifestTooLarge(
            f"manifest is {length} bytes; the limit is {limit} bytes"
        )
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ManifestTooLarge(f"manifest exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise SizeInvalid(
            "the client closed the connection before the body ended"
        ) from None
    body = b"".join(chunks)
    if length is not None and length != len(body):
        raise SizeInvalid(
            f"received {len(body)} bytes but Content-Length declared {length}"
        )
    return body


@guarded("repository:push")
async def put_manifest_route(request: Request) -> Response:
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    access = await authorize(request, name, PUSH)
    registry = context(request)
    body = await _read_limited(request, registry.settings.max_manifest_bytes)
    content_type = request.headers.get("content-type")

    def store() -> tuple[str, str | None]:
        with registry.db.session() as session:
            result = put_manifest(
                session,
                registry.store,
                access.repository,
                reference,
                body,
                content_type,
            )
            record(
                session,
                **audit_context(request, access.principal),
                operation=AuditOperation.CREATE,
                resource_type="artifact",
                resource=f"{access.repository}:{reference}@{result.digest}",
            )
        registry.metadata_changed()
        return result.digest, result.subject

    digest, subject = await run_in_threadpool(store)
    logger.info(
        "manifest stored",
        repository=access.repository,
        reference=reference,
        digest=digest,
        user=access.principal.username,
    )
    headers = {
        "Location": f"/v2/{name}/manifests/{digest}",
        "Docker-Content-Digest": digest,
    }
    if subject is not None:
        headers["OCI-Subject"] = subject
    after_push = BackgroundTasks()
    after_push.add_task(
        queue_scan,
        registry.scans,
        registry.db,
        access.repository,
        digest,
        trigger="push",
        only_auto_scan=True,
    )
    after_push.add_task(sbom_on_push, registry, access.repository, digest)
    return Response(status_code=201, headers=headers, background=after_push)


@guarded("artifact:delete or tag:delete")
async def delete_manifest_route(request: Request) -> Response:
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    permission = DELETE_ARTIFACT if is_digest_reference(reference) else DELETE_TAG
    access = await authorize(request, name, permission)
    registry = context(request)

    def remove() -> None:
        with registry.db.session() as session:
            delete_manifest(session, access.repository, reference)
            record(
                session,
                **audit_context(request, access.principal),
                operation=AuditOperation.DELETE,
                resource_type="artifact" if is_digest_reference(reference) else "tag",
                resource=f"{access.repository}:{reference}",
            )
        registry.metadata_changed()

    await run_in_threadpool(remove)
    return Response(status_code=202)


routes = [
    Route(
        "/v2/{name:path}/manifests/{reference}", get_manifest, methods=["GET", "HEAD"]
    ),
    Route("/v2/{name:path}/manifests/{reference}", put_manifest_route, methods=["PUT"]),
    Route(
        "/v2/{name:path}/manifests/{reference}",
        delete_manifest_route,
        methods=["DELETE"],
    ),
]
