"""Robot accounts as records: Harbor's request rules, secrets and storage.

A robot is stored under its short name. Its login name is the configured
prefix followed by `name` (system level) or `project+name` (project level).
Names may not contain `+`, so `auth.robots.find_robot` splits a login name
unambiguously. A secret leaves the registry only once, in the reply that
created or refreshed it, and is stored only as an argon2 hash.

Functions that take a `Session` never commit. The caller commits once,
together with its audit record.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.auth.passwords import hash_password
from seawall.auth.principal import Principal, RobotGrant
from seawall.db.models import Project, Robot
from seawall.db.types import utcnow
from seawall.policy.rbac import (
    ROBOT_PROJECT_PERMISSIONS,
    ROBOT_SYSTEM_PERMISSIONS,
    Action,
    Permission,
    Resource,
)

LEVEL_SYSTEM = "system"
LEVEL_PROJECT = "project"
KIND_SYSTEM = "system"
KIND_PROJECT = "project"
SYSTEM_NAMESPACE = "/"
ALL_PROJECTS = "*"
NEVER_EXPIRES = -1
EFFECT_ALLOW = "allow"

MAX_NAME_LENGTH = 255
# Harbor accepts durations below 2^31 - 1 days, and the column is a 32-bit integer.
MAX_DURATION_DAYS = 2**31 - 2
SECONDS_PER_DAY = 86_400
SECRET_LENGTH = 32
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 128
_SECRET_ALPHABET = string.ascii_letters + string.digits
_NAME_PATTERN = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")

# Key of the PostgreSQL advisory lock that serializes robot creation, any
# number no other lock uses. The unique constraint on (name, project_id)
# cannot stop two system robots of the same name, because their project_id
# is NULL and NULLs never compare equal.
_CREATE_LOCK_KEY = 7_303_019_001

SECRET_RULE = (
    # An error message, not a secret.
    "the secret must be 8-128, inclusively, characters long with at least "  # noqa: S105
    "1 uppercase letter, 1 lowercase letter and 1 number"
)


class RobotAccountError(Exception):
    """A robot request that cannot be carried out, with a `message` for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRobotRequest(RobotAccountError):
    """A request body that breaks one of Harbor's robot rules."""


class RobotNotFound(RobotAccountError):
    """No robot has the requested id."""


class RobotNameTaken(RobotAccountError):
    """A robot of the same name already exists at the same level and project."""


class NamespaceNotFound(RobotAccountError):
    """A permission names a project that does not exist."""


@dataclass(frozen=True, slots=True)
class Access:
    """One Harbor `Access` entry of a permission."""

    resource: str
    action: str
    effect: str = EFFECT_ALLOW


@dataclass(frozen=True, slots=True)
class PermissionEntry:
    """One Harbor `RobotPermission`: a kind, a namespace and its accesses."""

    kind: str
    namespace: str
    access: tuple[Access, ...]


@dataclass(frozen=True, slots=True)
class RobotSettings:
    """The editable part of a robot, as create and update requests carry it."""

    description: str
    duration: int  # days, or -1 for never
    disabled: bool
    permissions: tuple[PermissionEntry, ...]


@dataclass(frozen=True, slots=True)
class RobotView:
    """A stored robot as the API shows it, without its secret."""

    id: int
    name: str  # the login name, prefix included
    short_name: str
    description: str
    level: str
    project_id: int | None
    project_name: str | None
    duration: int
    disabled: bool
    expires_at: int  # Unix seconds, or -1 for never
    permissions: tuple[PermissionEntry, ...]
    created_at: datetime
    updated_at: datetime


def login_name(prefix: str, short_name: str, project_name: str | None) -> str:
    if project_name is None:
        return f"{prefix}{short_name}"
    return f"{prefix}{project_name}+{short_name}"


def validate_name(name: str) -> None:
    """Raise `InvalidRobotRequest` unless `name` is a valid short robot name."""
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidRobotRequest(
            "robot name is not in lower case or contains illegal characters"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRobotRequest(
            f"robot name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}"
        )


def validate_settings(level: str, settings: RobotSettings) -> None:
    """Raise `InvalidRobotRequest` with Harbor's message on the first broken rule.

    Existence of the projects named in the permissions is checked later,
    when the robot is stored.
    """
    duration = settings.duration
    if duration != NEVER_EXPIRES and not 0 < duration <= MAX_DURATION_DAYS:
        raise InvalidRobotRequest(
            f"bad request error duration input: {duration}, duration must be "
            "either -1(Never) or a positive integer"
        )
    if level not in {LEVEL_SYSTEM, LEVEL_PROJECT}:
        raise InvalidRobotRequest(f"bad request error level input: {level}")
    if not settings.permissions:
        raise InvalidRobotRequest("bad request empty permission")
    if any(not permission.access for permission in settings.permissions):
        raise InvalidRobotRequest("bad request empty access")
    if level == LEVEL_PROJECT:
        _validate_project_level(settings.permissions)
    for permission in settings.permissions:
        _validate_permission(permission)


def _validate_project_level(permissions: tuple[PermissionEntry, ...]) -> None:
    if len(permissions) > 1:
        raise InvalidRobotRequest("bad request permission")
    permission = permissions[0]
    if permission.kind != KIND_PROJECT or permission.namespace in {"", ALL_PROJECTS}:
        raise InvalidRobotRequest(
            "bad request permission: a project level robot needs one permission "
            "of kind project whose namespace is a project name"
        )


def _validate_permission(permission: PermissionEntry) -> None:
    if permission.kind == KIND_SYSTEM:
        if permission.namespace != SYSTEM_NAMESPACE:
            raise InvalidRobotRequest(
                "bad request permission namespace: a permission of kind system "
                f'needs namespace "/", got {permission.namespace!r}'
            )
    elif permission.kind == KIND_PROJECT:
        if not permission.namespace:
            raise InvalidRobotRequest(
                "bad request permission namespace: a permission of kind project "
                'needs a project name or "*"'
            )
    else:
        raise InvalidRobotRequest(f"bad request permission level: {permission.kind}")
    for access in permission.access:
        if not _grantable(permission.kind, access.resource, access.action):
            raise InvalidRobotRequest(
                f"bad request permission: {access.resource}:{access.action}"
            )
        if access.effect != EFFECT_ALLOW:
            raise InvalidRobotRequest(
                f"bad request permission effect: {access.effect}; "
                "only allow is supported"
            )


def _grantable(kind: str, resource: str, action: str) -> bool:
    if kind == KIND_SYSTEM:
        return (resource, action) in ROBOT_SYSTEM_PERMISSIONS
    try:
        permission = Permission(Resource(resource), Action(action))
    except ValueError:
        return False
    return permission in ROBOT_PROJECT_PERMISSIONS


def validate_secret(secret: str) -> None:
    """Raise `InvalidRobotRequest` unless `secret` follows Harbor's password rule."""
    if not (
        MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH
        and any(char in string.ascii_uppercase for char in secret)
        and any(char in string.ascii_lowercase for char in secret)
        and any(char in string.digits for char in secret)
    ):
        raise InvalidRobotRequest(SECRET_RULE)


def generate_secret() -> str:
    """Return a random 32-character secret that passes `validate_secret`."""
    while True:
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
        try:
            validate_secret(secret)
        except InvalidRobotRequest:
            continue
        return secret


def requested_grants(permissions: Iterable[PermissionEntry]) -> frozenset[RobotGrant]:
    return frozenset(
        RobotGrant(
            permission.kind, permission.namespace, access.resource, access.action
        )
        for permission in permissions
        for access in permission.access
    )


def uncovered_grants(
    requested: frozenset[RobotGrant], creator: Principal
) -> list[RobotGrant]:
    """Return the requested grants that the robot `creator` does not have itself.

    A project grant of the creator covers the same namespace. Its `*`
    namespace covers every project when the creator is a system-level robot.
    A `repository:push` grant covers `repository:pull`, as it does when
    `policy.access` evaluates robot grants.
    """
    return sorted(
        (grant for grant in requested if not _covered(grant, creator)),
        key=lambda grant: (grant.kind, grant.namespace, grant.resource, grant.action),
    )


def _covered(grant: RobotGrant, creator: Principal) -> bool:
    actions = {grant.action}
    if (grant.resource, grant.action) == (Resource.REPOSITORY, Action.PULL):
        actions.add(Action.PUSH)
    namespaces = {grant.namespace}
    if grant.kind == KIND_PROJECT and creator.robot_project_id is None:
        namespaces.add(ALL_PROJECTS)
    return any(
        owned.kind == grant.kind
        and owned.namespace in namespaces
        and owned.resource == grant.resource
        and owned.action in actions
        for owned in creator.grants
    )


def permissions_json(permissions: Iterable[PermissionEntry]) -> str:
    """Encode permissions as the Harbor permission list stored in `robots.permissions`."""
    return json.dumps(
        [
            {
                "kind": permission.kind,
                "namespace": permission.namespace,
                "access": [
                    {
                        "resource": access.resource,
                        "action": access.action,
                        "effect": access.effect,
                    }
                    for access in permission.access
                ],
            }
            for permission in permissions
        ]
    )


def _permissions_of(stored: str) -> tuple[PermissionEntry, ...]:
    entries: list[dict[str, Any]] = json.loads(stored)
    return tuple(
        PermissionEntry(
            kind=entry["kind"],
            namespace=entry["namespace"],
            access=tuple(
                Access(item["resource"], item["action"], item.get("effect", "allow"))
                for item in entry.get("access", [])
            ),
        )
        for entry in entries
    )


def _view(robot: Robot, project_name: str | None, prefix: str) -> RobotView:
    return RobotView(
        id=robot.id,
        name=login_name(prefix, robot.name, project_name),
        short_name=robot.name,
        description=robot.description,
        level=robot.level,
        project_id=robot.project_id,
        project_name=project_name,
        duration=robot.duration,
        disabled=robot.disabled,
        expires_at=robot.expires_at,
        permissions=_permissions_of(robot.permissions),
        created_at=robot.created_at,
        updated_at=robot.updated_at,
    )


def _expiry(created_at: datetime, duration: int) -> int:
    if duration == NEVER_EXPIRES:
        return NEVER_EXPIRES
    return int(created_at.timestamp()) + duration * SECONDS_PER_DAY


def _check_namespaces(session: Session, permissions: Iterable[PermissionEntry]) -> None:
    for permission in permissions:
        if permission.kind != KIND_PROJECT or permission.namespace == ALL_PROJECTS:
            continue
        if _project_named(session, permission.namespace) is None:
            raise NamespaceNotFound(f"project {permission.namespace} not found")


def _project_named(session: Session, name: str) -> Project | None:
    return session.scalars(select(Project).where(Project.name == name)).one_or_none()


def _lock_robot_names(session: Session) -> None:
    # SQLite needs no lock: a writing session begins with BEGIN IMMEDIATE,
    # so writers already run one at a time.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY}
        )


def create_robot(
    session: Session,
    *,
    name: str,
    level: str,
    settings: RobotSettings,
    secret: str,
    creator: Principal,
    prefix: str,
) -> RobotView:
    """Store a new robot whose secret hashes to `secret`, and return it.

    Raises `NamespaceNotFound` for a permission naming a missing project and
    `RobotNameTaken` when the name is in use at the same level and project.
    """
    _lock_robot_names(session)
    _check_namespaces(session, settings.permissions)
    project: Project | None = None
    if level == LEVEL_PROJECT:
        namespace = settings.permissions[0].namespace
        project = _project_named(session, namespace)
        if project is None:
            raise NamespaceNotFound(f"project {namespace} not found")
    project_id = project.id if project is not None else None
    project_name = project.name if project is not None else None
    name_taken = RobotNameTaken(
        f"robot account {login_name(prefix, name, project_name)} already exists"
    )
    duplicate = session.scalars(
        select(Robot.id).where(Robot.name == name, _same_project(project_id))
    ).first()
    if duplicate is not None:
        raise name_taken

    created_at = utcnow()
    robot = Robot(
        name=name,
        description=settings.description,
        level=level,
        project_id=project_id,
        secret_hash=hash_password(secret),
        duration=settings.duration,
        expires_at=_expiry(created_at, settings.duration),
        disabled=settings.disabled,
        permissions=permissions_json(settings.permissions),
        creator_type="robot" if creator.is_robot else "local",
        creator_ref=(creator.robot_id if creator.is_robot else creator.user_id) or 0,
        created_at=created_at,
        updated_at=created_at,
    )
    try:
        with session.begin_nested():
            session.add(robot)
    except IntegrityError as exc:
        raise name_taken from exc
    return _view(robot, project_name, prefix)


def _same_project(project_id: int | None) -> Any:
    if project_id is None:
        return Robot.project_id.is_(None)
    return Robot.project_id == project_id


def load_robot(session: Session, robot_id: int, prefix: str) -> RobotView:
    """Return the robot `robot_id`, or raise `RobotNotFound`."""
    return _view(*_load(session, robot_id), prefix)


def _load(session: Session, robot_id: int) -> tuple[Robot, str | None]:
    robot = session.get(Robot, robot_id)
    if robot is None:
        raise RobotNotFound(f"robot {robot_id} not found")
    project_name = None
    if robot.project_id is not None:
        project = session.get(Project, robot.project_id)
        project_name = project.name if project is not None else None
    return robot, project_name


def robots_query(project_id: int | None) -> Select[Any]:
    """Return the select of system robots (`project_id` None) or of one project's robots.

    Rows are (robot, project name). The type is widened to `Select[Any]`,
    the type that `api.query` filters and sorts.
    """
    statement = (
        select(Robot, Project.name)
        .outerjoin(Project, Project.id == Robot.project_id)
        .where(_same_project(project_id))
    )
    return cast("Select[Any]", statement)


def list_robots(
    session: Session, statement: Select[Any], offset: int, limit: int, prefix: str
) -> tuple[list[RobotView], int]:
    """Run a select built on `robots_query` and return one page and the total count."""
    total = session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    rows = session.execute(statement.offset(offset).limit(limit)).all()
    views = [_view(robot, project_name, prefix) for robot, project_name in rows]
    return views, int(total or 0)


def update_robot(
    session: Session, robot_id: int, settings: RobotSettings, prefix: str
) -> RobotView:
    """Apply `settings`. A changed duration counts from the robot's creation time."""
    robot, project_name = _load(session, robot_id)
    _check_namespaces(session, settings.permissions)
    if settings.duration != robot.duration:
        robot.duration = settings.duration
        robot.expires_at = _expiry(robot.created_at, settings.duration)
    robot.description = settings.description
    robot.disabled = settings.disabled
    robot.permissions = permissions_json(settings.permissions)
    robot.updated_at = utcnow()
    session.flush()
    return _view(robot, project_name, prefix)


def set_secret(session: Session, robot_id: int, secret: str, prefix: str) -> RobotView:
    """Replace the robot's secret hash with the hash of `secret`."""
    robot, project_name = _load(session, robot_id)
    robot.secret_hash = hash_password(secret)
    robot.updated_at = utcnow()
    session.flush()
    return _view(robot, project_name, prefix)


def delete_robot(session: Session, robot_id: int, prefix: str) -> RobotView:
    """Delete the robot and return what it was."""
    robot, project_name = _load(session, robot_id)
    view = _view(robot, project_name, prefix)
    session.delete(robot)
    session.flush()
    return view
