"""Project roles of users, read from project membership.

A user's roles in a project are those of its own membership together with
the memberships of each group in `group_ids`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from seawall.db.models import ProjectMember
from seawall.policy.rbac import ProjectRole

USER_ENTITY = "u"
GROUP_ENTITY = "g"


def held_by(user_id: int, group_ids: frozenset[int]) -> ColumnElement[bool]:
    """Return the condition on `ProjectMember` rows of the user or its groups."""
    own = and_(
        ProjectMember.entity_type == USER_ENTITY, ProjectMember.entity_id == user_id
    )
    if not group_ids:
        return own
    through_groups = and_(
        ProjectMember.entity_type == GROUP_ENTITY,
        ProjectMember.entity_id.in_(sorted(group_ids)),
    )
    return or_(own, through_groups)


def project_roles(
    session: Session,
    project_id: int,
    user_id: int,
    group_ids: frozenset[int] = frozenset(),
) -> frozenset[ProjectRole]:
    """Return the roles a user has in a project, directly or through its groups."""
    role_ids = session.scalars(
        select(ProjectMember.role_id).where(
            ProjectMember.project_id == project_id, held_by(user_id, group_ids)
        )
    )
    valid = {role.value for role in ProjectRole}
    return frozenset(ProjectRole(role_id) for role_id in role_ids if role_id in valid)


def member_project_ids(
    session: Session, user_id: int, group_ids: frozenset[int] = frozenset()
) -> frozenset[int]:
    """Return the ids of every project where the user or one of its groups has a role."""
    return frozenset(
        session.scalars(
            select(ProjectMember.project_id).where(held_by(user_id, group_ids))
        )
    )
