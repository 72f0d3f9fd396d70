"""Projects and repositories as the registry protocol uses them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.db.models import Project, Repository
from seawall.registry.errors import ProjectNotFound, RepositoryNotFound
from seawall.registry.names import project_of


def find_project(session: Session, name: str) -> Project | None:
    return session.scalars(select(Project).where(Project.name == name)).one_or_none()


def find_repository(session: Session, name: str) -> Repository | None:
    return session.scalars(
        select(Repository).where(Repository.name == name)
    ).one_or_none()


def require_repository(session: Session, name: str) -> Repository:
    repository = find_repository(session, name)
    if repository is None:
        raise RepositoryNotFound(name)
    return repository


def ensure_repository(session: Session, name: str) -> Repository:
    """Return the repository `name`, creating it inside its project on first push."""
    repository = find_repository(session, name)
    if repository is not None:
        return repository
    project = find_project(session, project_of(name))
    if project is None:
        raise ProjectNotFound(project_of(name))
    try:
        with session.begin_nested():
            repository = Repository(project_id=project.id, name=name)
            session.add(repository)
    except IntegrityError:
        # Another request created it between our read and our insert.
        repository = require_repository(session, name)
    return repository
