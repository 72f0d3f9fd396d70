"""Listings: tags, the catalog and referrers."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall.oci.access import PULL, authenticate, authorize, context
from seawall.oci.errors import ErrorCode, OciError
from seawall.oci.pagination import next_link, page_params
from seawall.policy import catalog_scope
from seawall.registry.listings import list_referrers, list_repositories, list_tags
from seawall.registry.media_types import OCI_INDEX
from seawall.registry.names import to_digest
from seawall.routing import guarded
from seawall.security import visible_project_ids


@guarded("repository:pull")
async def tags_list(request: Request) -> Response:
    name = request.path_params["name"]
    access = await authorize(request, name, PULL)
    registry = context(request)
    size, last = page_params(request)

    def load() -> list[str]:
        with registry.db.session(read_only=True) as session:
            return list_tags(session, access.repository, size + 1, last)

    tags = await run_in_threadpool(load)
    page = tags[:size]
    headers = next_link(f"/v2/{name}/tags/list", size, page, len(tags) > size)
    return JSONResponse({"name": name, "tags": page}, headers=headers)


@guarded("filtered: repositories the caller may pull")
async def catalog(request: Request) -> Response:
    principal = await authenticate(request)
    registry = context(request)
    size, last = page_params(request)
    scope = catalog_scope(principal, await visible_project_ids(registry, principal))

    def load() -> list[str]:
        with registry.db.session(read_only=True) as session:
            return list_repositories(session, scope, size + 1, last)

    names = await run_in_threadpool(load)
    page = names[:size]
    headers = next_link("/v2/_catalog", size, page, len(names) > size)
    return JSONResponse({"repositories": page}, headers=headers)


@guarded("repository:pull")
async def referrers(request: Request) -> Response:
    name = request.path_params["name"]
    access = await authorize(request, name, PULL)
    subject = to_digest(request.path_params["digest"])
    artifact_type = request.query_params.get("artifactType")
    if artifact_type is not None and "\x00" in artifact_type:
        raise OciError(
            ErrorCode.UNSUPPORTED,
            "invalid artifactType: contains a NUL character",
            status=400,
        )
    registry = context(request)

    def load() -> list[dict[str, object]]:
        with registry.db.session(read_only=True) as session:
            return list_referrers(session, access.repository, subject, artifact_type)

    descriptors = await run_in_threadpool(load)
    headers = (
        {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
    )
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return JSONResponse(body, media_type=OCI_INDEX, headers=headers)


routes = [
    Route("/v2/_catalog", catalog, methods=["GET"]),
    Route("/v2/{name:path}/tags/list", tags_list, methods=["GET"]),
    Route("/v2/{name:path}/referrers/{digest}", referrers, methods=["GET"]),
]
