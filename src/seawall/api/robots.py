"""Harbor's v2 robot account routes: `/robots` and `/robots/{robot_id}`.

The permission these routes need depends on the robot's level and project,
which come from the request body or the stored robot. So each route is
guarded by `authenticated` and then checks `robot:<action>` itself: at
system level for system robots, in the robot's project for project robots.
A robot that creates or edits robots may grant only permissions it has itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import MAX_PROJECT_ID, authenticated, deny, registry_of
from seawall.api.errors import (
    HarborCode,
    HarborError,
    bad_request,
    conflict,
    not_found,
)
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import Term, apply_query, apply_sort, parse_query
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.auth import robot_accounts as accounts
from seawall.context import RegistryContext
from seawall.db import models
from seawall.policy import (
    Action,
    Permission,
    ProjectFacts,
    Resource,
    SystemResource,
    evaluate,
    evaluate_system,
)
from seawall.security import facts_of, project_facts, roles_of

logger = structlog.get_logger(__name__)

# Robot ids are 32-bit columns; a larger id gets 422 instead of a database error.
RobotId = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter()

RESOURCE_TYPE = "robot"
_QUERY_KEYS = ("Level", "ProjectID", "name")
_SORT_COLUMNS = {
    "id": models.Robot.id,
    "name": models.Robot.name,
    "creation_time": models.Robot.created_at,
    "update_time": models.Robot.updated_at,
}


class Access(BaseModel):
    resource: str = Field("", description="The resource of the access")
    action: str = Field("", description="The action of the access")
    effect: str = Field(
        "allow", description='The effect of the access. Only "allow" is supported.'
    )


class RobotPermission(BaseModel):
    kind: str = Field(
        "", description='The kind of the permission: "system" or "project"'
    )
    namespace: str = Field(
        "",
        description='"/" for kind system. For kind project, a project name or "*" '
        "for every project.",
    )
    access: list[Access] = Field(default_factory=list)


class RobotCreate(BaseModel):
    """The request for robot account creation."""

    name: str = Field("", description="The name of the robot, without prefix")
    description: str = Field("", description="The description of the robot")
    secret: str | None = Field(
        None,
        description="Ignored, as in Harbor, because the registry generates the "
        "secret. Use PATCH /robots/{robot_id} to choose one.",
    )
    level: str = Field("", description='The level of the robot: "system" or "project"')
    disable: bool = Field(False, description="The disable status of the robot")
    duration: int | None = Field(
        None,
        description="The lifetime in days, -1 for never. The default is the "
        "robot_token_duration configuration.",
    )
    permissions: list[RobotPermission] = Field(default_factory=list)


class RobotCreated(BaseModel):
    """The response for robot account creation."""

    id: int
    name: str = Field(description="The login name, prefix included")
    secret: str = Field(description="The secret, shown only in this response")
    creation_time: datetime
    expires_at: int = Field(description="Unix seconds, or -1 for never")


class RobotSec(BaseModel):
    """The request and response of a secret refresh."""

    secret: str = Field(
        "",
        description="Empty to let the registry generate a secret. A chosen "
        "secret is not returned.",
    )


class Robot(BaseModel):
    """A robot account, also the body of an update request."""

    id: int | None = None
    name: str = Field("", description="The login name, prefix included")
    description: str = ""
    level: str = Field("", description='"system" or "project"')
    duration: int | None = Field(
        None, description="The lifetime in days from creation, -1 for never"
    )
    editable: bool = True
    disable: bool = False
    expires_at: int | None = Field(None, description="Unix seconds, or -1 for never")
    permissions: list[RobotPermission] = Field(default_factory=list)
    creation_time: datetime | None = None
    update_time: datetime | None = None


def _settings(
    description: str, duration: int, disable: bool, permissions: list[RobotPermission]
) -> accounts.RobotSettings:
    return accounts.RobotSettings(
        description=description,
        duration=duration,
        disabled=disable,
        permissions=tuple(
            accounts.PermissionEntry(
                kind=permission.kind,
                namespace=permission.namespace,
                access=tuple(
                    dict.fromkeys(
                        accounts.Access(
                            item.resource, item.action, item.effect or "allow"
                        )
                        for item in permission.access
                    )
                ),
            )
            for permission in permissions
        ),
    )


def _robot_body(view: accounts.RobotView) -> Robot:
    return Robot(
        id=view.id,
        name=view.name,
        description=view.description,
        level=view.level,
        duration=view.duration,
        editable=True,
        disable=view.disabled,
        expires_at=view.expires_at,
        permissions=[
            RobotPermission(
                kind=permission.kind,
                namespace=permission.namespace,
                access=[
                    Access(resource=a.resource, action=a.action, effect=a.effect)
                    for a in permission.access
                ],
            )
            for permission in view.permissions
        ],
        creation_time=view.created_at,
        update_time=view.updated_at,
    )


@contextmanager
def _harbor_errors() -> Iterator[None]:
    """Turn the domain's robot errors into Harbor's API errors."""
    try:
        yield
    except (accounts.RobotNotFound, accounts.NamespaceNotFound) as exc:
        raise not_found(exc.message) from exc
    except accounts.RobotNameTaken as exc:
        raise conflict(exc.message) from exc
    except accounts.RobotAccountError as exc:
        raise bad_request(exc.message) from exc


async def _configured(registry: RegistryContext, key: str) -> Any:
    return await run_in_threadpool(registry.configuration.get, key)


async def _project_by_id(
    registry: RegistryContext, project_id: int
) -> ProjectFacts | None:
    def load() -> ProjectFacts | None:
        with registry.db.session(read_only=True) as session:
            project = session.get(models.Project, project_id)
            return facts_of(project) if project is not None else None

    return await run_in_threadpool(load)


async def _require(
    request: Request,
    principal: Principal,
    level: str,
    project: ProjectFacts | None,
    project_label: str,
    action: Action,
) -> None:
    """Raise unless `principal` has `robot:<action>` for robots of this level and project.

    As with project routes, a missing project is reported as 404 only to a
    system administrator. Everyone else gets the denial.
    """
    if level == accounts.LEVEL_SYSTEM:
        decision = evaluate_system(principal, SystemResource.ROBOT, action)
    elif project is None:
        if principal.sysadmin:
            raise not_found(f"project {project_label} not found")
        raise deny(
            principal,
            f"{principal.username} lacks permission robot:{action} "
            f"in project {project_label}",
        )
    else:
        roles = await roles_of(registry_of(request), principal, project)
        permission = Permission(Resource.ROBOT, action)
        decision = evaluate(principal, project, roles, permission)
    if not decision.allowed:
        logger.info(
            "access denied",
            user=principal.username,
            level=level,
            project=project_label,
            permission=f"robot:{action}",
            reason=decision.reason,
        )
        raise deny(principal, decision.reason)


async def _require_for(
    request: Request, principal: Principal, view: accounts.RobotView, action: Action
) -> None:
    project = None
    if view.project_id is not None:
        project = await _project_by_id(registry_of(request), view.project_id)
    label = view.project_name or str(view.project_id)
    await _require(request, principal, view.level, project, label, action)


def _require_scope(principal: Principal, settings: accounts.RobotSettings) -> None:
    """Raise DENIED when a robot caller grants permissions it does not have itself."""
    if not principal.is_robot:
        return
    requested = accounts.requested_grants(settings.permissions)
    missing = accounts.uncovered_grants(requested, principal)
    if not missing:
        return
    logger.info(
        "robot permission scope rejected",
        user=principal.username,
        missing=[f"{g.kind}:{g.namespace}:{g.resource}:{g.action}" for g in missing],
    )
    raise HarborError(
        HarborCode.DENIED,
        "permission scope is invalid. It must be equal to or more restrictive "
        f"than the creator robot's permissions: {principal.username}",
    )


async def _load(request: Request, robot_id: int) -> accounts.RobotView:
    registry = registry_of(request)
    prefix = str(await _configured(registry, "robot_name_prefix"))

    def load() -> accounts.RobotView:
        with registry.db.session(read_only=True) as session:
            return accounts.load_robot(session, robot_id, prefix)

    with _harbor_errors():
        return await run_in_threadpool(load)


async def _commit(
    request: Request,
    principal: Principal,
    operation: AuditOperation,
    change: Callable[[Session, str], accounts.RobotView],
    reason: str = "",
) -> accounts.RobotView:
    """Run `change(session, prefix)` in one transaction with its audit record."""
    registry = registry_of(request)
    prefix = str(await _configured(registry, "robot_name_prefix"))
    context = audit_context(request, principal)

    def run() -> accounts.RobotView:
        with registry.db.session() as session:
            view = change(session, prefix)
            record(
                session,
                **context,
                operation=operation,
                resource_type=RESOURCE_TYPE,
                resource=view.name,
                reason=reason,
            )
            return view

    with _harbor_errors():
        return await run_in_threadpool(run)


@router.post("/robots", status_code=201, response_model=RobotCreated)
async def create_robot(
    request: Request,
    response: Response,
    body: RobotCreate,
    principal: Principal = Depends(authenticated),
) -> RobotCreated:
    """Create a robot account and return its secret, the only time it is shown."""
    registry = registry_of(request)
    duration = body.duration
    if duration is None:
        duration = int(await _configured(registry, "robot_token_duration"))
    settings = _settings(body.description, duration, body.disable, body.permissions)
    with _harbor_errors():
        accounts.validate_name(body.name)
        accounts.validate_settings(body.level, settings)

    project = None
    namespace = settings.permissions[0].namespace
    if body.level == accounts.LEVEL_PROJECT:
        project = await project_facts(registry, namespace)
    await _require(request, principal, body.level, project, namespace, Action.CREATE)
    _require_scope(principal, settings)

    secret = accounts.generate_secret()

    def create(session: Session, prefix: str) -> accounts.RobotView:
        return accounts.create_robot(
            session,
            name=body.name,
            level=body.level,
            settings=settings,
            secret=secret,
            creator=principal,
            prefix=prefix,
        )

    view = await _commit(request, principal, AuditOperation.CREATE, create)
    registry.metadata_changed()
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{view.id}"
    return RobotCreated(
        id=view.id,
        name=view.name,
        secret=secret,
        creation_time=view.created_at,
        expires_at=view.expires_at,
    )


def _list_filter(terms: list[Term]) -> tuple[str, str | None, list[Term]]:
    """Split `q` into the level, the raw ProjectID and the remaining terms."""
    level = accounts.LEVEL_SYSTEM
    project_id: str | None = None
    rest = []
    for term in terms:
        if term.key not in _QUERY_KEYS:
            raise bad_request(
                f"unsupported query key {term.key!r}; use one of: "
                + ", ".join(_QUERY_KEYS)
            )
        if term.key == "Level":
            if term.kind != "exact":
                raise bad_request("bad request error level input")
            level = term.values[0]
        elif term.key == "ProjectID":
            if term.kind != "exact":
                raise bad_request("Project ID must be int type.")
            project_id = term.values[0]
        else:
            rest.append(term)
    if level not in {accounts.LEVEL_SYSTEM, accounts.LEVEL_PROJECT}:
        raise bad_request("bad request error level input")
    return level, project_id, rest


@router.get("/robots", response_model=list[Robot])
async def list_robots(
    request: Request, response: Response, principal: Principal = Depends(authenticated)
) -> list[Robot]:
    """List system robots (the default, `q=Level=system`) or one project's robots.

    Project robots are asked for with `q=Level=project,ProjectID=<id>`.
    """
    registry = registry_of(request)
    level, raw_project_id, terms = _list_filter(
        parse_query(request.query_params.get("q"))
    )
    page = page_of(request)

    project_id: int | None = None
    project = None
    if level == accounts.LEVEL_PROJECT:
        if raw_project_id is None:
            raise bad_request("must with project ID when to query project robots")
        if (
            not raw_project_id.isascii()
            or not raw_project_id.isdigit()
            or int(raw_project_id) > MAX_PROJECT_ID
        ):
            raise bad_request("Project ID must be int type.")
        project_id = int(raw_project_id)
        project = await _project_by_id(registry, project_id)
    await _require(request, principal, level, project, str(project_id), Action.LIST)

    statement = apply_query(
        accounts.robots_query(project_id), terms, {"name": models.Robot.name}
    )
    statement = apply_sort(
        statement, request.query_params.get("sort"), _SORT_COLUMNS, models.Robot.id
    )
    prefix = str(await _configured(registry, "robot_name_prefix"))

    def load() -> tuple[list[accounts.RobotView], int]:
        with registry.db.session(read_only=True) as session:
            return accounts.list_robots(
                session, statement, page.offset, page.size, prefix
            )

    views, total = await run_in_threadpool(load)
    set_page_headers(request, response, page, total)
    return [_robot_body(view) for view in views]


@router.get("/robots/{robot_id}", response_model=Robot)
async def get_robot(
    request: Request, robot_id: RobotId, principal: Principal = Depends(authenticated)
) -> Robot:
    """Return one robot account, without its secret."""
    view = await _load(request, robot_id)
    await _require_for(request, principal, view, Action.READ)
    return _robot_body(view)


def _check_update(
    view: accounts.RobotView, body: Robot, settings: accounts.RobotSettings
) -> None:
    """Raise 400 for an invalid update or one that changes name, level or project."""
    # The name may be sent back as shown (with prefix) or as created.
    if body.level != view.level or body.name not in {view.name, view.short_name}:
        raise bad_request("cannot update the level or name of robot")
    with _harbor_errors():
        accounts.validate_settings(view.level, settings)
    namespace = settings.permissions[0].namespace
    if view.level == accounts.LEVEL_PROJECT and namespace != view.project_name:
        raise bad_request("cannot update the project id of robot")


@router.put("/robots/{robot_id}")
async def update_robot(
    request: Request,
    robot_id: RobotId,
    body: Robot,
    principal: Principal = Depends(authenticated),
) -> Response:
    """Update description, disable, duration and permissions of a robot.

    Name, level and project cannot change. A new duration counts from the
    robot's creation time, not from now.
    """
    view = await _load(request, robot_id)
    await _require_for(request, principal, view, Action.UPDATE)
    duration = view.duration if body.duration is None else body.duration
    settings = _settings(body.description, duration, body.disable, body.permissions)
    _check_update(view, body, settings)
    _require_scope(principal, settings)

    def update(session: Session, prefix: str) -> accounts.RobotView:
        return accounts.update_robot(session, robot_id, settings, prefix)

    await _commit(request, principal, AuditOperation.UPDATE, update)
    registry_of(request).credentials_changed()
    return Response(status_code=200)


@router.patch("/robots/{robot_id}", response_model=RobotSec)
async def refresh_secret(
    request: Request,
    robot_id: RobotId,
    body: RobotSec,
    principal: Principal = Depends(authenticated),
) -> RobotSec:
    """Replace a robot's secret, generated (and returned) or chosen (not returned)."""
    view = await _load(request, robot_id)
    await _require_for(request, principal, view, Action.UPDATE)
    chosen = body.secret != ""
    if chosen:
        with _harbor_errors():
            accounts.validate_secret(body.secret)
    secret = body.secret if chosen else accounts.generate_secret()

    def refresh(session: Session, prefix: str) -> accounts.RobotView:
        return accounts.set_secret(session, robot_id, secret, prefix)

    reason = "secret chosen by caller" if chosen else "secret generated"
    await _commit(request, principal, AuditOperation.UPDATE, refresh, reason)
    registry_of(request).credentials_changed()
    return RobotSec(secret="" if chosen else secret)


@router.delete("/robots/{robot_id}")
async def delete_robot(
    request: Request, robot_id: RobotId, principal: Principal = Depends(authenticated)
) -> Response:
    """Delete a robot account, so its logins stop working at once."""
    view = await _load(request, robot_id)
    await _require_for(request, principal, view, Action.DELETE)

    def remove(session: Session, prefix: str) -> accounts.RobotView:
        return accounts.delete_robot(session, robot_id, prefix)

    await _commit(request, principal, AuditOperation.DELETE, remove)
    registry_of(request).credentials_changed()
    return Response(status_code=200)
