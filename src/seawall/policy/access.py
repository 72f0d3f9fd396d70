"""Access decisions for project resources and for the system.

Every allow or deny in the registry comes from `evaluate` (project
resources) or `evaluate_system` (system resources), both driven by the
permission table in `policy.rbac`. A missing fact denies.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.auth.principal import Principal
from seawall.policy.decision import Decision, allow, deny
from seawall.policy.rbac import (
    PUBLIC_PERMISSIONS,
    Action,
    Permission,
    ProjectRole,
    Resource,
    role_permissions,
)
from seawall.registry.listings import CatalogScope


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """Facts about a project that an access check needs."""

    project_id: int
    name: str
    public: bool
    created_at: float = 0.0  # Unix seconds

    @property
    def key(self) -> str:
        """Identity that a later project with the same name never shares.

        SQLite may give a new project the id of a deleted one, so the key
        adds the creation time, to the microsecond.
        """
        return f"{self.project_id}@{self.created_at:.6f}"


# The rule of a refusal that no grant explains.
DEFAULT_DENY = "default-deny"


def _who(principal: Principal) -> str:
    if principal.anonymous:
        return "anonymous caller"
    if principal.is_robot:
        return f"robot {principal.username}"
    return f"user {principal.username}"


def robot_permissions(
    principal: Principal, project: ProjectFacts
) -> frozenset[Permission]:
    """Return what a robot's grants allow in `project`; push implies pull."""
    granted: set[Permission] = set()
    for grant in principal.grants:
        if grant.kind != "project":
            continue
        if grant.namespace not in {"*", project.name}:
            continue
        if principal.robot_project_id not in {None, project.project_id}:
            continue
        try:
            permission = Permission(Resource(grant.resource), Action(grant.action))
        except ValueError:
            continue
        granted.add(permission)
        if permission == Permission(Resource.REPOSITORY, Action.PUSH):
            granted.add(Permission(Resource.REPOSITORY, Action.PULL))
    return frozenset(granted)


def project_permissions(
    principal: Principal, project: ProjectFacts, roles: frozenset[ProjectRole]
) -> frozenset[Permission]:
    """Return every permission `principal` has in `project` (not for sysadmins)."""
    granted: frozenset[Permission] = frozenset()
    if principal.is_robot:
        granted = robot_permissions(principal, project)
    elif not principal.anonymous:
        granted = role_permissions(roles)
    if project.public:
        granted |= PUBLIC_PERMISSIONS
    return granted


def evaluate(
    principal: Principal,
    project: ProjectFacts,
    roles: frozenset[ProjectRole],
    permission: Permission,
) -> Decision:
    """Decide whether `principal`, holding `roles` in `project`, has `permission`."""
    if permission.action == Action.SCANNER_PULL and not principal.is_robot:
        # Only a robot granted it explicitly may read past the vulnerability
        # gate; no role, not even a system administrator's, implies it.
        return deny(
            f"{_who(principal)} is not a robot granted scanner-pull", "scanner-only"
        )
    if principal.sysadmin:
        return allow("system administrator", "sysadmin")
    granted = project_permissions(principal, project, roles)
    if permission in granted:
        if principal.is_robot:
            return allow(f"robot grants {permission}", "robot-permission")
        if roles and permission in role_permissions(roles):
            names = ", ".join(sorted(role.harbor_name for role in roles))
            return allow(f"role {names} grants {permission}", "project-role")
        return allow(f"project {project.name} is public", "public-project")
    return deny(lacks_permission(principal, permission, project.name), DEFAULT_DENY)


def lacks_permission(principal: Principal, permission: Permission, project: str) -> str:
    """Return the message of a default-deny refusal that names the project as `project`."""
    return f"{_who(principal)} lacks permission {permission} in project {project}"


class SystemResource:
    """Harbor's system-level resource names used by this registry."""

    PROJECT = "project"
    USER = "user"
    ROBOT = "robot"
    CONFIGURATION = "configuration"
    CATALOG = "catalog"
    AUDIT_LOG = "audit-log"


def evaluate_system(principal: Principal, resource: str, action: str) -> Decision:
    """Decide a system-level permission such as `user:create`."""
    if principal.sysadmin:
        return allow("system administrator", "sysadmin")
    if principal.is_robot:
        for grant in principal.grants:
            if grant.kind == "system" and (grant.resource, grant.action) == (
                resource,
                action,
            ):
                return allow(
                    f"robot grants system {resource}:{action}", "robot-permission"
                )
    return deny(
        f"{_who(principal)} lacks system permission {resource}:{action}",
        DEFAULT_DENY,
    )


def catalog_scope(
    principal: Principal, member_project_ids: frozenset[int]
) -> CatalogScope:
    """Return which projects' repositories `principal` may list."""
    if principal.sysadmin:
        return CatalogScope(all_projects=True)
    if principal.is_robot:
        if any(g.kind == "project" and g.namespace == "*" for g in principal.grants):
            return CatalogScope(all_projects=True)
        return CatalogScope(public_projects=True, project_ids=member_project_ids)
    if principal.token_access is not None:
        if ("registry:catalog", "*") in principal.token_access:
            return CatalogScope(all_projects=True)
        return CatalogScope(public_projects=True)
    return CatalogScope(public_projects=True, project_ids=member_project_ids)
