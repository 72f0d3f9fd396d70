"""Authentication and access checks shared by the `/v2/` and `/api/v2.0` surfaces.

Each function reads through the per-process caches of `RegistryContext`
and runs database work on a worker thread.
"""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from seawall.auth import ANONYMOUS, Principal, parse_basic
from seawall.auth.roles import member_project_ids, project_roles
from seawall.context import RegistryContext
from seawall.db.models import Project
from seawall.policy import Decision, Permission, ProjectFacts, ProjectRole, evaluate
from seawall.registry.repositories import find_project


async def authenticate_basic(
    registry: RegistryContext, authorization: str | None, client: str
) -> Principal:
    """Return the caller named by Basic credentials, or anonymous when none were sent.

    Raises `InvalidCredentials` or `TooManyFailures`.
    """
    credentials = parse_basic(authorization)
    if credentials is None:
        return ANONYMOUS
    principal = registry.authenticator.cached(credentials)
    if principal is not None:
        return principal
    # Requests with the same credentials wait for one check instead of each
    # running argon2 (64 MiB and tens of milliseconds apiece), and at most
    # `_HASH_CHECKS` checks run at once in this process.
    key = registry.authenticator.cache_key(credentials)
    lock = _credential_locks.setdefault(key, asyncio.Lock())
    try:
        async with lock:
            principal = registry.authenticator.cached(credentials)
            if principal is not None:
                return principal
            async with _hash_checks:
                return await run_in_threadpool(
                    registry.authenticator.verify, credentials, client
                )
    finally:
        if not lock.locked():
            _credential_locks.pop(key, None)


_HASH_CHECKS = 2
_hash_checks = asyncio.Semaphore(_HASH_CHECKS)
_credential_locks: dict[bytes, asyncio.Lock] = {}


def facts_of(project: Project) -> ProjectFacts:
    return ProjectFacts(
        project.id, project.name, project.public, project.created_at.timestamp()
    )


async def project_facts(registry: RegistryContext, name: str) -> ProjectFacts | None:
    epoch = registry.epoch.current()
    cached = registry.projects.get(name, epoch)
    if cached is not None:
        return cached

    def load() -> ProjectFacts | None:
        with registry.db.session(read_only=True) as session:
            project = find_project(session, name)
            return facts_of(project) if project is not None else None

    facts = await run_in_threadpool(load)
    registry.projects.put(name, epoch, facts)
    return facts


async def roles_of(
    registry: RegistryContext, principal: Principal, project: ProjectFacts
) -> frozenset[ProjectRole]:
    """Return the caller's roles in `project`, its own and its groups'.

    Robots and anonymous callers hold none.
    """
    if principal.user_id is None:
        return frozenset()
    user_id, group_ids = principal.user_id, principal.group_ids

    def load() -> frozenset[ProjectRole]:
        with registry.db.session(read_only=True) as session:
            return project_roles(session, project.project_id, user_id, group_ids)

    if group_ids:
        # NOTE: the role cache is keyed by user and project only, so a caller
        # in groups reads its roles from the database on every check.
        return await run_in_threadpool(load)
    epoch = registry.epoch.current()
    key = (user_id, project.project_id)
    cached = registry.roles.get(key, epoch)
    if cached is not None:
        return cached
    roles = await run_in_threadpool(load)
    registry.roles.put(key, epoch, roles)
    return roles


async def check_project(
    registry: RegistryContext,
    principal: Principal,
    project: ProjectFacts,
    permission: Permission,
) -> Decision:
    roles = await roles_of(registry, principal, project)
    return evaluate(principal, project, roles, permission)


async def visible_project_ids(
    registry: RegistryContext, principal: Principal
) -> frozenset[int]:
    """Return the projects the caller belongs to, by membership or robot grant.

    A user's memberships include those of its groups.
    """
    if principal.is_robot:
        names = {g.namespace for g in principal.grants if g.kind == "project"}
        ids = set()
        for name in names:
            facts = await project_facts(registry, name)
            if facts is not None and principal.robot_project_id in {
                None,
                facts.project_id,
            }:
                ids.add(facts.project_id)
        return frozenset(ids)
    if principal.user_id is None:
        return frozenset()
    user_id, group_ids = principal.user_id, principal.group_ids

    def load() -> frozenset[int]:
        with registry.db.session(read_only=True) as session:
            return member_project_ids(session, user_id, group_ids)

    return await run_in_threadpool(load)
