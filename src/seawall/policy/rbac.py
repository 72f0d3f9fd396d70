"""Harbor's permission table: which role may do which action on which resource.

This table is the single source of truth for project access. The `/v2/`
routes, the `/api/v2.0` routes and the token service all ask `evaluate`,
and `docs/permissions.md` is generated from it. Resource and action names
are Harbor's, so robot permission lists written for Harbor mean the same
here.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple


class ProjectRole(IntEnum):
    """Harbor's project role ids."""

    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5

    @property
    def harbor_name(self) -> str:
        return _ROLE_NAMES[self]


_ROLE_NAMES = {
    ProjectRole.PROJECT_ADMIN: "projectAdmin",
    ProjectRole.DEVELOPER: "developer",
    ProjectRole.GUEST: "guest",
    ProjectRole.MAINTAINER: "maintainer",
    ProjectRole.LIMITED_GUEST: "limitedGuest",
}


class Resource(StrEnum):
    PROJECT = "project"
    MEMBER = "member"
    METADATA = "metadata"
    LOG = "log"
    LABEL = "label"
    QUOTA = "quota"
    REPOSITORY = "repository"
    TAG_RETENTION = "tag-retention"
    IMMUTABLE_TAG = "immutable-tag"
    CONFIGURATION = "configuration"
    ROBOT = "robot"
    NOTIFICATION_POLICY = "notification-policy"
    SCAN = "scan"
    SBOM = "sbom"
    SCANNER = "scanner"
    ARTIFACT = "artifact"
    TAG = "tag"
    ACCESSORY = "accessory"
    ARTIFACT_ADDITION = "artifact-addition"
    ARTIFACT_LABEL = "artifact-label"
    PREHEAT_POLICY = "preheat-policy"
    EXPORT_CVE = "export-cve"


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"
    OPERATE = "operate"
    STOP = "stop"
    SCANNER_PULL = "scanner-pull"


class Permission(NamedTuple):
    resource: Resource
    action: Action

    def __str__(self) -> str:
        return f"{self.resource}:{self.action}"


def _grants(spec: dict[Resource, str]) -> frozenset[Permission]:
    return frozenset(
        Permission(resource, Action(action))
        for resource, actions in spec.items()
        for action in actions.split()
    )


_CRUD = "create read update delete list"

_LIMITED_GUEST = {
    Resource.PROJECT: "read",
    Resource.QUOTA: "read",
    Resource.REPOSITORY: "pull read list",
    Resource.ARTIFACT: "read list",
    Resource.ARTIFACT_ADDITION: "read",
    Resource.TAG: "list",
    Resource.ACCESSORY: "list",
    Resource.CONFIGURATION: "read",
    Resource.SCAN: "read",
    Resource.SBOM: "read",
    Resource.SCANNER: "read",
}

_GUEST = {
    **_LIMITED_GUEST,
    Resource.MEMBER: "read list",
    Resource.LABEL: "read list",
    Resource.ROBOT: "read list",
}

_DEVELOPER = {
    **_GUEST,
    Resource.REPOSITORY: "pull push create update read list",
    Resource.ARTIFACT: "create read list",
    Resource.TAG: "create list",
    Resource.ARTIFACT_LABEL: "create delete",
    Resource.TAG_RETENTION: f"{_CRUD} operate",
    Resource.EXPORT_CVE: "create read list",
}

_MAINTAINER = {
    **_DEVELOPER,
    Resource.METADATA: "read",
    Resource.LABEL: _CRUD,
    Resource.REPOSITORY: "pull push create update delete read list",
    Resource.ARTIFACT: "create read list delete",
    Resource.TAG: "create list delete",
    Resource.IMMUTABLE_TAG: "create update delete list",
    Resource.NOTIFICATION_POLICY: "read list",
    Resource.SCAN: "create read stop",
    Resource.SBOM: "create read stop",
}

_PROJECT_ADMIN = {
    **_MAINTAINER,
    Resource.PROJECT: "read update delete",
    Resource.MEMBER: _CRUD,
    Resource.METADATA: _CRUD,
    Resource.LOG: "list",
    Resource.CONFIGURATION: "read update",
    Resource.ROBOT: _CRUD,
    Resource.NOTIFICATION_POLICY: _CRUD,
    Resource.SCANNER: "create read",
    Resource.PREHEAT_POLICY: _CRUD,
}

ROLE_PERMISSIONS: dict[ProjectRole, frozenset[Permission]] = {
    ProjectRole.PROJECT_ADMIN: _grants(_PROJECT_ADMIN),
    ProjectRole.MAINTAINER: _grants(_MAINTAINER),
    ProjectRole.DEVELOPER: _grants(_DEVELOPER),
    ProjectRole.GUEST: _grants(_GUEST),
    ProjectRole.LIMITED_GUEST: _grants(_LIMITED_GUEST),
}

# Permissions a public project grants to every caller, anonymous included.
PUBLIC_PERMISSIONS: frozenset[Permission] = _grants(
    {
        Resource.PROJECT: "read",
        Resource.LABEL: "read list",
        Resource.REPOSITORY: "pull list",
        Resource.SCAN: "read",
        Resource.SCANNER: "read",
        Resource.TAG: "list",
        Resource.ARTIFACT: "read list",
        Resource.ARTIFACT_ADDITION: "read",
        Resource.ACCESSORY: "list",
    }
)

# Every project permission a robot account may be granted.
ROBOT_PROJECT_PERMISSIONS: frozenset[Permission] = _grants(
    {
        Resource.LOG: "list",
        Resource.PROJECT: "read update delete",
        Resource.METADATA: _CRUD,
        Resource.REPOSITORY: "read update delete list pull push scanner-pull",
        Resource.ARTIFACT: "read create list delete",
        Resource.SCAN: "create read stop",
        Resource.SBOM: "create read stop",
        Resource.TAG: "create list delete",
        Resource.ACCESSORY: "list",
        Resource.ARTIFACT_ADDITION: "read",
        Resource.ARTIFACT_LABEL: "create delete",
        Resource.SCANNER: "create read",
        Resource.PREHEAT_POLICY: _CRUD,
        Resource.IMMUTABLE_TAG: _CRUD,
        Resource.NOTIFICATION_POLICY: _CRUD,
        Resource.TAG_RETENTION: f"{_CRUD} operate",
        Resource.LABEL: _CRUD,
        Resource.QUOTA: "read",
        Resource.ROBOT: "create read list delete",
        Resource.EXPORT_CVE: "create read",
        Resource.MEMBER: _CRUD,
    }
)


def _system_grants(spec: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(
        (resource, action)
        for resource, actions in spec.items()
        for action in actions.split()
    )


# Every system permission (resource, action) a system robot account may be
# granted: Harbor's system robot policies plus the ones it adds without limit
# (robot, user, user-group, ldap-user, quota:update). Most of these resources
# have no Seawall endpoint yet; they are accepted so that permission lists
# written for Harbor keep working.
ROBOT_SYSTEM_PERMISSIONS: frozenset[tuple[str, str]] = _system_grants(
    {
        "audit-log": "list",
        "preheat-instance": "create read update delete list",
        "project": "create list",
        "replication-policy": "create read update delete list",
        "replication": "create read list",
        "replication-adapter": "list",
        "registry": "create read update delete list",
        "scan-all": "create read update stop",
        "system-volumes": "read",
        "garbage-collection": "create read update list stop",
        "purge-audit": "create read update list stop",
        "jobservice-monitor": "list stop",
        "scanner": "create read update delete list",
        "label": "create read update delete",
        "security-hub": "read list",
        "catalog": "read",
        "quota": "read list update",
        "robot": "create read delete list",
        "user": _CRUD,
        "user-group": _CRUD,
        "ldap-user": "create list",
    }
)


def role_permissions(roles: frozenset[ProjectRole]) -> frozenset[Permission]:
    """Return the union of the permissions of `roles`."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted


def highest_role(roles: frozenset[ProjectRole]) -> ProjectRole | None:
    """Return the strongest role, ordered as Harbor orders `current_user_role_id`."""
    order = [
        ProjectRole.PROJECT_ADMIN,
        ProjectRole.MAINTAINER,
        ProjectRole.DEVELOPER,
        ProjectRole.GUEST,
        ProjectRole.LIMITED_GUEST,
    ]
    for role in order:
        if role in roles:
            return role
    return None
