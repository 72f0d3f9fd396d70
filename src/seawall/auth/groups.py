"""User groups: named sets of users that can hold project roles together.

A group comes from LDAP (type 1, identified by its DN), from an HTTP
authentication proxy (type 2) or from OIDC (type 3). Names are unique per
type, and an LDAP group's DN is unique among LDAP groups. Logins bring
their group ids in `Principal.group_ids`. The local database
authenticator puts users in no group, so groups grant nothing until
another authenticator fills those ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import ColumnElement, case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.auth.roles import GROUP_ENTITY
from seawall.db.models import ProjectMember, UserGroup
from seawall.registry.errors import RegistryError

# Group ids are 32-bit columns, so a larger id names no group.
MAX_GROUP_ID = 2**31 - 1
MAX_NAME_LENGTH = 255
MAX_DN_LENGTH = 512

# An attribute type in a DN: a name such as `cn` or a dotted OID (RFC 4514).
_ATTRIBUTE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*")


class GroupType(IntEnum):
    LDAP = 1
    HTTP = 2
    OIDC = 3


class GroupInvalid(RegistryError):
    """A group request with a missing or invalid field."""


class GroupExists(RegistryError):
    """A group of the same type already has the name, or the same LDAP DN."""


class GroupNotFound(RegistryError):
    def __init__(self, group_id: int) -> None:
        super().__init__(f"the user group with id {group_id} is not found")


@dataclass(frozen=True)
class GroupView:
    """One group as Harbor's `UserGroup` describes it."""

    id: int
    group_name: str
    group_type: int
    ldap_group_dn: str


def _view(group: UserGroup) -> GroupView:
    return GroupView(group.id, group.group_name, group.group_type, group.ldap_group_dn)


def check_group_type(group_type: int | None) -> GroupType:
    """Return the group type with id `group_type`, or raise `GroupInvalid`."""
    try:
        return GroupType(group_type or 0)
    except ValueError:
        raise GroupInvalid(
            f"group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC), got {group_type}"
        ) from None


def check_name(name: str | None) -> str:
    """Return `name` if it is a valid group name, or raise `GroupInvalid`."""
    if name is None or not name.strip():
        raise GroupInvalid("group_name is required")
    if len(name) > MAX_NAME_LENGTH:
        raise GroupInvalid(
            f"group_name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}"
        )
    return name


def normalize_dn(dn: str) -> str:
    """Return the DN trimmed and in lower case, or raise `GroupInvalid` on bad syntax.

    The syntax is RFC 4514's: `type=value` pairs joined by `+` into RDNs,
    and RDNs joined by `,`, with `\\` escaping the next character. Lower
    case makes a lookup by DN ignore case, as LDAP servers compare DNs.
    """
    normalized = dn.strip().lower()
    if len(normalized) > MAX_DN_LENGTH:
        raise GroupInvalid(
            f"ldap_group_dn must be at most {MAX_DN_LENGTH} characters, "
            f"got {len(normalized)}"
        )
    parts = _split_unescaped(normalized, ",+")
    if parts is None or not all(_valid_attribute(part) for part in parts):
        raise GroupInvalid(
            f"invalid DN syntax: {dn!r}, expected a DN such as cn=devs,dc=example"
        )
    return normalized


def _split_unescaped(text: str, separators: str) -> list[str] | None:
    """Split `text` at separators not escaped by a backslash.

    Returns None when the text ends in an unfinished escape.
    """
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char in separators:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        return None
    parts.append("".join(current))
    return parts


def _valid_attribute(pair: str) -> bool:
    attribute, equals, value = pair.partition("=")
    if not equals or not value.strip():
        return False
    return _ATTRIBUTE_TYPE.fullmatch(attribute.strip()) is not None


def _by_name(session: Session, name: str, group_type: GroupType) -> UserGroup | None:
    query = select(UserGroup).where(
        UserGroup.group_name == name, UserGroup.group_type == group_type.value
    )
    return session.scalars(query).first()


def _ldap_by_dn(session: Session, dn: str) -> UserGroup | None:
    query = select(UserGroup).where(
        UserGroup.ldap_group_dn == dn, UserGroup.group_type == GroupType.LDAP.value
    )
    return session.scalars(query).first()


def _insert(session: Session, name: str, group_type: GroupType, dn: str) -> UserGroup:
    """Insert a group after checking that its name and DN are free."""
    if _by_name(session, name, group_type) is not None:
        raise GroupExists(
            f"user group {name} of type {group_type.value} already exists"
        )
    if dn and _ldap_by_dn(session, dn) is not None:
        raise GroupExists(f"an LDAP group with DN {dn} already exists")
    group = UserGroup(group_name=name, group_type=group_type.value, ldap_group_dn=dn)
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError as exc:
        # Another request added a group of this name and type, or an LDAP
        # group with this DN, after the checks.
        if dn and _ldap_by_dn(session, dn) is not None:
            raise GroupExists(f"an LDAP group with DN {dn} already exists") from exc
        raise GroupExists(
            f"user group {name} of type {group_type.value} already exists"
        ) from exc
    return group


def create_group(
    session: Session, name: str | None, group_type: int | None, dn: str | None
) -> GroupView:
    """Create a group as `POST /usergroups` does.

    Raises `GroupInvalid` for a missing name, an unknown type, an LDAP group
    without a valid DN or another type with one, and `GroupExists` for a
    name or DN already taken.
    """
    checked_name = check_name(name)
    checked_type = check_group_type(group_type)
    normalized_dn = ""
    if checked_type is GroupType.LDAP:
        if not dn or not dn.strip():
            raise GroupInvalid("ldap_group_dn is required for an LDAP group")
        # NOTE: the DN is checked for syntax only. With no LDAP server
        # configured, nothing confirms that the group exists there.
        normalized_dn = normalize_dn(dn)
    elif dn:
        raise GroupInvalid("ldap_group_dn applies only to LDAP groups (group_type 1)")
    return _view(_insert(session, checked_name, checked_type, normalized_dn))


def find_group(session: Session, group_id: int) -> UserGroup | None:
    if group_id < 1 or group_id > MAX_GROUP_ID:
        return None
    return session.get(UserGroup, group_id)


def get_group(session: Session, group_id: int) -> GroupView:
    """Return the group with id `group_id`, or raise `GroupNotFound`."""
    group = find_group(session, group_id)
    if group is None:
        raise GroupNotFound(group_id)
    return _view(group)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_contains(text: str) -> ColumnElement[bool]:
    return UserGroup.group_name.ilike(f"%{_escape_like(text)}%", escape="\\")


def list_groups(
    session: Session, name: str | None, dn: str | None, offset: int, limit: int
) -> tuple[int, list[GroupView]]:
    """Return the number of matching groups and one page of them, by name.

    `name` matches any part of the group name, ignoring case, and `dn`
    matches an LDAP group's whole DN, ignoring case.
    """
    statement = select(UserGroup)
    if name:
        statement = statement.where(_name_contains(name))
    if dn:
        statement = statement.where(UserGroup.ldap_group_dn == dn.strip().lower())
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    page = session.scalars(
        statement.order_by(UserGroup.group_name, UserGroup.id)
        .offset(offset)
        .limit(limit)
    )
    return total or 0, [_view(group) for group in page]


def search_groups(
    session: Session, name: str, offset: int, limit: int
) -> tuple[int, list[GroupView]]:
    """Return groups whose name contains `name`, closest matches first.

    An exact match comes first, then shorter names, then names in order.
    """
    statement = select(UserGroup).where(_name_contains(name))
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    exact = case((func.lower(UserGroup.group_name) == name.lower(), 0), else_=1)
    page = session.scalars(
        statement.order_by(
            exact,
            func.length(UserGroup.group_name),
            UserGroup.group_name,
            UserGroup.id,
        )
        .offset(offset)
        .limit(limit)
    )
    return total or 0, [_view(group) for group in page]


def rename_group(session: Session, group_id: int, name: str | None) -> GroupView:
    """Change a group's name, keeping its type and DN.

    Raises `GroupInvalid`, `GroupNotFound`, or `GroupExists` when another
    group of the same type has the name.
    """
    checked_name = check_name(name)
    group = find_group(session, group_id)
    if group is None:
        raise GroupNotFound(group_id)
    if group.group_name == checked_name:
        return _view(group)
    group_type = GroupType(group.group_type)
    if _by_name(session, checked_name, group_type) is not None:
        raise GroupExists(
            f"user group {checked_name} of type {group_type.value} already exists"
        )
    group.group_name = checked_name
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise GroupExists(
            f"user group {checked_name} of type {group_type.value} already exists"
        ) from exc
    return _view(group)


def delete_group(session: Session, group_id: int) -> tuple[GroupView, int]:
    """Delete a group and its project memberships.

    Returns the deleted group and how many memberships went with it.
    Raises `GroupNotFound`.
    """
    group = find_group(session, group_id)
    if group is None:
        raise GroupNotFound(group_id)
    removed = _view(group)
    memberships = (
        ProjectMember.entity_type == GROUP_ENTITY,
        ProjectMember.entity_id == group_id,
    )
    count = session.scalar(select(func.count()).where(*memberships)) or 0
    session.execute(delete(ProjectMember).where(*memberships))
    session.delete(group)
    session.flush()
    return removed, count


def find_or_create_ldap(
    session: Session, dn: str, name: str | None
) -> tuple[GroupView, bool]:
    """Return the LDAP group with this DN, creating it if there is none.

    A new group is named `name`, or after its DN when `name` is empty or
    another LDAP group already has it. The second value is True when the
    group was created. Raises `GroupInvalid` for an invalid DN, or for a
    new group's `name` that `check_name` rejects.
    """
    normalized = normalize_dn(dn)
    found = _ldap_by_dn(session, normalized)
    if found is not None:
        return _view(found), False
    group_name = check_name(name) if name and name.strip() else normalized
    if _by_name(session, group_name, GroupType.LDAP) is not None:
        group_name = normalized
    group_name = check_name(group_name[:MAX_NAME_LENGTH])
    return _view(_insert(session, group_name, GroupType.LDAP, normalized)), True


def find_or_create_named(
    session: Session, name: str, group_type: int | None
) -> tuple[GroupView, bool]:
    """Return the group with this name, creating it if there is none.

    Without `group_type` an existing group of any type is found, but only
    when exactly one type has the name. A new group needs a type other
    than LDAP, because an LDAP group needs a DN. The second value is True
    when the group was created.
    """
    checked_name = check_name(name)
    if not group_type:
        candidates = session.scalars(
            select(UserGroup).where(UserGroup.group_name == checked_name).limit(2)
        ).all()
        if len(candidates) == 1:
            return _view(candidates[0]), False
        if candidates:
            raise GroupInvalid(
                f"several groups are named {checked_name}: set member_group.group_type"
            )
        raise GroupInvalid(
            f"user group {checked_name} not found: set member_group.group_type "
            "to 2 (HTTP) or 3 (OIDC) to create it"
        )
    checked_type = check_group_type(group_type)
    found = _by_name(session, checked_name, checked_type)
    if found is not None:
        return _view(found), False
    if checked_type is GroupType.LDAP:
        raise GroupInvalid(
            f"LDAP group {checked_name} not found: set member_group.ldap_group_dn "
            "to add it"
        )
    return _view(_insert(session, checked_name, checked_type, "")), True
