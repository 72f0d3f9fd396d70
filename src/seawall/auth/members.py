"""Project membership: which users and groups hold which Harbor role in a project.

A member is a user (entity type "u") or a user group (entity type "g")
with one role id from `policy.rbac.ProjectRole`. A request names its
member as Harbor's `ProjectMember` body does, and `resolve_entity` finds
the user or group in Harbor's order.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.auth import groups
from seawall.auth.roles import GROUP_ENTITY, USER_ENTITY, held_by
from seawall.db.models import ProjectMember, User, UserGroup
from seawall.policy.rbac import ProjectRole
from seawall.registry.errors import RegistryError

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
class MemberRequest:
    """The fields of `member_user` and `member_group` that name a new member."""

    user_id: int | None = None
    username: str | None = None
    group_id: int | None = None
    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


@dataclass(frozen=True)
class MemberEntity:
    """The user or group a membership is for."""

    entity_type: str
    entity_id: int
    name: str


@dataclass(frozen=True)
class ResolvedEntity:
    """The entity a request names, and the group created to resolve it, if any."""

    entity: MemberEntity
    created_group: groups.GroupView | None = None


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


def _user_entity(user: User) -> MemberEntity:
    return MemberEntity(USER_ENTITY, user.id, user.username)


def _group_entity(group: groups.GroupView) -> MemberEntity:
    return MemberEntity(GROUP_ENTITY, group.id, group.group_name)


def _group_by_id(session: Session, group_id: int) -> MemberEntity:
    group = groups.find_group(session, group_id)
    if group is None:
        raise MemberInvalid(f"Group {group_id} not found")
    return MemberEntity(GROUP_ENTITY, group.id, group.group_name)


def resolve_entity(session: Session, request: MemberRequest) -> ResolvedEntity:
    """Find the user or group a membership request names, in Harbor's order.

    The order is `member_user.user_id`, `member_group.id`,
    `member_user.username`, `member_group.ldap_group_dn` (an LDAP group,
    created if no group has the DN) and `member_group.group_name` (created
    with `group_type` if no group of that type has the name). Raises
    `MemberInvalid`, `UserNotFound`, `groups.GroupInvalid` or
    `groups.GroupExists`.
    """
    if request.user_id is not None and request.user_id > 0:
        return ResolvedEntity(
            _user_entity(resolve_user(session, request.user_id, None))
        )
    if request.group_id is not None and request.group_id > 0:
        return ResolvedEntity(_group_by_id(session, request.group_id))
    if request.username:
        return ResolvedEntity(
            _user_entity(resolve_user(session, None, request.username))
        )
    if request.ldap_group_dn:
        group, created = groups.find_or_create_ldap(
            session, request.ldap_group_dn, request.group_name
        )
        return ResolvedEntity(_group_entity(group), group if created else None)
    if request.group_name:
        group, created = groups.find_or_create_named(
            session, request.group_name, request.group_type
        )
        return ResolvedEntity(_group_entity(group), group if created else None)
    raise MemberInvalid("at least one of member_user or member_group must be provided")


def _entity_name() -> ColumnElement[str]:
    return func.coalesce(User.username, UserGroup.group_name)


def _member_rows(project_id: int) -> Select[ProjectMember, str]:
    """Select the project's members with the name of their user or group.

    A row whose user or group no longer exists is left out.
    """
    name = _entity_name()
    return (
        select(ProjectMember, name)
        .outerjoin(
            User,
            and_(
                ProjectMember.entity_type == USER_ENTITY,
                User.id == ProjectMember.entity_id,
            ),
        )
        .outerjoin(
            UserGroup,
            and_(
                ProjectMember.entity_type == GROUP_ENTITY,
                UserGroup.id == ProjectMember.entity_id,
            ),
        )
        .where(ProjectMember.project_id == project_id, name.is_not(None))
    )


def _view(member: ProjectMember, entity_name: str) -> MemberView:
    return MemberView(
        id=member.id,
        project_id=member.project_id,
        entity_name=entity_name,
        role_id=member.role_id,
        entity_id=member.entity_id,
        entity_type=member.entity_type,
    )


def _is_member(session: Session, project_id: int, entity: MemberEntity) -> bool:
    found = session.scalars(
        select(ProjectMember.id).where(
            ProjectMember.project_id == project_id,
            ProjectMember.entity_type == entity.entity_type,
            ProjectMember.entity_id == entity.entity_id,
        )
    ).first()
    return found is not None


def add_member(
    session: Session, project_id: int, entity: MemberEntity, role_id: int | None
) -> MemberView:
    """Give a user or group a role in the project.

    Raises `MemberExists` if it is a member already, then `MemberInvalid`
    for an unknown role, in Harbor's order.
    """
    if _is_member(session, project_id, entity):
        raise MemberExists()
    role = check_role(role_id)
    member = ProjectMember(
        project_id=project_id,
        entity_type=entity.entity_type,
        entity_id=entity.entity_id,
        role_id=role.value,
    )
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError as exc:
        if not _is_member(session, project_id, entity):
            raise
        # Another request added the same entity between the check and the insert.
        raise MemberExists() from exc
    return _view(member, entity.name)


def list_members(
    session: Session, project_id: int, entity_name: str | None, offset: int, limit: int
) -> tuple[int, list[MemberView]]:
    """Return the number of matching members and one page of them, by name."""
    statement = _member_rows(project_id)
    if entity_name and "\x00" in entity_name:
        # No user or group name contains NUL, and PostgreSQL rejects it in a
        # parameter.
        return 0, []
    if entity_name:
        escaped = (
            entity_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        statement = statement.where(_entity_name().ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    page = session.execute(
        statement.order_by(_entity_name(), ProjectMember.id).offset(offset).limit(limit)
    )
    return total or 0, [_view(member, name) for member, name in page]


def _require(
    session: Session, project_id: int, project_name: str, member_id: int
) -> tuple[ProjectMember, str]:
    row = session.execute(
        _member_rows(project_id).where(ProjectMember.id == member_id)
    ).first()
    if row is None:
        raise MemberNotFound(project_name, member_id)
    member, entity_name = row
    return member, entity_name


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
    member, entity_name = _require(session, project_id, project_name, member_id)
    member.role_id = role.value
    return _view(member, entity_name)


def delete_member(
    session: Session, project_id: int, project_name: str, member_id: int
) -> MemberView:
    member, entity_name = _require(session, project_id, project_name, member_id)
    session.delete(member)
    return _view(member, entity_name)


def role_counts(session: Session, project_id: int) -> dict[ProjectRole, int]:
    """Return how many members hold each role in the project."""
    rows = session.execute(
        select(ProjectMember.role_id, func.count())
        .where(ProjectMember.project_id == project_id)
        .group_by(ProjectMember.role_id)
    )
    counts = dict.fromkeys(ProjectRole, 0)
    for role_id, count in rows:
        if role_id in counts:
            counts[ProjectRole(role_id)] = count
    return counts


def roles_by_project(
    session: Session,
    user_id: int,
    project_ids: list[int],
    group_ids: frozenset[int] = frozenset(),
) -> dict[int, frozenset[ProjectRole]]:
    """Return the user's roles, direct or through its groups, in each project where it has one."""
    rows = session.execute(
        select(ProjectMember.project_id, ProjectMember.role_id).where(
            held_by(user_id, group_ids), ProjectMember.project_id.in_(project_ids)
        )
    )
    valid = {role.value for role in ProjectRole}
    roles: dict[int, set[ProjectRole]] = {}
    for project_id, role_id in rows:
        if role_id in valid:
            roles.setdefault(project_id, set()).add(ProjectRole(role_id))
    return {project_id: frozenset(found) for project_id, found in roles.items()}
