"""The caller of a request: anonymous, a user or a robot account."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    ROBOT = "robot"


@dataclass(frozen=True, slots=True)
class RobotGrant:
    """One `access` entry of a robot permission, with the namespace it applies to.

    `kind` is "project" (namespace is a project name, or "*" for every
    project) or "system" (namespace "/").
    """

    kind: str
    namespace: str
    resource: str
    action: str


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request.

    `token_access` is set when the caller presented a bearer token: it is
    the exact set of (repository, action) pairs the token grants, and the
    registry checks requests against it instead of the permission table.
    `group_ids` are the user groups the login placed the user in. A user
    has the project roles of each of them as well as its own.
    """

    kind: PrincipalKind
    username: str
    user_id: int | None = None
    sysadmin: bool = False
    group_ids: frozenset[int] = field(default_factory=frozenset)
    robot_id: int | None = None
    robot_project_id: int | None = None
    grants: frozenset[RobotGrant] = field(default_factory=frozenset)
    token_access: frozenset[tuple[str, str]] | None = None
    token_project_keys: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    @property
    def anonymous(self) -> bool:
        return self.kind is PrincipalKind.ANONYMOUS

    @property
    def is_robot(self) -> bool:
        return self.kind is PrincipalKind.ROBOT


ANONYMOUS = Principal(kind=PrincipalKind.ANONYMOUS, username="anonymous")


def user_principal(
    user_id: int,
    username: str,
    sysadmin: bool,
    group_ids: frozenset[int] = frozenset(),
) -> Principal:
    return Principal(
        PrincipalKind.USER,
        username,
        user_id=user_id,
        sysadmin=sysadmin,
        group_ids=group_ids,
    )
