"""Harbor-compatible `/api/v2.0` route that copies an artifact between repositories.

`POST /projects/{p}/repositories/{r}/artifacts?from=project/repository:tag`
(or `@digest`) copies with `registry.copy`. Checks run in order: the
target permission (the route guard), pull permission in the source
project, the source project's vulnerability gate on every image the copy
brings, and then one transaction copies and audits.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, registry_of
from seawall.api.errors import HarborCode, HarborError, conflict, not_found
from seawall.api.repositories import REPOSITORY_PATH, repository_name_of, require
from seawall.audit import AuditOperation, record
from seawall.context import RegistryContext
from seawall.policy import Action, Permission, Resource
from seawall.registry import copy as copying
from seawall.registry.names import project_of
from seawall.scan.gate import evaluate as gate_evaluate
from seawall.scan.service import queue_scan
from seawall.security import check_project, project_facts

logger = structlog.get_logger(__name__)

router = APIRouter()

CreateArtifact = Annotated[ProjectAccess, require(Resource.ARTIFACT, Action.CREATE)]
# Needed in the source project of a copy.
PULL = Permission(Resource.REPOSITORY, Action.PULL)


@router.post(f"{REPOSITORY_PATH}/artifacts", status_code=201, response_class=Response)
async def copy_artifact(
    request: Request,
    access: CreateArtifact,
    repository_name: str,
    source_name: Annotated[str, Query(alias="from")],
) -> Response:
    """Copy the artifact `from` names (`project/repository:tag` or `@digest`) here.

    The caller needs `repository:pull` in the source project, and a source
    it may not read is reported as not found, like a missing one. The
    source project's vulnerability gate checks every image the copy brings,
    as it would check their pulls.
    """
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    source = copying.parse_source(source_name)
    await _require_source_pull(request, access, source, source_name)
    manifests = await run_in_threadpool(_source_manifests, registry, source)
    await _enforce_source_gate(registry, source, manifests)
    context = audit_context(request, access.principal)

    def store() -> copying.CopyResult:
        with registry.db.session() as session:
            result = copying.copy_artifact(session, source.repository, name, manifests)
            _audit_copy(session, context, name, source_name, result)
            return result

    try:
        result = await run_in_threadpool(store)
    except copying.SourceChanged as exc:
        raise conflict(exc.message) from exc
    registry.metadata_changed()
    logger.info(
        "artifact copied",
        source=source_name,
        repository=name,
        digest=result.digest,
        created=result.created,
        tags=result.tags,
    )
    # NOTE: a copy queues a scan as a push does, but generates no SBOMs, even
    # when the target project generates them on push.
    after_copy = BackgroundTasks()
    after_copy.add_task(
        queue_scan,
        registry.scans,
        registry.db,
        name,
        result.digest,
        trigger="copy",
        only_auto_scan=True,
    )
    location = f"{_raw_path(request)}/{result.digest}"
    return Response(
        status_code=201, headers={"Location": location}, background=after_copy
    )


async def _require_source_pull(
    request: Request,
    access: ProjectAccess,
    source: copying.CopySource,
    source_name: str,
) -> None:
    registry = registry_of(request)
    project = await project_facts(registry, project_of(source.repository))
    if project is not None:
        decision = await check_project(registry, access.principal, project, PULL)
        if decision.allowed:
            return
        logger.info(
            "copy source denied",
            user=access.principal.username,
            source=source_name,
            reason=decision.reason,
        )
    raise not_found(
        f"artifact {source_name} not found; check the name and your pull "
        "permission in its project"
    )


def _source_manifests(
    registry: RegistryContext, source: copying.CopySource
) -> list[copying.SourceManifest]:
    with registry.db.session(read_only=True) as session:
        return copying.source_manifests(session, source)


async def _enforce_source_gate(
    registry: RegistryContext,
    source: copying.CopySource,
    manifests: list[copying.SourceManifest],
) -> None:
    """Reject the copy when the source project's gate would reject a pull of an image."""
    project = project_of(source.repository)
    for manifest in manifests:
        outcome = await run_in_threadpool(
            gate_evaluate,
            registry.db,
            registry.store,
            project,
            manifest.digest,
            manifest.media_type,
        )
        if not outcome.allowed:
            logger.info(
                "copy rejected by the vulnerability gate",
                repository=source.repository,
                digest=manifest.digest,
                reason=outcome.reason,
            )
            raise HarborError(
                HarborCode.PRECONDITION, outcome.message or outcome.reason
            )


def _audit_copy(
    session: Session,
    context: dict[str, str],
    target: str,
    source_name: str,
    result: copying.CopyResult,
) -> None:
    """Record the copied artifact, every other artifact it created, and each tag."""
    for digest in dict.fromkeys([result.digest, *result.created]):
        record(
            session,
            **context,
            operation=AuditOperation.CREATE,
            resource_type="artifact",
            resource=f"{target}@{digest}",
            reason=f"copied from {source_name}",
        )
    for tag in result.tags:
        record(
            session,
            **context,
            operation=AuditOperation.CREATE,
            resource_type="tag",
            resource=f"{target}:{tag}",
            reason=f"copied from {source_name}",
        )


def _raw_path(request: Request) -> str:
    # The path as the client encoded it, so that a repository name sent as
    # `team%252Fapp` stays encoded twice in the Location header.
    raw_path = request.scope.get("raw_path")
    if isinstance(raw_path, bytes):
        return raw_path.decode("latin-1").rstrip("/")
    return quote(request.url.path).rstrip("/")
