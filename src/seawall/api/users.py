"""Harbor-compatible `/api/v2.0` routes for local users.

A system administrator manages every account. Any other user may read
and change their own profile and password, and a project administrator
may search usernames to add members. When the configuration key
`self_registration` is true, anyone may create an account, which is
never a system administrator. Each password, flag or removal change
drops remembered credentials in every process at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import (
    authenticated,
    deny,
    public_route,
    registry_of,
    system_guard,
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
from seawall.auth import users as accounts
from seawall.db.models import Project, User
from seawall.policy import Permission as ProjectPermission
from seawall.policy import (
    ProjectFacts,
    SystemResource,
    evaluate,
    evaluate_system,
)
from seawall.policy.rbac import (
    PUBLIC_PERMISSIONS,
    ROBOT_PROJECT_PERMISSIONS,
    ProjectRole,
    role_permissions,
)
from seawall.security import facts_of, roles_of

logger = structlog.get_logger(__name__)

router = APIRouter()

# Integer columns hold at most this id, so larger ids name no user or project.
MAX_ID = 2**31 - 1

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id.")]

QUERY_COLUMNS: dict[str, Any] = {"username": User.username, "email": User.email}
SORT_COLUMNS: dict[str, Any] = {
    "user_id": User.id,
    "username": User.username,
    "email": User.email,
    "creation_time": User.created_at,
    "update_time": User.updated_at,
}

# Every project permission that exists, which a system administrator holds.
ALL_PROJECT_PERMISSIONS = (
    role_permissions(frozenset(ProjectRole))
    | PUBLIC_PERMISSIONS
    | ROBOT_PROJECT_PERMISSIONS
)


class UserResp(BaseModel):
    email: str
    realname: str
    comment: str
    user_id: int
    username: str
    sysadmin_flag: bool
    admin_role_in_auth: bool = False
    creation_time: datetime
    update_time: datetime


class UserCreationReq(BaseModel):
    username: str = ""
    password: str = ""
    email: str = ""
    realname: str = ""
    comment: str = ""


class UserProfile(BaseModel):
    email: str = ""
    realname: str = ""
    comment: str = ""


class UserSysAdminFlag(BaseModel):
    sysadmin_flag: bool


class PasswordReq(BaseModel):
    old_password: str | None = None
    new_password: str = ""


class UserSearchRespItem(BaseModel):
    user_id: int
    username: str


class Permission(BaseModel):
    resource: str
    action: str


def _response(user: accounts.UserRecord) -> UserResp:
    return UserResp(
        email=user.email,
        realname=user.realname,
        comment=user.comment,
        user_id=user.user_id,
        username=user.username,
        sysadmin_flag=user.sysadmin,
        creation_time=user.created_at,
        update_time=user.updated_at,
    )


def _harbor_error(exc: accounts.UserError) -> HarborError:
    if isinstance(exc, accounts.UserNotFound):
        return not_found(exc.message)
    if isinstance(exc, accounts.UserConflict):
        return conflict(exc.message)
    if isinstance(exc, accounts.WrongPassword):
        return forbidden(exc.message)
    return bad_request(exc.message)


def _is_self(principal: Principal, user_id: int) -> bool:
    return not principal.is_robot and principal.user_id == user_id


def _require_self_or(
    principal: Principal, user_id: int, action: str, denial_message: str
) -> None:
    """Allow the user themselves, or a caller with system permission `user:<action>`."""
    if _is_self(principal, user_id):
        return
    decision = evaluate_system(principal, SystemResource.USER, action)
    if not decision.allowed:
        logger.info(
            "access denied",
            user=principal.username,
            target_user_id=user_id,
            reason=decision.reason,
        )
        raise deny(principal, denial_message)


@router.post("/users", status_code=201, response_class=Response)
async def create_user(
    request: Request,
    body: UserCreationReq,
    principal: Principal = Depends(public_route),
) -> Response:
    """Create a local user, as an administrator or, under self-registration, as anyone."""
    registry = registry_of(request)
    values = registry.configuration.values()
    if values["auth_mode"] != "db_auth":
        raise forbidden(
            f"creating local user is not allowed under auth mode: {values['auth_mode']}"
        )
    creator = evaluate_system(principal, SystemResource.USER, "create")
    if not creator.allowed and not values["self_registration"]:
        logger.info("access denied", user=principal.username, reason=creator.reason)
        raise deny(principal, creator.reason)

    profile = accounts.Profile(body.email, body.realname, body.comment)
    prefix = str(values["robot_name_prefix"])
    context = audit_context(request, principal)

    def create() -> accounts.UserRecord:
        accounts.check_username(body.username, prefix)
        accounts.check_profile(profile)
        password_hash = accounts.hash_new_password(body.password)
        with registry.db.session() as session:
            user = accounts.create_user(session, body.username, password_hash, profile)
            record(
                session,
                **context,
                operation=AuditOperation.CREATE,
                resource_type="user",
                resource=user.username,
                reason="self-registration" if not creator.allowed else "",
            )
            return user

    try:
        user = await run_in_threadpool(create)
    except accounts.UserError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    location = f"{request.url.path.rstrip('/')}/{user.user_id}"
    return Response(status_code=201, headers={"Location": location})


@router.get("/users", response_model=list[UserResp])
async def list_users(
    request: Request,
    response: Response,
    q: str | None = None,
    sort: str | None = None,
    username: str | None = None,
    email: str | None = None,
    principal: Principal = Depends(system_guard(SystemResource.USER, "list")),
) -> list[UserResp]:
    """List users other than the built-in admin, with Harbor's `q`, `sort` and paging.

    `username` and `email` are substring filters, as in Harbor.
    """
    registry = registry_of(request)
    page = page_of(request)
    terms = parse_query(q)
    for key, value in (("username", username), ("email", email)):
        if value:
            terms.append(Term(key, "fuzzy", (value,)))

    def refine(statement: Select[Any]) -> Select[Any]:
        return apply_query(statement, terms, QUERY_COLUMNS)

    def order(statement: Select[Any]) -> Select[Any]:
        return apply_sort(statement, sort, SORT_COLUMNS, User.id)

    def load() -> tuple[int, list[accounts.UserRecord]]:
        with registry.db.session(read_only=True) as session:
            return accounts.list_users(session, refine, order, page.offset, page.size)

    total, users = await run_in_threadpool(load)
    set_page_headers(request, response, page, total)
    return [_response(user) for user in users]


@router.get("/users/search", response_model=list[UserSearchRespItem])
async def search_users(
    request: Request,
    response: Response,
    username: str,
    principal: Principal = Depends(authenticated),
) -> list[UserSearchRespItem]:
    """Find users whose username contains `username`, to add them as members.

    Open to system administrators and to project administrators of at least
    one project, as in Harbor.
    """
    registry = registry_of(request)
    page = page_of(request)
    terms = [Term("username", "fuzzy", (username,))]

    def load() -> tuple[int, list[accounts.UserRecord]] | None:
        with registry.db.session(read_only=True) as session:
            if not _may_search(session, principal):
                return None
            return accounts.list_users(
                session,
                lambda statement: apply_query(statement, terms, QUERY_COLUMNS),
                lambda statement: statement.order_by(User.username),
                page.offset,
                page.size,
            )

    found = await run_in_threadpool(load)
    if found is None:
        logger.info(
            "access denied",
            user=principal.username,
            reason="user search needs sysadmin or projectAdmin",
        )
        raise forbidden(
            f"{principal.username} may not search users: it needs the system "
            "administrator role or the projectAdmin role in a project"
        )
    total, users = found
    set_page_headers(request, response, page, total)
    return [UserSearchRespItem(user_id=u.user_id, username=u.username) for u in users]


def _may_search(session: Session, principal: Principal) -> bool:
    if evaluate_system(principal, SystemResource.USER, "list").allowed:
        return True
    if principal.is_robot or principal.user_id is None:
        return False
    return accounts.is_project_admin_anywhere(session, principal.user_id)


@router.get("/users/current", response_model=UserResp)
async def get_current_user(
    request: Request, principal: Principal = Depends(authenticated)
) -> UserResp:
    """Return the caller's own account."""
    if principal.is_robot or principal.user_id is None:
        raise HarborError(
            HarborCode.PRECONDITION,
            f"GET /users/current is not available to {principal.username} "
            "because it is not a local user",
        )
    return await _load_user(request, principal.user_id)


async def _load_user(request: Request, user_id: int) -> UserResp:
    registry = registry_of(request)

    def load() -> accounts.UserRecord:
        with registry.db.session(read_only=True) as session:
            return accounts.get_user(session, user_id)

    try:
        return _response(await run_in_threadpool(load))
    except accounts.UserError as exc:
        raise _harbor_error(exc) from exc


@router.get("/users/current/permissions", response_model=list[Permission])
async def get_current_permissions(
    request: Request,
    scope: str = "",
    relative: bool = False,
    principal: Principal = Depends(authenticated),
) -> list[Permission]:
    """List what the caller may do in the scope `/project/<id>`.

    Resources are absolute (`/project/1/repository`), or relative to the
    scope (`repository`) when `relative` is true.
    """
    # NOTE: only project scopes are served. Any other scope, such as
    # `/system`, gets an empty list.
    project_id = _project_scope(scope)
    if project_id is None:
        return []
    granted = await _project_permissions(request, principal, project_id)
    prefix = "" if relative else f"/project/{project_id}/"
    return [
        Permission(resource=f"{prefix}{permission.resource}", action=permission.action)
        for permission in sorted(granted)
    ]


def _project_scope(scope: str) -> int | None:
    kind, _, rest = scope.strip("/").partition("/")
    if kind != "project" or not rest.isascii() or not rest.isdigit():
        return None
    project_id = int(rest)
    return project_id if 1 <= project_id <= MAX_ID else None


async def _project_permissions(
    request: Request, principal: Principal, project_id: int
) -> frozenset[ProjectPermission]:
    registry = registry_of(request)

    def load() -> ProjectFacts | None:
        with registry.db.session(read_only=True) as session:
            project = session.get(Project, project_id)
            return facts_of(project) if project is not None else None

    facts = await run_in_threadpool(load)
    if facts is None:
        return ALL_PROJECT_PERMISSIONS if principal.sysadmin else frozenset()
    roles = await roles_of(registry, principal, facts)
    return frozenset(
        permission
        for permission in ALL_PROJECT_PERMISSIONS
        if evaluate(principal, facts, roles, permission).allowed
    )


@router.get("/users/{user_id}", response_model=UserResp)
async def get_user(
    request: Request, user_id: UserId, principal: Principal = Depends(authenticated)
) -> UserResp:
    """Return a user's account to the user themselves or to an administrator."""
    _require_self_or(
        principal, user_id, "read", f"Not authorized to read user: {user_id}"
    )
    return await _load_user(request, user_id)


@router.put("/users/{user_id}", response_class=Response)
async def update_user_profile(
    request: Request,
    user_id: UserId,
    body: UserProfile,
    principal: Principal = Depends(authenticated),
) -> None:
    """Replace the email, real name and comment. The username cannot change."""
    _require_self_or(
        principal, user_id, "update", f"User with ID {user_id} can't be updated"
    )
    registry = registry_of(request)
    profile = accounts.Profile(body.email, body.realname, body.comment)
    context = audit_context(request, principal)

    def store() -> None:
        accounts.check_profile(profile)
        with registry.db.session() as session:
            user = accounts.update_profile(session, user_id, profile)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type="user",
                resource=user.username,
                reason="profile updated",
            )

    try:
        await run_in_threadpool(store)
    except accounts.UserError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()


@router.delete("/users/{user_id}", response_class=Response)
async def delete_user(
    request: Request,
    user_id: UserId,
    principal: Principal = Depends(system_guard(SystemResource.USER, "delete")),
) -> None:
    """Delete a user and their project memberships, except oneself and user 1."""
    if _is_self(principal, user_id) or user_id == accounts.BUILTIN_ADMIN_ID:
        raise forbidden(f"User with ID {user_id} cannot be deleted")
    registry = registry_of(request)
    context = audit_context(request, principal)

    def remove() -> None:
        with registry.db.session() as session:
            user = accounts.delete_user(session, user_id)
            record(
                session,
                **context,
                operation=AuditOperation.DELETE,
                resource_type="user",
                resource=user.username,
            )

    try:
        await run_in_threadpool(remove)
    except accounts.UserError as exc:
        raise _harbor_error(exc) from exc
    registry.credentials_changed()


@router.put("/users/{user_id}/sysadmin", response_class=Response)
async def set_user_sysadmin(
    request: Request,
    user_id: UserId,
    body: UserSysAdminFlag,
    principal: Principal = Depends(system_guard(SystemResource.USER, "update")),
) -> None:
    """Grant or revoke the system administrator role of another user.

    Unlike Harbor, no administrator may change their own flag, so the last
    system administrator cannot remove the role by accident.
    """
    if _is_self(principal, user_id):
        raise forbidden(
            "you cannot change your own sysadmin flag. Ask another administrator"
        )
    registry = registry_of(request)
    context = audit_context(request, principal)

    def store() -> None:
        with registry.db.session() as session:
            user = accounts.set_sysadmin(session, user_id, body.sysadmin_flag)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type="user",
                resource=user.username,
                reason=f"sysadmin flag set to {str(body.sysadmin_flag).lower()}",
            )

    try:
        await run_in_threadpool(store)
    except accounts.UserError as exc:
        raise _harbor_error(exc) from exc
    registry.credentials_changed()


@router.put("/users/{user_id}/password", response_class=Response)
async def update_user_password(
    request: Request,
    user_id: UserId,
    body: PasswordReq,
    principal: Principal = Depends(authenticated),
) -> None:
    """Change one's own password, given the current one, or anyone's as administrator."""
    _require_self_or(
        principal, user_id, "update", f"User with ID {user_id} can't be updated"
    )
    registry = registry_of(request)
    # Users changing their own password give the current one, administrators too.
    old_password = (body.old_password or "") if _is_self(principal, user_id) else None
    context = audit_context(request, principal)

    def change() -> None:
        with registry.db.session(read_only=True) as session:
            current_hash = accounts.password_hash_of(session, user_id)
        new_hash = accounts.check_password_change(
            current_hash, body.new_password, old_password
        )
        with registry.db.session() as session:
            user = accounts.store_password(session, user_id, new_hash, current_hash)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type="user",
                resource=user.username,
                reason="password changed",
            )

    try:
        await run_in_threadpool(change)
    except accounts.WrongPassword as exc:
        logger.info(
            "password change rejected", user=principal.username, reason=exc.message
        )
        raise _harbor_error(exc) from exc
    except accounts.UserError as exc:
        raise _harbor_error(exc) from exc
    registry.credentials_changed()
