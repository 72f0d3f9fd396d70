"""Harbor-compatible `/api/v2.0` routes for repositories.

Repository names in paths are relative to the project and URL-encoded
twice when they contain a slash: `team/app` in project `demo` is sent as
`/projects/demo/repositories/team%252Fapp`. The server decodes the path
once and `repository_name_of` decodes the name a second time.

Every change commits, writes its audit record in the same transaction,
then bumps the metadata epoch, because `/v2/` caches manifests and tags.
The artifact and tag routes below a repository are in `api.artifacts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote

import structlog
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Select
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, project_guard, public_route, registry_of
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import Term, apply_query, apply_sort, parse_query
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.policy import Action, Permission, Resource, catalog_scope
from seawall.registry import artifacts
from seawall.registry.names import check_repository_name
from seawall.security import visible_project_ids

logger = structlog.get_logger(__name__)

router = APIRouter()

REPOSITORY_PATH = "/projects/{project_name}/repositories/{repository_name}"


def require(resource: Resource, action: Action) -> Any:
    """Return the dependency that checks `resource:action` in the path's project."""
    guard = project_guard(Permission(resource, action), parameter="project_name")
    return Depends(guard)


# Harbor checks `repository:list`, not `repository:read`, to show one repository.
ListRepositories = Annotated[ProjectAccess, require(Resource.REPOSITORY, Action.LIST)]
UpdateRepository = Annotated[ProjectAccess, require(Resource.REPOSITORY, Action.UPDATE)]
DeleteRepository = Annotated[ProjectAccess, require(Resource.REPOSITORY, Action.DELETE)]


class Repository(BaseModel):
    id: int
    project_id: int
    name: str = Field(description="Full name with the project: library/team/app")
    description: str = ""
    artifact_count: int
    pull_count: int = Field(
        0,
        description="Manifest GETs, written every few seconds; scanner reads not counted",
    )
    creation_time: datetime
    update_time: datetime


class RepositoryUpdate(BaseModel):
    description: str = ""


def repository_name_of(access: ProjectAccess, encoded: str) -> str:
    """Return the full repository name from the once-decoded path parameter."""
    name = f"{access.project.name}/{unquote(encoded)}"
    check_repository_name(name)
    return name


def refiner(
    terms: list[Term], sort: str | None, keys: dict[str, Any], default: Any
) -> artifacts.Refine:
    """Return a function that adds the `q` terms and `sort` order to a select."""

    def refine(statement: Select[Any]) -> Select[Any]:
        return apply_sort(apply_query(statement, terms, keys), sort, keys, default)

    return refine


def audit_fields(
    request: Request,
    principal: Principal,
    operation: str,
    resource_type: str,
    resource: str,
) -> dict[str, str]:
    """Return the keyword arguments of `seawall.audit.record` for one change."""
    return {
        **audit_context(request, principal),
        "operation": operation,
        "resource_type": resource_type,
        "resource": resource,
    }


def _repository_model(info: artifacts.RepositoryInfo) -> Repository:
    return Repository(
        id=info.id,
        project_id=info.project_id,
        name=info.name,
        description=info.description,
        artifact_count=info.artifact_count,
        pull_count=info.pull_count,
        creation_time=info.created_at,
        update_time=info.updated_at,
    )


@router.get("/repositories", response_model=list[Repository])
async def list_all_repositories(
    request: Request,
    response: Response,
    q: str | None = None,
    sort: str | None = None,
    principal: Principal = Depends(public_route),
) -> list[Repository]:
    """List the repositories of every project the caller may see.

    Anonymous callers see public projects, users also their member
    projects, robots the projects they hold grants in, and system
    administrators everything.
    """
    registry = registry_of(request)
    page = page_of(request)
    refine = refiner(
        parse_query(q), sort, artifacts.REPOSITORY_KEYS, artifacts.REPOSITORY_ORDER
    )
    scope = catalog_scope(principal, await visible_project_ids(registry, principal))

    def load() -> artifacts.ResultPage[artifacts.RepositoryInfo]:
        with registry.db.session(read_only=True) as session:
            return artifacts.list_repositories(
                session,
                scope=scope,
                project_id=None,
                refine=refine,
                offset=page.offset,
                limit=page.size,
            )

    result = await run_in_threadpool(load)
    set_page_headers(request, response, page, result.total)
    return [_repository_model(info) for info in result.items]


@router.get("/projects/{project_name}/repositories", response_model=list[Repository])
async def list_repositories(
    request: Request,
    access: ListRepositories,
    response: Response,
    q: str | None = None,
    sort: str | None = None,
) -> list[Repository]:
    """List the repositories of one project."""
    registry = registry_of(request)
    page = page_of(request)
    refine = refiner(
        parse_query(q), sort, artifacts.REPOSITORY_KEYS, artifacts.REPOSITORY_ORDER
    )

    def load() -> artifacts.ResultPage[artifacts.RepositoryInfo]:
        with registry.db.session(read_only=True) as session:
            return artifacts.list_repositories(
                session,
                scope=None,
                project_id=access.project.project_id,
                refine=refine,
                offset=page.offset,
                limit=page.size,
            )

    result = await run_in_threadpool(load)
    set_page_headers(request, response, page, result.total)
    return [_repository_model(info) for info in result.items]


@router.get(REPOSITORY_PATH, response_model=Repository)
async def get_repository(
    request: Request, access: ListRepositories, repository_name: str
) -> Repository:
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)

    def load() -> artifacts.RepositoryInfo:
        with registry.db.session(read_only=True) as session:
            return artifacts.get_repository(session, access.project.project_id, name)

    return _repository_model(await run_in_threadpool(load))


@router.put(REPOSITORY_PATH, response_class=Response)
async def update_repository(
    request: Request,
    access: UpdateRepository,
    repository_name: str,
    body: RepositoryUpdate,
) -> Response:
    """Update the repository's description."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    audit = audit_fields(
        request, access.principal, AuditOperation.UPDATE, "repository", name
    )

    def store() -> None:
        with registry.db.session() as session:
            artifacts.set_repository_description(
                session, access.project.project_id, name, body.description
            )
            record(session, **audit)

    await run_in_threadpool(store)
    registry.metadata_changed()
    return Response(status_code=200)


@router.delete(REPOSITORY_PATH, response_class=Response)
async def delete_repository(
    request: Request, access: DeleteRepository, repository_name: str
) -> Response:
    """Delete a repository with its artifacts and tags. Blob files stay in storage."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    audit = audit_fields(
        request, access.principal, AuditOperation.DELETE, "repository", name
    )

    def remove() -> int:
        with registry.db.session() as session:
            count = artifacts.delete_repository(
                session, access.project.project_id, name
            )
            record(session, **audit)
            return count

    count = await run_in_threadpool(remove)
    registry.metadata_changed()
    logger.info("repository deleted", repository=name, artifacts=count)
    return Response(status_code=200)
