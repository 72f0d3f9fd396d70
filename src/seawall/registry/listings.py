"""Paginated listings: tags of a repository, the catalog, and referrers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from seawall.db.models import Artifact, Project, ProjectMetadata, Repository, Tag
from seawall.registry.repositories import require_repository
from seawall.storage import Digest


@dataclass(frozen=True, slots=True)
class CatalogScope:
    """The projects whose repositories a caller may list."""

    all_projects: bool = False
    public_projects: bool = True
    project_ids: frozenset[int] = frozenset()


def _binary(column: Any, session: Session) -> Any:
    # Pagination with `last` needs byte order, not PostgreSQL's locale order.
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def list_tags(
    session: Session, repository_name: str, limit: int | None, last: str | None
) -> list[str]:
    """Return tag names in byte order after `last`, at most `limit` of them."""
    repository = require_repository(session, repository_name)
    name = _binary(Tag.name, session)
    statement = (
        select(Tag.name).where(Tag.repository_id == repository.id).order_by(name)
    )
    if last:
        statement = statement.where(name > last)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def list_repositories(
    session: Session, scope: CatalogScope, limit: int | None, last: str | None
) -> list[str]:
    """Return repository names the scope admits, in byte order after `last`."""
    name = _binary(Repository.name, session)
    statement: Select[str] = select(Repository.name).order_by(name)
    if not scope.all_projects:
        statement = statement.where(_visible(scope))
    if last:
        statement = statement.where(name > last)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def _visible(scope: CatalogScope) -> ColumnElement[bool]:
    public_ids = (
        select(Project.id)
        .join(ProjectMetadata, ProjectMetadata.project_id == Project.id)
        .where(ProjectMetadata.name == "public", ProjectMetadata.value == "true")
    )
    condition: ColumnElement[bool] = Repository.project_id.in_(scope.project_ids)
    if scope.public_projects:
        condition = condition | Repository.project_id.in_(public_ids)
    return condition


def list_referrers(
    session: Session, repository_name: str, subject: Digest, artifact_type: str | None
) -> list[dict[str, Any]]:
    """Return descriptors of the manifests whose subject is `subject`."""
    repository = require_repository(session, repository_name)
    statement = (
        select(Artifact)
        .where(
            Artifact.repository_id == repository.id,
            Artifact.subject_digest == str(subject),
        )
        .order_by(Artifact.push_time, Artifact.id)
    )
    if artifact_type is not None:
        statement = statement.where(Artifact.artifact_type == artifact_type)
    descriptors = []
    for artifact in session.scalars(statement):
        descriptor: dict[str, Any] = {
            "mediaType": artifact.media_type,
            "digest": artifact.digest,
            "size": artifact.size,
        }
        if artifact.artifact_type:
            descriptor["artifactType"] = artifact.artifact_type
        if artifact.annotations:
            descriptor["annotations"] = json.loads(artifact.annotations)
        descriptors.append(descriptor)
    return descriptors
