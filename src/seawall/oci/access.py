"""Authentication and the access check shared by every `/v2/` route."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from seawall.auth import (
    ANONYMOUS,
    InvalidCredentials,
    Principal,
    TooManyFailures,
    parse_basic,
)
from seawall.context import RegistryContext
from seawall.oci.errors import ErrorCode, OciError
from seawall.policy import Action, ProjectFacts, decide
from seawall.registry.errors import ProjectNotFound
from seawall.registry.names import check_repository_name, project_of
from seawall.registry.repositories import find_project

logger = structlog.get_logger(__name__)

CHALLENGE = {"WWW-Authenticate": 'Basic realm="Seawall Registry"'}


@dataclass(frozen=True, slots=True)
class Access:
    principal: Principal
    project: ProjectFacts
    repository: str


def context(request: Request) -> RegistryContext:
    registry: RegistryContext = request.app.state.registry
    return registry


def unauthorized(message: str = "authentication required") -> OciError:
    return OciError(ErrorCode.UNAUTHORIZED, message, headers=dict(CHALLENGE))


async def authenticate(request: Request) -> Principal:
    """Return the caller, anonymous when no credentials were sent."""
    registry = context(request)
    client = request.client.host if request.client else "unknown"
    try:
        credentials = parse_basic(request.headers.get("authorization"))
        if credentials is None:
            return ANONYMOUS
        principal = registry.authenticator.cached(credentials)
        if principal is not None:
            return principal
        return await run_in_threadpool(
            registry.authenticator.verify, credentials, client
        )
    except InvalidCredentials as exc:
        raise unauthorized(str(exc)) from exc
    except TooManyFailures as exc:
        raise OciError(
            ErrorCode.TOOMANYREQUESTS,
            "too many failed logins from this address; wait a minute and retry",
            headers={"Retry-After": "60"},
        ) from exc


async def project_facts(registry: RegistryContext, name: str) -> ProjectFacts | None:
    epoch = registry.epoch.current()
    cached = registry.projects.get(name, epoch)
    if cached is not None:
        return cached
    facts = await run_in_threadpool(_load_project, registry, name)
    registry.projects.put(name, epoch, facts)
    return facts


def _load_project(registry: RegistryContext, name: str) -> ProjectFacts | None:
    with registry.db.session() as session:
        project = find_project(session, name)
        if project is None:
            return None
        return ProjectFacts(project.id, project.name, project.public)


async def authorize(request: Request, repository: str, action: Action) -> Access:
    """Authenticate the caller and check `action` on `repository`, or raise."""
    check_repository_name(repository)
    principal = await authenticate(request)
    registry = context(request)
    project_name = project_of(repository)
    project = await project_facts(registry, project_name)
    if project is None:
        if principal.anonymous:
            raise unauthorized()
        raise ProjectNotFound(project_name)
    decision = decide(principal, project, action)
    if not decision.allowed:
        logger.info(
            "access denied",
            user=principal.username,
            repository=repository,
            action=action.value,
            rule=decision.rule,
            reason=decision.reason,
        )
        if principal.anonymous:
            raise unauthorized(decision.reason)
        raise OciError(ErrorCode.DENIED, decision.reason)
    return Access(principal, project, repository)
