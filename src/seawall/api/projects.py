"""Harbor-compatible `/api/v2.0` routes for projects.

The per-key metadata routes live in `api.project_metadata` and are
included in this router. Project names and metadata are validated in
`registry.projects`. A project's own CVE allowlist is stored from
`cve_allowlist` on create and update (shape and checks in
`api.allowlists`), and the metadata key `reuse_sys_cve_allowlist` decides
whether the pull gate applies it or the system list. Quotas are not
enforced yet, so a valid `storage_limit` is accepted and not stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api import project_metadata
from seawall.api.allowlists import (
    AUDIT_RESOURCE_TYPE,
    CVEAllowlist,
    allowlist_body,
    allowlist_of,
    audit_summary,
)
from seawall.api.audit import audit_context
from seawall.api.deps import (
    ProjectAccess,
    authenticated,
    project_guard,
    public_route,
    registry_of,
)
from seawall.api.errors import (
    HarborCode,
    HarborError,
    bad_request,
    conflict,
    forbidden,
    not_found,
)
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import Term, apply_query, apply_sort, parse_query
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.auth import members as memberships
from seawall.context import RegistryContext
from seawall.policy import (
    Action,
    Permission,
    ProjectRole,
    Resource,
    SystemResource,
    catalog_scope,
    evaluate,
    evaluate_system,
)
from seawall.policy.rbac import highest_role
from seawall.registry import projects
from seawall.registry.errors import RegistryError
from seawall.scan import allowlists
from seawall.scan.allowlists import Allowlist
from seawall.security import visible_project_ids

logger = structlog.get_logger(__name__)

router = APIRouter()

can_delete_project = project_guard(Permission(Resource.PROJECT, Action.DELETE))
can_read_project = project_guard(Permission(Resource.PROJECT, Action.READ))
can_update_project = project_guard(Permission(Resource.PROJECT, Action.UPDATE))
router.include_router(project_metadata.router)

# Harbor's largest hard storage limit: 1024 TB, in bytes.
MAX_STORAGE_LIMIT = 1024 * 1024**4


def harbor_time(value: datetime) -> str:
    """Format a timestamp as Harbor does: UTC with milliseconds, "...T10:00:00.000Z"."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


class ProjectMetadata(BaseModel):
    """Harbor's project metadata: every value is a string such as "true"."""

    model_config = ConfigDict(extra="allow")

    public: str | None = None
    enable_content_trust: str | None = None
    enable_content_trust_cosign: str | None = None
    prevent_vul: str | None = None
    severity: str | None = None
    auto_scan: str | None = None
    auto_sbom_generation: str | None = None
    reuse_sys_cve_allowlist: str | None = None
    retention_id: str | None = None
    proxy_speed_kb: str | None = None


class ProjectReq(BaseModel):
    project_name: str | None = Field(default=None, max_length=projects.MAX_NAME_LENGTH)
    public: bool | None = Field(
        default=None, description="Deprecated: use metadata.public."
    )
    metadata: ProjectMetadata | None = None
    cve_allowlist: CVEAllowlist | None = None
    storage_limit: int | None = None
    registry_id: int | None = None


class Project(BaseModel):
    project_id: int
    owner_id: int | None = None
    name: str
    registry_id: int | None = None
    creation_time: str
    update_time: str
    deleted: bool = False
    owner_name: str | None = None
    togglable: bool | None = None
    current_user_role_id: int | None = None
    current_user_role_ids: list[int] | None = None
    repo_count: int
    metadata: ProjectMetadata | None = None
    cve_allowlist: CVEAllowlist | None = None


class ProjectDeletable(BaseModel):
    deletable: bool
    message: str | None = None


class ProjectSummary(BaseModel):
    repo_count: int
    project_admin_count: int | None = None
    maintainer_count: int | None = None
    developer_count: int | None = None
    guest_count: int | None = None
    limited_guest_count: int | None = None


def _harbor_error(exc: RegistryError) -> HarborError:
    if isinstance(exc, projects.ProjectExists):
        return conflict(exc.message)
    if isinstance(exc, projects.ProjectNotEmpty):
        return HarborError(HarborCode.PRECONDITION, exc.message)
    if isinstance(exc, projects.ProjectInvalid):
        return bad_request(exc.message)
    return not_found(exc.message)


def _metadata_values(metadata: ProjectMetadata | None) -> dict[str, str | None]:
    return metadata.model_dump() if metadata is not None else {}


def _allowlist_body(view: projects.ProjectView, allowlist: Allowlist) -> CVEAllowlist:
    """Return the project's own list; one never stored reports the project's times."""
    body = allowlist_body(allowlist)
    body.project_id = view.project_id
    body.creation_time = body.creation_time or harbor_time(view.created_at)
    body.update_time = body.update_time or harbor_time(view.updated_at)
    return body


def _project_body(
    view: projects.ProjectView,
    roles: frozenset[ProjectRole],
    allowlist: Allowlist | None = None,
) -> Project:
    """Return the project in Harbor's shape.

    With `allowlist` the body is the detailed one: owner name and allowlist.
    """
    body = Project(
        project_id=view.project_id,
        owner_id=view.owner_id,
        name=view.name,
        creation_time=harbor_time(view.created_at),
        update_time=harbor_time(view.updated_at),
        repo_count=view.repo_count,
        metadata=ProjectMetadata(**view.metadata),
    )
    if roles:
        body.current_user_role_ids = sorted(role.value for role in roles)
        strongest = highest_role(roles)
        body.current_user_role_id = strongest.value if strongest else None
    if allowlist is not None:
        body.owner_name = view.owner_name
        body.cve_allowlist = _allowlist_body(view, allowlist)
    return body


def _store_allowlist(
    session: Session,
    context: dict[str, str],
    project: tuple[int, str],
    allowlist: Allowlist,
    operation: AuditOperation,
) -> None:
    """Replace the project's own allowlist and audit the change."""
    project_id, name = project
    stored = allowlists.save_project(session, project_id, allowlist)
    record(
        session,
        **context,
        operation=operation,
        resource_type=AUDIT_RESOURCE_TYPE,
        resource=name,
        reason=audit_summary(stored),
    )


def _check_creator(registry: RegistryContext, principal: Principal) -> bool:
    """Raise 403 unless `principal` may create projects.

    Return whether it has the system permission `project:create`, as a
    system administrator does. A robot needs that permission, and a
    project-level robot can never create projects.
    """
    if principal.is_robot and principal.robot_project_id is not None:
        raise forbidden("Only system level robot can create project")
    system = evaluate_system(principal, SystemResource.PROJECT, "create")
    admin_only = registry.configuration.get("project_creation_restriction")
    if admin_only == "adminonly" and not system.allowed:
        logger.info("access denied", user=principal.username, reason=system.reason)
        raise forbidden("Only system admin can create project")
    if principal.is_robot and not system.allowed:
        logger.info("access denied", user=principal.username, reason=system.reason)
        raise forbidden(system.reason)
    return system.allowed


def _check_storage_limit(limit: int | None, admin: bool) -> None:
    # Harbor replaces a non-administrator's limit with the default, so only
    # an administrator's own limit is checked.
    if not admin or limit is None or limit in {0, -1}:
        return
    if limit < -1:
        raise bad_request("invalid non-positive value for quota limit")
    if limit > MAX_STORAGE_LIMIT:
        raise bad_request(
            f"storage_limit {limit} exceeds the maximum of {MAX_STORAGE_LIMIT} bytes"
        )


def _check_registry_id(registry_id: int | None, admin: bool) -> None:
    if registry_id is None:
        return
    if not admin:
        raise forbidden("Only system admin can create proxy cache project")
    if registry_id <= 0:
        raise bad_request(
            f"{registry_id} is invalid value of registry_id, it should be greater than 0"
        )
    raise bad_request(
        f"registry {registry_id} not found: proxy cache projects are not supported"
    )


@router.post("/projects", status_code=201, response_class=Response)
async def create_project(
    request: Request,
    body: ProjectReq,
    principal: Principal = Depends(authenticated),
) -> Response:
    """Create a project owned by the caller, who becomes its projectAdmin."""
    registry = registry_of(request)
    admin = _check_creator(registry, principal)
    _check_registry_id(body.registry_id, admin)
    _check_storage_limit(body.storage_limit, admin)
    name = body.project_name or ""
    try:
        metadata = projects.creation_metadata(
            _metadata_values(body.metadata), body.public
        )
        projects.check_project_name(name)
    except projects.ProjectInvalid as exc:
        raise bad_request(exc.message) from exc
    # Harbor ignores `project_id` in the allowlist of a project being created.
    allowlist = None
    if body.cve_allowlist is not None:
        allowlist = allowlist_of(body.cve_allowlist, None)
    context = audit_context(request, principal)

    def store() -> int:
        with registry.db.session() as session:
            owner_id = principal.user_id
            if principal.is_robot:
                owner_id = projects.first_sysadmin_id(session)
            if owner_id is None:
                raise RuntimeError("no system administrator exists to own the project")
            project = projects.create_project(session, name, owner_id, metadata)
            record(
                session,
                **context,
                operation=AuditOperation.CREATE,
                resource_type="project",
                resource=name,
            )
            if allowlist is not None:
                target = (project.id, name)
                _store_allowlist(
                    session, context, target, allowlist, AuditOperation.CREATE
                )
            return project.id

    try:
        project_id = await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    by_name = request.headers.get("x-resource-name-in-location", "").lower() == "true"
    location = f"{request.url.path.rstrip('/')}/{name if by_name else project_id}"
    return Response(status_code=201, headers={"Location": location})


@router.head("/projects", response_class=Response)
async def head_project(
    request: Request,
    project_name: str = Query(description="The project name to look for."),
    principal: Principal = Depends(authenticated),
) -> Response:
    """Return 200 when a project with this name exists, else 404."""
    registry = registry_of(request)

    def find() -> bool:
        with registry.db.session(read_only=True) as session:
            return projects.project_name_exists(session, project_name)

    if not await run_in_threadpool(find):
        raise not_found(f"project {project_name} not found")
    return Response(status_code=200)


def _split_terms(terms: list[Term]) -> tuple[list[Term], dict[str, str]]:
    """Separate the `public` and `owner` terms, which are not columns of a project."""
    remaining: list[Term] = []
    special: dict[str, str] = {}
    for term in terms:
        if term.key not in {"public", "owner"}:
            remaining.append(term)
            continue
        if term.kind != "exact":
            raise bad_request(f"query key {term.key!r} supports exact matches only")
        special[term.key] = term.values[0]
    return remaining, special


@router.get("/projects", response_model=list[Project], response_model_exclude_none=True)
async def list_projects(
    request: Request,
    response: Response,
    name: str | None = Query(None, description="Part of the project name."),
    public: bool | None = Query(None, description="Only public or only private."),
    owner: str | None = Query(None, description="Username of the project owner."),
    with_detail: bool = Query(True, description="Include owner name and allowlist."),
    principal: Principal = Depends(public_route),
) -> list[Project]:
    """List the projects the caller may see: public ones, and those it belongs to."""
    registry = registry_of(request)
    page = page_of(request)
    terms, special = _split_terms(parse_query(request.query_params.get("q")))
    sort = request.query_params.get("sort")
    if "public" in special and public is None:
        public = special["public"].lower() in {"true", "1"}
    member_ids = await visible_project_ids(registry, principal)

    def refine(statement: Select[Any]) -> Select[Any]:
        statement = apply_query(statement, terms, projects.QUERY_COLUMNS)
        return apply_sort(
            statement, sort, projects.QUERY_COLUMNS, projects.QUERY_COLUMNS["name"]
        )

    listing = projects.ProjectListing(
        scope=catalog_scope(principal, member_ids),
        offset=page.offset,
        limit=page.size,
        refine=refine,
        name=name,
        owner=owner or special.get("owner"),
        public=public,
    )

    def load() -> tuple[int, list[Project]]:
        with registry.db.session(read_only=True) as session:
            total, views = projects.list_projects(session, listing)
            roles: dict[int, frozenset[ProjectRole]] = {}
            if principal.user_id is not None:
                ids = [view.project_id for view in views]
                roles = memberships.roles_by_project(
                    session, principal.user_id, ids, principal.group_ids
                )
            lists: dict[int, Allowlist] = {}
            if with_detail:
                ids = [view.project_id for view in views]
                lists = allowlists.load_projects(session, ids)
            empty: frozenset[ProjectRole] = frozenset()
            return total, [
                _project_body(
                    view,
                    roles.get(view.project_id, empty),
                    lists.get(view.project_id),
                )
                for view in views
            ]

    total, bodies = await run_in_threadpool(load)
    set_page_headers(request, response, page, total)
    return bodies


async def _load_view(
    registry: RegistryContext, access: ProjectAccess
) -> projects.ProjectView:
    def load() -> projects.ProjectView:
        with registry.db.session(read_only=True) as session:
            return projects.load_project(
                session, access.project.project_id, access.project.name
            )

    try:
        return await run_in_threadpool(load)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc


@router.get(
    "/projects/{project_name_or_id}",
    response_model=Project,
    response_model_exclude_none=True,
)
async def get_project(
    request: Request,
    access: ProjectAccess = Depends(can_read_project),
) -> Project:
    """Return one project with its metadata, owner, allowlist and the caller's roles."""
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name

    def load() -> tuple[projects.ProjectView, Allowlist]:
        with registry.db.session(read_only=True) as session:
            view = projects.load_project(session, project_id, name)
            return view, allowlists.load_project(session, project_id)

    try:
        view, allowlist = await run_in_threadpool(load)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    return _project_body(view, access.roles, allowlist)


@router.put("/projects/{project_name_or_id}", response_class=Response)
async def update_project(
    request: Request,
    body: ProjectReq,
    access: ProjectAccess = Depends(can_update_project),
) -> Response:
    """Merge metadata into the project key by key, and replace its own allowlist.

    Metadata keys not sent stay unchanged, and so does the allowlist when
    `cve_allowlist` is not sent.
    """
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    requested = body.cve_allowlist
    if requested is not None and requested.project_id not in {None, 0, project_id}:
        raise bad_request(
            f"project_id in cve_allowlist must be {project_id} "
            f"but it's {requested.project_id}"
        )
    allowlist = None
    if requested is not None:
        allowlist = allowlist_of(requested, project_id)
    context = audit_context(request, access.principal)

    def store() -> bool:
        with registry.db.session() as session:
            project = projects.require_project(session, project_id, name)
            changes = projects.update_metadata(
                _metadata_values(body.metadata), projects.metadata_of(project)
            )
            projects.set_metadata(project, changes)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type="project",
                resource=name,
                reason=", ".join(f"{key}={value}" for key, value in changes.items()),
            )
            if allowlist is not None:
                target = (project_id, name)
                _store_allowlist(
                    session, context, target, allowlist, AuditOperation.UPDATE
                )
            return bool(changes) or allowlist is not None

    try:
        changed = await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    if changed:
        registry.metadata_changed()
    return Response(status_code=200)


@router.delete("/projects/{project_name_or_id}", response_class=Response)
async def delete_project(
    request: Request,
    access: ProjectAccess = Depends(can_delete_project),
) -> Response:
    """Delete an empty project with its members and robot accounts (412 if not empty)."""
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    context = audit_context(request, access.principal)

    def remove() -> projects.DeletedProject:
        with registry.db.session() as session:
            deleted = projects.delete_project(session, project_id, name)
            record(
                session,
                **context,
                operation=AuditOperation.DELETE,
                resource_type="project",
                resource=name,
            )
            return deleted

    try:
        deleted = await run_in_threadpool(remove)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    if deleted.robot_ids:
        registry.credentials_changed()
    else:
        registry.metadata_changed()
    return Response(status_code=200)


@router.get(
    "/projects/{project_name_or_id}/_deletable",
    response_model=ProjectDeletable,
    response_model_exclude_none=True,
)
async def get_project_deletable(
    request: Request,
    access: ProjectAccess = Depends(can_delete_project),
) -> ProjectDeletable:
    """Report whether the project can be deleted, and why not."""
    view = await _load_view(registry_of(request), access)
    if view.repo_count > 0:
        return ProjectDeletable(deletable=False, message=projects.NOT_EMPTY_MESSAGE)
    return ProjectDeletable(deletable=True)


@router.get(
    "/projects/{project_name_or_id}/summary",
    response_model=ProjectSummary,
    response_model_exclude_none=True,
)
async def get_project_summary(
    request: Request,
    access: ProjectAccess = Depends(can_read_project),
) -> ProjectSummary:
    """Return the repository count, and member counts to callers who may list members."""
    registry = registry_of(request)
    project_id = access.project.project_id
    may_list_members = evaluate(
        access.principal,
        access.project,
        access.roles,
        Permission(Resource.MEMBER, Action.LIST),
    ).allowed

    def load() -> ProjectSummary:
        with registry.db.session(read_only=True) as session:
            summary = ProjectSummary(
                repo_count=projects.repository_count(session, project_id)
            )
            if not may_list_members:
                return summary
            counts = memberships.role_counts(session, project_id)
            summary.project_admin_count = counts[ProjectRole.PROJECT_ADMIN]
            summary.maintainer_count = counts[ProjectRole.MAINTAINER]
            summary.developer_count = counts[ProjectRole.DEVELOPER]
            summary.guest_count = counts[ProjectRole.GUEST]
            summary.limited_guest_count = counts[ProjectRole.LIMITED_GUEST]
            return summary

    # TODO: report `quota` once quotas exist. Until then it is left out, as
    # Harbor does when quotas are turned off.
    return await run_in_threadpool(load)
