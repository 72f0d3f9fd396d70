"""FastAPI dependencies: the caller, the project in the path, and route guards.

Every route depends on exactly one guard from this module: `public_route`,
`authenticated`, `system_guard(...)` or `project_guard(...)`. Each guard
carries a `seawall_guard` declaration that the route audit test reads, so
a route without a guard fails the test suite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from seawall.api.errors import (
    HarborCode,
    HarborError,
    forbidden,
    not_found,
    unauthorized,
)
from seawall.auth import InvalidCredentials, Principal, TooManyFailures
from seawall.context import RegistryContext
from seawall.db.models import Project
from seawall.policy import (
    Permission,
    ProjectFacts,
    ProjectRole,
    evaluate,
    evaluate_system,
)
from seawall.policy.access import DEFAULT_DENY, lacks_permission
from seawall.routing import GUARD_ATTRIBUTE
from seawall.security import authenticate_basic, facts_of, project_facts, roles_of

logger = structlog.get_logger(__name__)

MAX_PROJECT_ID = 2**31 - 1


def registry_of(request: Request) -> RegistryContext:
    registry: RegistryContext = request.app.state.registry
    return registry


async def current_principal(request: Request) -> Principal:
    """Return the caller from Basic credentials; bad credentials get 401."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    registry = registry_of(request)
    client = request.client.host if request.client else "unknown"
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        raise unauthorized(
            "bearer tokens are accepted on /v2/ only; use Basic credentials"
        )
    try:
        principal = await authenticate_basic(registry, header, client)
    except InvalidCredentials as exc:
        raise unauthorized("invalid username or password") from exc
    except TooManyFailures as exc:
        raise HarborError(
            HarborCode.TOO_MANY_REQUEST,
            "too many failed logins; wait a minute and retry",
            headers={"Retry-After": "60"},
        ) from exc
    request.state.principal = principal
    request.state.username = principal.username
    return principal


def _declare(guard: Callable[..., Any], declaration: str) -> Callable[..., Any]:
    setattr(guard, GUARD_ATTRIBUTE, declaration)
    return guard


async def _public(request: Request) -> Principal:
    return await current_principal(request)


public_route = _declare(_public, "public")


async def _authenticated(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal.anonymous:
        raise unauthorized()
    return principal


authenticated = _declare(_authenticated, "authenticated")


def deny(principal: Principal, reason: str) -> HarborError:
    """Return the refusal for `principal`: 401 when anonymous, else 403."""
    if principal.anonymous:
        return unauthorized(reason)
    return forbidden(reason)


def system_guard(
    resource: str, action: str
) -> Callable[[Request], Awaitable[Principal]]:
    """Require a system-level permission such as `user:create`."""

    async def guard(request: Request) -> Principal:
        principal = await current_principal(request)
        decision = evaluate_system(principal, resource, action)
        if not decision.allowed:
            logger.info(
                "access denied", user=principal.username, reason=decision.reason
            )
            raise deny(principal, decision.reason)
        return principal

    _declare(guard, f"system {resource}:{action}")
    return guard


@dataclass(frozen=True)
class ProjectAccess:
    """The caller of a project route, the project and the caller's roles in it."""

    principal: Principal
    project: ProjectFacts
    roles: frozenset[ProjectRole]


async def resolve_project(
    request: Request, name_or_id: str, *, by_name: bool = False
) -> ProjectFacts | None:
    """Find a project by name or id, following Harbor's `X-Is-Resource-Name` rule.

    With `by_name` the value is always a name, as in Harbor's `project_name`
    path parameters.
    """
    registry = registry_of(request)
    by_name = by_name or request.headers.get("x-is-resource-name", "").lower() == "true"
    if not by_name and name_or_id.isascii() and name_or_id.isdigit():
        project_id = int(name_or_id)
        if project_id > MAX_PROJECT_ID:
            # Project ids are 32-bit columns, and PostgreSQL rejects a larger
            # value instead of finding nothing.
            return None

        def load() -> ProjectFacts | None:
            with registry.db.session(read_only=True) as session:
                project = session.get(Project, project_id)
                return facts_of(project) if project is not None else None

        return await run_in_threadpool(load)
    if "\x00" in name_or_id or not name_or_id:
        return None
    return await project_facts(registry, name_or_id)


def project_guard(
    permission: Permission, parameter: str = "project_name_or_id"
) -> Callable[[Request], Awaitable[ProjectAccess]]:
    """Require `permission` in the project named by the path parameter.

    As in Harbor, the permission is checked before the project's existence
    is revealed: for a project that does not exist, an anonymous caller gets
    401, another caller 403, and only a system administrator 404. The
    refusal names the project as the request did and reads the same for a
    missing project as for one the caller may not see, by name or by id.
    """

    async def guard(request: Request) -> ProjectAccess:
        principal = await current_principal(request)
        name_or_id = request.path_params[parameter]
        project = await resolve_project(
            request, name_or_id, by_name=parameter == "project_name"
        )
        if project is None:
            if principal.sysadmin:
                raise not_found(f"project {name_or_id} not found")
            logger.info(
                "access denied",
                user=principal.username,
                project=name_or_id,
                permission=str(permission),
                reason="project not found",
            )
            raise deny(principal, lacks_permission(principal, permission, name_or_id))
        roles = await roles_of(registry_of(request), principal, project)
        decision = evaluate(principal, project, roles, permission)
        if not decision.allowed:
            logger.info(
                "access denied",
                user=principal.username,
                project=project.name,
                permission=str(permission),
                reason=decision.reason,
            )
            message = decision.reason
            if decision.rule == DEFAULT_DENY:
                message = lacks_permission(principal, permission, name_or_id)
            raise deny(principal, message)
        return ProjectAccess(principal, project, roles)

    _declare(guard, f"project {permission}")
    return guard
