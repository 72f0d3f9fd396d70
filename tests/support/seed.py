"""Write registry objects straight into a running registry's database.

Tests use this to set up users, projects and memberships without going
through the API under test. After the write the metadata epoch is bumped,
so the server drops what it has cached.
"""

from __future__ import annotations

from sqlalchemy import select

from seawall.auth import hash_password
from seawall.db import Database
from seawall.db.models import Project, ProjectMember, ProjectMetadata, User
from seawall.registry.cache import MetadataEpoch
from tests.support.server import RunningRegistry


def create_project(registry: RunningRegistry, name: str, *, public: bool) -> None:
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            project = Project(name=name)
            value = "true" if public else "false"
            project.metadata_items.append(ProjectMetadata(name="public", value=value))
            session.add(project)
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()


def create_user(
    registry: RunningRegistry, username: str, password: str, *, sysadmin: bool = False
) -> int:
    """Create a local user and return its id."""
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            user = User(
                username=username,
                email=f"{username}@example.com",
                password_hash=hash_password(password),
                sysadmin=sysadmin,
            )
            session.add(user)
            session.flush()
            user_id = user.id
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()
    return user_id


def add_member(
    registry: RunningRegistry, project: str, user_id: int, role_id: int
) -> None:
    """Give a user a Harbor role (1 to 5) in a project."""
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            project_id = session.scalars(
                select(Project.id).where(Project.name == project)
            ).one()
            session.add(
                ProjectMember(
                    project_id=project_id,
                    entity_type="u",
                    entity_id=user_id,
                    role_id=role_id,
                )
            )
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()
