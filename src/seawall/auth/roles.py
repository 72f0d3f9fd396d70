"""Project roles of users, read from project membership."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db.models import ProjectMember
from seawall.policy.rbac import ProjectRole


def project_roles(
    session: Session, project_id: int, user_id: int
) -> frozenset[ProjectRole]:
    """Return the roles a user has in a project through direct membership."""
    role_ids = session.scalars(
        select(ProjectMember.role_id).where(
            ProjectMember.project_id == project_id,
            ProjectMember.entity_type == "u",
            ProjectMember.entity_id == user_id,
        )
    )
    valid = {role.value for role in ProjectRole}
    return frozenset(ProjectRole(role_id) for role_id in role_ids if role_id in valid)


def member_project_ids(session: Session, user_id: int) -> frozenset[int]:
    """Return the ids of every project where the user has a role."""
    return frozenset(
        session.scalars(
            select(ProjectMember.project_id).where(
                ProjectMember.entity_type == "u", ProjectMember.entity_id == user_id
            )
        )
    )
