"""Projects for the management API: names, metadata, listing and deletion.

Project metadata follows Harbor: every value is a string, such as
`"true"` for `public`. This module validates the keys and values a client
sends, stores them in `ProjectMetadata` rows, and removes a project with
its members and robot accounts once it contains no repositories.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.db.models import (
    Project,
    ProjectMember,
    ProjectMetadata,
    Repository,
    Robot,
    User,
)
from seawall.db.types import utcnow
from seawall.policy.rbac import ProjectRole
from seawall.registry.errors import ProjectNotFound, RegistryError
from seawall.registry.listings import CatalogScope

MAX_NAME_LENGTH = 255
_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")

BOOLEAN_KEYS = (
    "public",
    "enable_content_trust",
    "enable_content_trust_cosign",
    "prevent_vul",
    "auto_scan",
    "auto_sbom_generation",
    "reuse_sys_cve_allowlist",
)
SEVERITIES = ("none", "low", "medium", "high", "critical")
# The server sets `retention_id`. `proxy_speed_kb` applies to proxy-cache
# projects only, which this registry does not offer, so it is dropped.
METADATA_KEYS = (*BOOLEAN_KEYS, "severity", "retention_id", "proxy_speed_kb")
# Keys the per-key metadata API may add, change or delete.
EDITABLE_KEYS = (*BOOLEAN_KEYS, "severity")

# Spellings Go's strconv.ParseBool accepts, which Harbor's metadata API uses.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

NOT_EMPTY_MESSAGE = "the project contains repositories, can not be deleted"


class ProjectInvalid(RegistryError):
    """An invalid project name, metadata key or metadata value."""


class ProjectExists(RegistryError):
    def __init__(self, name: str) -> None:
        super().__init__(f"The project named {name} already exists", {"name": name})


class ProjectNotEmpty(RegistryError):
    def __init__(self, name: str) -> None:
        super().__init__(NOT_EMPTY_MESSAGE, {"name": name})


class MetadataNotFound(RegistryError):
    def __init__(self, project: str, key: str) -> None:
        super().__init__(f"metadata {key} not found in project {project}")


class MetadataExists(RegistryError):
    def __init__(self, project: str, key: str) -> None:
        super().__init__(
            f"metadata {key} already exists in project {project}; change it with PUT"
        )


@dataclass(frozen=True)
class ProjectView:
    """A project with what the API reports about it."""

    project_id: int
    name: str
    owner_id: int | None
    owner_name: str
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, str]
    repo_count: int


@dataclass(frozen=True)
class ProjectListing:
    """The filters and page of a project listing.

    `refine` adds the caller's `q` terms and `sort` order to the select.
    """

    scope: CatalogScope
    offset: int
    limit: int
    refine: Callable[[Select[Any]], Select[Any]]
    name: str | None = None
    owner: str | None = None
    public: bool | None = None


# Columns a `q` term or `sort` key may name when listing projects.
QUERY_COLUMNS: dict[str, Any] = {
    "name": Project.name,
    "project_id": Project.id,
    "owner_id": Project.owner_id,
    "creation_time": Project.created_at,
    "update_time": Project.updated_at,
}


def check_project_name(name: str) -> str:
    """Return `name` if it is a valid project name, else raise `ProjectInvalid`."""
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise ProjectInvalid(
            f"Project name {name!r} is illegal in length: "
            f"use 1 to {MAX_NAME_LENGTH} characters"
        )
    if not _NAME_RE.fullmatch(name):
        raise ProjectInvalid(
            "project name is not in lower case or contains illegal characters: "
            "use lowercase letters and digits, separated by single '.', '_' or '-'"
        )
    return name


def _boolean(key: str, value: str) -> str:
    if value in _TRUE:
        return "true"
    if value in _FALSE:
        return "false"
    raise ProjectInvalid(
        f"metadata.{key} should only be 'true' or 'false', but got: '{value}'"
    )


def _severity(value: str) -> str:
    lowered = value.lower()
    if lowered not in SEVERITIES:
        raise ProjectInvalid(
            f"metadata.severity should be one of {', '.join(SEVERITIES)}, "
            f"but got: '{value}'"
        )
    return lowered


def _check_key(key: str, allowed: tuple[str, ...]) -> None:
    if key not in allowed:
        raise ProjectInvalid(
            f"invalid metadata key {key!r}: use one of {', '.join(allowed)}"
        )


def _normalize(key: str, value: str) -> str:
    if key == "severity":
        return _severity(value)
    return _boolean(key, value)


def creation_metadata(
    metadata: Mapping[str, str | None], deprecated_public: bool | None
) -> dict[str, str]:
    """Validate the metadata of a new project and return what to store.

    `public` must be exactly "true" or "false" and defaults to "false". The
    deprecated top-level `public` field counts only when `metadata.public`
    is empty. Other keys with an empty value are left out.
    """
    values = dict(metadata)
    for key in values:
        _check_key(key, METADATA_KEYS)
    retention = values.pop("retention_id", None)
    if retention:
        raise ProjectInvalid(
            "the retention_id in the request's payload when creating a project "
            "should be omitted, alternatively passing an empty string"
        )
    values.pop("proxy_speed_kb", None)

    public = values.pop("public", None) or ""
    if not public and deprecated_public is not None:
        public = "true" if deprecated_public else "false"
    public = public or "false"
    if public not in {"true", "false"}:
        raise ProjectInvalid(
            f"metadata.public should only be 'true' or 'false', but got: '{public}'"
        )
    result = {"public": public}
    for key, value in values.items():
        if value:
            result[key] = _normalize(key, value)
    return result


def update_metadata(
    metadata: Mapping[str, str | None], current: Mapping[str, str]
) -> dict[str, str]:
    """Validate metadata changes of an existing project and return what to store.

    `retention_id` may only repeat the value already stored. Keys with an
    empty value are left unchanged.
    """
    changes: dict[str, str] = {}
    for key, value in metadata.items():
        _check_key(key, METADATA_KEYS)
        if value is None or key == "proxy_speed_kb":
            continue
        if key == "retention_id":
            if value != current.get("retention_id"):
                raise ProjectInvalid(
                    "the retention_id in the request's payload when updating a "
                    "project should be omitted, alternatively passing the one "
                    "that has already been associated to this project"
                )
            continue
        if not value:
            continue
        if key == "public" and value not in {"true", "false"}:
            raise ProjectInvalid(
                f"metadata.public should only be 'true' or 'false', but got: '{value}'"
            )
        changes[key] = _normalize(key, value)
    return changes


def editable_pair(values: Mapping[str, str]) -> tuple[str, str]:
    """Validate the one key/value pair of a per-key metadata request."""
    if len(values) != 1:
        raise ProjectInvalid(
            "the request body must contain exactly one metadata key/value pair"
        )
    ((key, value),) = values.items()
    _check_key(key, EDITABLE_KEYS)
    return key, _normalize(key, value)


def first_sysadmin_id(session: Session) -> int | None:
    """Return the lowest user id with the system administrator flag."""
    return session.scalars(
        select(User.id).where(User.sysadmin.is_(True)).order_by(User.id).limit(1)
    ).first()


def _has_nul(*values: str | None) -> bool:
    # No stored name contains NUL, and PostgreSQL rejects it in a parameter.
    return any(value is not None and "\x00" in value for value in values)


def project_name_exists(session: Session, name: str) -> bool:
    if _has_nul(name):
        return False
    return session.scalar(select(exists().where(Project.name == name))) is True


def create_project(
    session: Session, name: str, owner_id: int, metadata: Mapping[str, str]
) -> Project:
    """Insert a project, its metadata, and its owner as a projectAdmin member."""
    check_project_name(name)
    if project_name_exists(session, name):
        raise ProjectExists(name)
    project = Project(name=name, owner_id=owner_id)
    for key, value in metadata.items():
        project.metadata_items.append(ProjectMetadata(name=key, value=value))
    try:
        with session.begin_nested():
            session.add(project)
            session.flush()
    except IntegrityError as exc:
        if not project_name_exists(session, name):
            raise
        # Another request created the same name between the check and the insert.
        raise ProjectExists(name) from exc
    session.add(
        ProjectMember(
            project_id=project.id,
            entity_type="u",
            entity_id=owner_id,
            role_id=ProjectRole.PROJECT_ADMIN.value,
        )
    )
    return project


def require_project(session: Session, project_id: int, name: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise ProjectNotFound(name)
    return project


def metadata_of(project: Project) -> dict[str, str]:
    return {item.name: item.value for item in project.metadata_items}


def _repository_counts(session: Session, project_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(Repository.project_id, func.count())
        .where(Repository.project_id.in_(project_ids))
        .group_by(Repository.project_id)
    )
    return {project_id: count for project_id, count in rows.tuples()}


def _owner_names(session: Session, projects: list[Project]) -> dict[int, str]:
    owner_ids = {project.owner_id for project in projects if project.owner_id}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(owner_ids)))
    return {user_id: username for user_id, username in rows.tuples()}


def _views(session: Session, projects: list[Project]) -> list[ProjectView]:
    counts = _repository_counts(session, [project.id for project in projects])
    owners = _owner_names(session, projects)
    return [
        ProjectView(
            project_id=project.id,
            name=project.name,
            owner_id=project.owner_id,
            owner_name=owners.get(project.owner_id or 0, ""),
            created_at=project.created_at,
            updated_at=project.updated_at,
            metadata=metadata_of(project),
            repo_count=counts.get(project.id, 0),
        )
        for project in projects
    ]


def load_project(session: Session, project_id: int, name: str) -> ProjectView:
    """Return the project with its owner, metadata and repository count."""
    project = session.get(Project, project_id)
    if project is None:
        raise ProjectNotFound(name)
    return _views(session, [project])[0]


def _is_public() -> ColumnElement[bool]:
    return exists().where(
        ProjectMetadata.project_id == Project.id,
        ProjectMetadata.name == "public",
        ProjectMetadata.value == "true",
    )


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _listing_statement(listing: ProjectListing) -> Select[Any]:
    statement: Select[Any] = select(Project)
    if _has_nul(listing.name, listing.owner):
        return statement.where(false())
    scope = listing.scope
    if not scope.all_projects:
        visible: ColumnElement[bool] = Project.id.in_(scope.project_ids)
        if scope.public_projects:
            visible = visible | _is_public()
        statement = statement.where(visible)
    if listing.name:
        statement = statement.where(
            Project.name.ilike(_like(listing.name), escape="\\")
        )
    if listing.owner:
        owner_id = select(User.id).where(User.username == listing.owner)
        statement = statement.where(Project.owner_id.in_(owner_id))
    if listing.public is True:
        statement = statement.where(_is_public())
    elif listing.public is False:
        statement = statement.where(~_is_public())
    return listing.refine(statement)


def list_projects(
    session: Session, listing: ProjectListing
) -> tuple[int, list[ProjectView]]:
    """Return the number of matching projects and the requested page of them."""
    statement = _listing_statement(listing)
    total = session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    page = session.scalars(statement.offset(listing.offset).limit(listing.limit))
    return total or 0, _views(session, list(page))


def set_metadata(project: Project, changes: Mapping[str, str]) -> None:
    """Add or replace metadata keys. Keys not in `changes` stay as they are."""
    existing = {item.name: item for item in project.metadata_items}
    for key, value in changes.items():
        item = existing.get(key)
        if item is None:
            project.metadata_items.append(ProjectMetadata(name=key, value=value))
        else:
            item.value = value
    if changes:
        project.updated_at = utcnow()


def add_metadata(project: Project, key: str, value: str) -> None:
    if project.metadata_value(key) is not None:
        raise MetadataExists(project.name, key)
    set_metadata(project, {key: value})


def delete_metadata(project: Project, key: str) -> None:
    for item in project.metadata_items:
        if item.name == key:
            project.metadata_items.remove(item)
            project.updated_at = utcnow()
            return
    raise MetadataNotFound(project.name, key)


def repository_count(session: Session, project_id: int) -> int:
    count = session.scalar(
        select(func.count()).where(Repository.project_id == project_id)
    )
    return count or 0


@dataclass(frozen=True)
class DeletedProject:
    name: str
    robot_ids: list[int] = field(default_factory=list)


def delete_project(session: Session, project_id: int, name: str) -> DeletedProject:
    """Delete an empty project with its metadata, members and robot accounts.

    The project row is locked first (on PostgreSQL), so a push that would
    create a repository in it waits, then fails on the missing project.
    Raises `ProjectNotEmpty` when the project has a repository.
    """
    project = session.scalars(
        select(Project).where(Project.id == project_id).with_for_update()
    ).one_or_none()
    if project is None:
        raise ProjectNotFound(name)
    if repository_count(session, project_id) > 0:
        raise ProjectNotEmpty(project.name)
    robot_ids = list(
        session.scalars(select(Robot.id).where(Robot.project_id == project_id))
    )
    session.execute(delete(Robot).where(Robot.project_id == project_id))
    session.execute(delete(ProjectMember).where(ProjectMember.project_id == project_id))
    robot_ids += _revoke_system_robot_grants(session, project.name)
    session.delete(project)
    return DeletedProject(project.name, robot_ids)


def _revoke_system_robot_grants(session: Session, project_name: str) -> list[int]:
    """Drop system robots' grants that name the project; return the robots changed.

    Grants name projects, so without this a project created later with the
    same name would inherit them.
    """
    changed = []
    for robot in session.scalars(select(Robot).where(Robot.project_id.is_(None))):
        permissions = json.loads(robot.permissions)
        kept = [
            permission
            for permission in permissions
            if not (
                permission.get("kind") == "project"
                and permission.get("namespace") == project_name
            )
        ]
        if len(kept) != len(permissions):
            robot.permissions = json.dumps(kept)
            changed.append(robot.id)
    return changed
