"""Harbor's per-key project metadata routes: `/projects/{p}/metadatas/`.

Each request adds, changes or deletes exactly one key. Only the keys a
project owner may set are accepted here: the boolean switches and
`severity`. Values are stored as Harbor stores them, booleans as "true"
or "false" and severities in lower case.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, project_guard, registry_of
from seawall.api.errors import HarborError, bad_request, conflict, not_found
from seawall.audit import AuditOperation, record
from seawall.db.models import Project
from seawall.policy import Action, Permission, Resource
from seawall.registry import projects
from seawall.registry.errors import RegistryError

router = APIRouter()

can_create_metadata = project_guard(Permission(Resource.METADATA, Action.CREATE))
can_delete_metadata = project_guard(Permission(Resource.METADATA, Action.DELETE))
can_list_metadata = project_guard(Permission(Resource.METADATA, Action.LIST))
can_read_metadata = project_guard(Permission(Resource.METADATA, Action.READ))
can_update_metadata = project_guard(Permission(Resource.METADATA, Action.UPDATE))

MetadataBody = dict[str, str]


def _harbor_error(exc: RegistryError) -> HarborError:
    if isinstance(exc, projects.MetadataExists):
        return conflict(exc.message)
    if isinstance(exc, projects.ProjectInvalid):
        return bad_request(exc.message)
    return not_found(exc.message)


def _editable_pair(values: MetadataBody) -> tuple[str, str]:
    try:
        return projects.editable_pair(values)
    except projects.ProjectInvalid as exc:
        raise bad_request(exc.message) from exc


async def _read_metadata(request: Request, access: ProjectAccess) -> MetadataBody:
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name

    def load() -> MetadataBody:
        with registry.db.session(read_only=True) as session:
            project = projects.require_project(session, project_id, name)
            return projects.metadata_of(project)

    try:
        return await run_in_threadpool(load)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc


async def _change_metadata(
    request: Request,
    access: ProjectAccess,
    operation: AuditOperation,
    key: str,
    change: Callable[[Project], None],
) -> None:
    """Apply `change` to the project in one transaction with its audit record."""
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    context = audit_context(request, access.principal)

    def store() -> None:
        with registry.db.session() as session:
            project = projects.require_project(session, project_id, name)
            change(project)
            record(
                session,
                **context,
                operation=operation,
                resource_type="project-metadata",
                resource=f"{name}/{key}",
            )

    try:
        await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()


@router.get("/projects/{project_name_or_id}/metadatas/", response_model=MetadataBody)
async def list_project_metadata(
    request: Request,
    access: ProjectAccess = Depends(can_list_metadata),
) -> MetadataBody:
    """Return every metadata key of the project with its value."""
    return await _read_metadata(request, access)


@router.post("/projects/{project_name_or_id}/metadatas/", response_class=Response)
async def add_project_metadata(
    request: Request,
    body: MetadataBody,
    access: ProjectAccess = Depends(can_create_metadata),
) -> Response:
    """Add one metadata key, or reply 409 if the project has it already."""
    key, value = _editable_pair(body)

    def add(project: Project) -> None:
        projects.add_metadata(project, key, value)

    await _change_metadata(request, access, AuditOperation.CREATE, key, add)
    return Response(status_code=200)


@router.get(
    "/projects/{project_name_or_id}/metadatas/{meta_name}", response_model=MetadataBody
)
async def get_project_metadata(
    request: Request,
    meta_name: str,
    access: ProjectAccess = Depends(can_read_metadata),
) -> MetadataBody:
    """Return one metadata key as `{key: value}`, or 404 if the project lacks it."""
    metadata = await _read_metadata(request, access)
    if meta_name not in metadata:
        raise not_found(
            f"metadata {meta_name} not found in project {access.project.name}"
        )
    return {meta_name: metadata[meta_name]}


@router.put(
    "/projects/{project_name_or_id}/metadatas/{meta_name}", response_class=Response
)
async def update_project_metadata(
    request: Request,
    meta_name: str,
    body: MetadataBody,
    access: ProjectAccess = Depends(can_update_metadata),
) -> Response:
    """Set one metadata key from `{meta_name: value}` in the body."""
    if meta_name not in body:
        raise bad_request(f"the request body must contain the key {meta_name!r}")
    key, value = _editable_pair({meta_name: body[meta_name]})

    def update(project: Project) -> None:
        projects.set_metadata(project, {key: value})

    await _change_metadata(request, access, AuditOperation.UPDATE, key, update)
    return Response(status_code=200)


@router.delete(
    "/projects/{project_name_or_id}/metadatas/{meta_name}", response_class=Response
)
async def delete_project_metadata(
    request: Request,
    meta_name: str,
    access: ProjectAccess = Depends(can_delete_metadata),
) -> Response:
    """Remove one metadata key, or reply 404 if the project lacks it."""

    def remove(project: Project) -> None:
        projects.delete_metadata(project, meta_name)

    await _change_metadata(request, access, AuditOperation.DELETE, meta_name, remove)
    return Response(status_code=200)
