"""Authentication and the access check shared by every `/v2/` route.

A caller presents HTTP Basic credentials (user or robot), a bearer token
issued by `/service/token`, or nothing. Basic callers and anonymous callers
are checked against the permission table. Token callers are checked
against the exact grants in their token, which the token service computed
from the same table when it issued it.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from seawall.auth import InvalidCredentials, Principal, TooManyFailures
from seawall.auth.principal import PrincipalKind
from seawall.auth.tokens import InvalidToken
from seawall.context import RegistryContext
from seawall.db.models import User
from seawall.oci.errors import ErrorCode, OciError
from seawall.policy import Action, Decision, Permission, ProjectFacts, Resource
from seawall.policy.decision import allow, deny
from seawall.registry.errors import ProjectNotFound
from seawall.registry.names import check_repository_name, project_of
from seawall.security import authenticate_basic, check_project, project_facts

logger = structlog.get_logger(__name__)

PULL = Permission(Resource.REPOSITORY, Action.PULL)
PUSH = Permission(Resource.REPOSITORY, Action.PUSH)
DELETE_ARTIFACT = Permission(Resource.ARTIFACT, Action.DELETE)
DELETE_TAG = Permission(Resource.TAG, Action.DELETE)
DELETE_BLOB = Permission(Resource.REPOSITORY, Action.DELETE)
# Reading an image a policy refuses to others, for scanning it.
SCANNER_PULL = Permission(Resource.REPOSITORY, Action.SCANNER_PULL)

# The token action that covers each permission a `/v2/` route checks.
TOKEN_ACTIONS: dict[Permission, str] = {
    PULL: "pull",
    PUSH: "push",
    DELETE_ARTIFACT: "delete",
    DELETE_TAG: "delete",
    DELETE_BLOB: "delete",
    SCANNER_PULL: "scanner-pull",
}


@dataclass(frozen=True, slots=True)
class Access:
    principal: Principal
    project: ProjectFacts
    repository: str


def context(request: Request) -> RegistryContext:
    registry: RegistryContext = request.app.state.registry
    return registry


def token_realm(request: Request) -> str:
    registry = context(request)
    base = registry.settings.external_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/service/token"


def unauthorized(
    request: Request, message: str = "authentication required", scope: str | None = None
) -> OciError:
    """Return a 401 with a Bearer challenge naming the token service."""
    registry = context(request)
    challenge = (
        f'Bearer realm="{token_realm(request)}",service="{registry.tokens.service}"'
    )
    if scope:
        challenge += f',scope="{scope}"'
    return OciError(
        ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": challenge}
    )


def _scope(repository: str, permission: Permission) -> str:
    action = TOKEN_ACTIONS.get(permission, "pull")
    actions = "pull" if action == "pull" else f"pull,{action}"
    return f"repository:{repository}:{actions}"


async def authenticate(request: Request, scope: str | None = None) -> Principal:
    """Return the caller, anonymous when no credentials were sent."""
    registry = context(request)
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        try:
            claims = registry.tokens.verify(header[7:].strip())
        except InvalidToken as exc:
            raise unauthorized(request, str(exc), scope) from exc
        return Principal(
            kind=PrincipalKind.USER,
            username=claims.subject,
            token_access=claims.access,
            token_project_keys=claims.project_keys,
        )
    client = request.client.host if request.client else "unknown"
    try:
        return await authenticate_basic(registry, header, client)
    except InvalidCredentials as exc:
        raise unauthorized(request, str(exc), scope) from exc
    except TooManyFailures as exc:
        raise OciError(
            ErrorCode.TOOMANYREQUESTS,
            "too many failed logins; wait a minute and retry",
            headers={"Retry-After": "60"},
        ) from exc


def _is_sysadmin(registry: RegistryContext, username: str) -> bool:
    """Return whether the user named in a bearer token is a system administrator."""
    with registry.db.session(read_only=True) as session:
        sysadmin = session.scalar(
            select(User.sysadmin).where(User.username == username)
        )
    return bool(sysadmin)


def _check_token(
    principal: Principal, project: ProjectFacts, repository: str, permission: Permission
) -> Decision:
    assert principal.token_access is not None
    keys = {key for name, key in principal.token_project_keys if name == repository}
    if not keys:
        # The token grants nothing here. Word it as for a missing project, so
        # a refusal does not tell that a private project exists.
        return deny(
            missing_project_reason(principal, project.name, permission),
            "token-grants-nothing",
        )
    if project.key not in keys:
        return deny(
            f"token was issued for an earlier project named {project.name}; "
            "request a new one",
            "token-predates-project",
        )
    action = TOKEN_ACTIONS.get(permission)
    if action is not None and (repository, action) in principal.token_access:
        return allow(f"token grants {action} on {repository}", "token-scope")
    return deny(
        f"token for {principal.username or 'anonymous caller'} does not grant "
        f"{action or permission} on {repository}",
        "token-scope",
    )


def missing_project_reason(
    principal: Principal, project: str, permission: Permission
) -> str:
    """Word a refusal for a missing project exactly as for an existing one."""
    who = (
        f"robot {principal.username}"
        if principal.is_robot
        else f"user {principal.username}"
    )
    return f"{who} lacks permission {permission} in project {project}"


async def authorize(
    request: Request, repository: str, permission: Permission
) -> Access:
    """Authenticate the caller and check `permission` on `repository`, or raise."""
    check_repository_name(repository)
    scope = _scope(repository, permission)
    principal = await authenticate(request, scope)
    registry = context(request)
    project_name = project_of(repository)
    project = await project_facts(registry, project_name)
    if project is None:
        # Only a system administrator learns that a project does not exist;
        # everyone else gets the refusal an existing project would give.
        if principal.anonymous or (
            principal.token_access is not None and not principal.username
        ):
            raise unauthorized(request, scope=scope)
        reason = missing_project_reason(principal, project_name, permission)
        if principal.token_access is not None and await run_in_threadpool(
            _is_sysadmin, registry, principal.username
        ):
            # A token grants nothing in a missing project, but a system
            # administrator may know which projects exist, so name the missing one.
            raise ProjectNotFound(project_name)
        if principal.token_access is not None:
            # The words and status of a token refused in an existing project,
            # so a client shows which project it was refused in.
            logger.info("access denied", user=principal.username, reason=reason)
            raise unauthorized(request, reason, scope)
        if not principal.sysadmin:
            logger.info("access denied", user=principal.username, reason=reason)
            raise OciError(ErrorCode.DENIED, reason)
        raise ProjectNotFound(project_name)
    if principal.token_access is not None:
        decision = _check_token(principal, project, repository, permission)
    else:
        decision = await check_project(registry, principal, project, permission)
    if not decision.allowed:
        logger.info(
            "access denied",
            user=principal.username,
            repository=repository,
            permission=str(permission),
            rule=decision.rule,
            reason=decision.reason,
        )
        if principal.anonymous or (
            principal.token_access is not None and not principal.username
        ):
            # The same words as for a missing project, so they reveal nothing.
            raise unauthorized(request, scope=scope)
        if principal.token_access is not None:
            raise unauthorized(request, decision.reason, scope)
        raise OciError(ErrorCode.DENIED, decision.reason)
    return Access(principal, project, repository)


async def holds(request: Request, access: Access, permission: Permission) -> bool:
    """Return whether the already authorized caller also has `permission`."""
    principal = access.principal
    if principal.token_access is not None:
        decision = _check_token(
            principal, access.project, access.repository, permission
        )
    else:
        decision = await check_project(
            context(request), principal, access.project, permission
        )
    return decision.allowed
