"""Project membership: which users hold which Harbor role in a project.

A member is a user (entity type "u") with one role id from
`policy.rbac.ProjectRole`. Harbor also accepts user groups (entity type
"g"), which need an LDAP, OIDC or HTTP authenticator that this registry
does not have yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.db.models import ProjectMember, User
from seawall.policy.rbac import ProjectRole
from seawall.registry.errors import RegistryError

USER_ENTITY = "u"

# User ids are 32-bit columns, so a larger id names no user.
MAX_USER_ID = 2**31 - 1


class MemberInvalid(RegistryError):
    """A membership request with a missing or invalid field."""


class MemberExists(RegistryError):
    def __init__(self) -> None:
        super().__init__("The project member specified already exist")


class MemberNotFound(RegistryError):
    def __init__(self, project: str, member_id: int) -> None:
        super().__init__(f"member {member_id} not found in project {project}")


class UserNotFound(RegistryError):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username} is not found")


@dataclass(frozen=True)
class MemberView:
    """One member as Harbor's `ProjectMemberEntity` describes it."""

    id: int
    project_id: int
    entity_name: str
    role_id: int
    entity_id: int
    entity_type: str

    @property
    def role_name(self) -> str:
        return ProjectRole(self.role_id).harbor_name


def check_role(role_id: int | None) -> ProjectRole:
    """Return the role with id `role_id`, or raise `MemberInvalid`."""
    if role_id is None:
        raise MemberInvalid("role can not be empty")
    try:
        return ProjectRole(role_id)
    except ValueError:
        raise MemberInvalid(
            f"invalid role: must be a built-in project role (1-5), got {role_id}"
        ) from None


def resolve_user(session: Session, user_id: int | None, username: str | None) -> User:
    """Find the user a membership request names: by id first, then by name.

    An unknown id is a bad request (400) and an unknown name is not found
    (404), as in Harbor.
    """
    if user_id is not None and user_id > 0:
        user = session.get(User, user_id) if user_id <= MAX_USER_ID else None
        if user is None:
            raise MemberInvalid(f"User {user_id} not found")
        return user
    if username:
        found = None
        if "\x00" not in username:
            query = select(User).where(User.username == username)
            found = session.scalars(query).first()
        if found is None:
            raise UserNotFound(username)
        return found
    raise MemberInvalid("at least one of member_user or member_group must be provided")


def _member_rows(project_id: int) -> Select[ProjectMember, str]:
    return (
        select(ProjectMember, User.username)
        .join(User, User.id == ProjectMember.entity_id)
        .where(
            ProjectMember.project_id == project_id,
            ProjectMember.entity_type == USER_ENTITY,
        )
    )


def _view(member: ProjectMember, username: str) -> MemberView:
    return MemberView(
        id=member.id,
        project_id=member.project_id,
        entity_name=username,
        role_id=member.role_id,
        entity_id=member.entity_id,
        entity_type=member.entity_type,
    )


def _is_member(session: Session, project_id: int, user_id: int) -> bool:
    found = session.scalars(
        select(ProjectMember.id).where(
            ProjectMember.project_id == project_id,
            ProjectMember.entity_type == USER_ENTITY,
            ProjectMember.entity_id == user_id,
        )
    ).first()
    return found is not None


def add_member(
    session: Session, project_id: int, user: User, role_id: int | None
) -> MemberView:
    """Give `user` a role in the project.

    Raises `MemberExists` if the user is a member already, then
    `MemberInvalid` for an unknown role, in Harbor's order.
    """
    if _is_member(session, project_id, user.id):
        raise MemberExists()
    role = check_role(role_id)
    member = ProjectMember(
        project_id=project_id,
        entity_type=USER_ENTITY,
        entity_id=user.id,
        role_id=role.value,
    )
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError as exc:
        if not _is_member(session, project_id, user.id):
            raise
        # Another request added the same user between the check and the insert.
        raise MemberExists() from exc
    return _view(member, user.username)


def list_members(
    session: Session, project_id: int, entity_name: str | None, offset: int, limit: int
) -> tuple[int, list[MemberView]]:
    """Return the number of matching members and one page of them, by name."""
    statement = _member_rows(project_id)
    if entity_name and "\x00" in entity_name:
        # No username contains NUL, and PostgreSQL rejects it in a parameter.
        return 0, []
    if entity_name:
        escaped = (
            entity_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        statement = statement.where(User.username.ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    page = session.execute(
        statement.order_by(User.username, ProjectMember.id).offset(offset).limit(limit)
    )
    return total or 0, [_view(member, name) for member, name in page.tuples()]


def _require(
    session: Session, project_id: int, project_name: str, member_id: int
) -> tuple[ProjectMember, str]:
    row = session.execute(
        _member_rows(project_id).where(ProjectMember.id == member_id)
    ).first()
    if row is None:
        raise MemberNotFound(project_name, member_id)
    member, username = row.tuple()
    return member, username


def get_member(
    session: Session, project_id: int, project_name: str, member_id: int
) -> MemberView:
    return _view(*_require(session, project_id, project_name, member_id))


def update_role(
    session: Session,
    project_id: int,
    project_name: str,
    member_id: int,
    role: ProjectRole,
) -> MemberView:
    member, username = _require(session, project_id, project_name, member_id)
    member.role_id = role.value
    return _view(member, username)


def delete_member(
    session: Session, project_id: int, project_name: str, member_id: int
) -> MemberView:
    member, username = _require(session, project_id, project_name, member_id)
    session.delete(member)
    return _view(member, username)


def role_counts(session: Session, project_id: int) -> dict[ProjectRole, int]:
    """Return how many members hold each role in the project."""
    rows = session.execute(
        select(ProjectMember.role_id, func.count())
        .where(ProjectMember.project_id == project_id)
        .group_by(ProjectMember.role_id)
    )
    counts = dict.fromkeys(ProjectRole, 0)
    for role_id, count in rows.tuples():
        if role_id in counts:
            counts[ProjectRole(role_id)] = count
    return counts


def roles_by_project(
    session: Session, user_id: int, project_ids: list[int]
) -> dict[int, frozenset[ProjectRole]]:
    """Return the user's roles in each of the projects where it has one."""
    rows = session.execute(
        select(ProjectMember.project_id, ProjectMember.role_id).where(
            ProjectMember.entity_type == USER_ENTITY,
            ProjectMember.entity_id == user_id,
            ProjectMember.project_id.in_(project_ids),
        )
    )
    valid = {role.value for role in ProjectRole}
    roles: dict[int, set[ProjectRole]] = {}
    for project_id, role_id in rows.tuples():
        if role_id in valid:
            roles.setdefault(project_id, set()).add(ProjectRole(role_id))
    return {project_id: frozenset(found) for project_id, found in roles.items()}
