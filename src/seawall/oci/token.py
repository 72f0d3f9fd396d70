"""The Docker token service: `GET /service/token`.

A client that received a Bearer challenge requests a token here, sending
its Basic credentials (or none, for anonymous pulls) and the scopes it
needs, such as `repository:library/app:pull,push`. The token grants, for
each requested repository, exactly the requested actions that the
permission table allows the caller: never more than asked, and scopes of
unknown types or actions are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall.auth import Principal
from seawall.oci.access import (
    DELETE_ARTIFACT,
    DELETE_BLOB,
    DELETE_TAG,
    PULL,
    PUSH,
    SCANNER_PULL,
    authenticate,
    context,
)
from seawall.policy import Permission, ProjectFacts
from seawall.registry.errors import NameInvalid
from seawall.registry.names import check_repository_name, project_of
from seawall.routing import guarded
from seawall.security import check_project, project_facts

logger = structlog.get_logger(__name__)

# A token action covers every /v2/ operation of that kind, so it is granted
# only to a caller holding every permission those operations check.
_ACTION_PERMISSIONS: dict[str, tuple[Permission, ...]] = {
    "pull": (PULL,),
    "push": (PUSH,),
    "delete": (DELETE_ARTIFACT, DELETE_TAG, DELETE_BLOB),
    "scanner-pull": (PULL, SCANNER_PULL),
}


def _parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """Split `type:name:actions`; the name itself may contain a port-less colon."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    return kind, name, [action for action in actions.split(",") if action]


async def _granted_actions(
    request: Request, principal: Principal, repository: str, actions: list[str]
) -> tuple[list[str], str | None]:
    """Return the allowed subset of `actions` on `repository`, and its project key."""
    try:
        check_repository_name(repository)
    except NameInvalid:
        return [], None
    project = await project_facts(context(request), project_of(repository))
    if project is None:
        return [], None
    if "*" in actions:
        actions = list(_ACTION_PERMISSIONS)
    granted = []
    for action in dict.fromkeys(actions):
        permissions = _ACTION_PERMISSIONS.get(action)
        if permissions is None:
            continue
        if await _holds_all(
            request, principal, project, permissions, repository, action
        ):
            granted.append(action)
    return granted, project.key


async def _holds_all(
    request: Request,
    principal: Principal,
    project: ProjectFacts,
    permissions: tuple[Permission, ...],
    repository: str,
    action: str,
) -> bool:
    for permission in permissions:
        decision = await check_project(context(request), principal, project, permission)
        if not decision.allowed:
            logger.info(
                "token action denied",
                user=principal.username,
                repository=repository,
                action=action,
                reason=decision.reason,
            )
            return False
    return True


@guarded("filtered: grants only what the permission table allows")
async def issue_token(request: Request) -> Response:
    principal = await authenticate(request)
    registry = context(request)
    access: list[dict[str, object]] = []
    for scope in request.query_params.getlist("scope"):
        for item in scope.split(" "):
            parsed = _parse_scope(item)
            if parsed is None:
                continue
            kind, name, actions = parsed
            entry: dict[str, object] = {"type": kind, "name": name}
            if kind == "repository":
                granted, project_key = await _granted_actions(
                    request, principal, name, actions
                )
                entry["project"] = project_key
            elif kind == "registry" and name == "catalog" and principal.sysadmin:
                granted = ["*"] if "*" in actions else []
            else:
                granted = []
            if granted:
                entry["actions"] = granted
                access.append(entry)
    lifetime = int(registry.configuration.get("token_expiration")) * 60
    subject = "" if principal.anonymous else principal.username
    token, issued_at = registry.tokens.issue(subject, access, lifetime)
    issued = datetime.fromtimestamp(issued_at, UTC).isoformat().replace("+00:00", "Z")
    body = {
        "token": token,
        "access_token": token,
        "expires_in": lifetime,
        "issued_at": issued,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


routes = [Route("/service/token", issue_token, methods=["GET"])]
