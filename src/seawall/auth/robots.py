"""Robot accounts as credentials: lookup by login name and their grants."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.auth.principal import Principal, PrincipalKind, RobotGrant
from seawall.db.models import Project, Robot


def find_robot(session: Session, stored_name: str) -> Robot | None:
    """Find a robot by its name without the prefix: `name` or `project+name`."""
    project_name, sep, robot_name = stored_name.partition("+")
    if not sep:
        return session.scalars(
            select(Robot).where(Robot.name == stored_name, Robot.project_id.is_(None))
        ).one_or_none()
    return session.scalars(
        select(Robot)
        .join(Project, Project.id == Robot.project_id)
        .where(Robot.name == robot_name, Project.name == project_name)
    ).one_or_none()


def parse_grants(permissions_json: str) -> frozenset[RobotGrant]:
    """Turn a stored Harbor permission list into the grants it allows."""
    grants: set[RobotGrant] = set()
    for permission in json.loads(permissions_json):
        for access in permission.get("access", []):
            if access.get("effect", "allow") != "allow":
                continue
            grants.add(
                RobotGrant(
                    kind=permission["kind"],
                    namespace=permission["namespace"],
                    resource=access["resource"],
                    action=access["action"],
                )
            )
    return frozenset(grants)


def robot_principal(robot: Robot, login_name: str) -> Principal:
    return Principal(
        kind=PrincipalKind.ROBOT,
        username=login_name,
        robot_id=robot.id,
        robot_project_id=robot.project_id,
        grants=parse_grants(robot.permissions),
    )
