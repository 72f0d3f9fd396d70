"""Repositories, artifacts and tags as Harbor's REST API presents them.

The `/v2/` routes store what clients push (see `registry.manifests`). This
module lists, tags and deletes those rows for `/api/v2.0`, and
`registry.artifact_details` derives the Harbor fields that no column stores.

As in Harbor, artifact listings and counts leave out the children of an
image index unless they are tagged, because they appear as the index's
`references`, and leave out accessories (signatures, SBOMs and other
artifacts with a subject, see `registry.accessories`), which are listed
under their subject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from seawall.db.models import (
    Artifact,
    ArtifactReference,
    Repository,
    RepositoryBlob,
    Tag,
)
from seawall.db.types import utcnow
from seawall.registry.accessories import find_accessories, is_accessory
from seawall.registry.artifact_details import (
    ArtifactInfo,
    ManifestReader,
    TagInfo,
)
from seawall.registry.errors import (
    ManifestInUse,
    ManifestNotFound,
    RegistryError,
    RepositoryNotFound,
)
from seawall.registry.listings import CatalogScope, _visible
from seawall.registry.names import (
    check_tag,
    is_digest_reference,
    is_tag,
    to_digest,
)
from seawall.storage import BlobStore

T = TypeVar("T")

# Adds the caller's `q` conditions and sort order to a select of one model.
Refine = Callable[[Select[Any]], Select[Any]]

# Keys a caller may use in `q` and `sort`, and the default orders, which
# are Harbor's: newest first. Every listing then orders by descending id,
# so rows with equal sort keys keep one order and pages neither overlap
# nor skip rows.
REPOSITORY_KEYS: dict[str, Any] = {
    "id": Repository.id,
    "name": Repository.name,
    "project_id": Repository.project_id,
    "creation_time": Repository.created_at,
    "update_time": Repository.updated_at,
}
REPOSITORY_ORDER = Repository.created_at.desc()
ARTIFACT_KEYS: dict[str, Any] = {
    "id": Artifact.id,
    "digest": Artifact.digest,
    "manifest_media_type": Artifact.media_type,
    # An index without `artifactType` reports its media type, as listed.
    "artifact_type": func.coalesce(Artifact.artifact_type, Artifact.media_type),
    "push_time": Artifact.push_time,
    "pull_time": Artifact.pull_time,
}
ARTIFACT_ORDER = Artifact.push_time.desc()
TAG_KEYS: dict[str, Any] = {
    "id": Tag.id,
    "name": Tag.name,
    "push_time": Tag.push_time,
    "pull_time": Tag.pull_time,
}
TAG_ORDER = Tag.push_time.desc()


class TagExists(RegistryError):
    def __init__(self, name: str, repository: str) -> None:
        super().__init__(
            f"tag {name!r} already exists in repository {repository!r}; "
            "delete it first to move it to another artifact",
            {"tag": name, "repository": repository},
        )


class TagNotFound(RegistryError):
    def __init__(self, name: str, digest: str) -> None:
        super().__init__(
            f"tag {name!r} is not attached to artifact {digest}",
            {"tag": name, "digest": digest},
        )


@dataclass(frozen=True, slots=True)
class ResultPage(Generic[T]):
    items: list[T]
    total: int  # matches across all pages, for `X-Total-Count`


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    id: int
    project_id: int
    name: str
    description: str
    artifact_count: int
    pull_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TagFilter:
    """Harbor's `q=tags=...` term: "*", "nil", an exact name or a fuzzy name."""

    kind: str  # "tagged", "untagged", "exact" or "fuzzy"
    value: str = ""


# Repositories


def require_repository_in(session: Session, project_id: int, name: str) -> Repository:
    """Return the repository `name` of the project, or raise `RepositoryNotFound`."""
    repository = session.scalars(
        select(Repository).where(
            Repository.name == name, Repository.project_id == project_id
        )
    ).one_or_none()
    if repository is None:
        raise RepositoryNotFound(name)
    return repository


def list_repositories(
    session: Session,
    *,
    scope: CatalogScope | None,
    project_id: int | None,
    refine: Refine,
    offset: int,
    limit: int,
) -> ResultPage[RepositoryInfo]:
    """Return a page of the repositories in `scope` (all when None) or in one project."""
    statement: Select[Any] = select(Repository)
    if project_id is not None:
        statement = statement.where(Repository.project_id == project_id)
    if scope is not None and not scope.all_projects:
        statement = statement.where(_visible(scope))
    statement = refine(statement)
    total = _count(session, statement)
    rows = list(
        session.scalars(
            statement.order_by(Repository.id.desc()).offset(offset).limit(limit)
        )
    )
    counts = _artifact_counts(session, [row.id for row in rows])
    return ResultPage([_repository_info(row, counts) for row in rows], total)


def get_repository(session: Session, project_id: int, name: str) -> RepositoryInfo:
    repository = require_repository_in(session, project_id, name)
    return _repository_info(repository, _artifact_counts(session, [repository.id]))


def delete_repository(session: Session, project_id: int, name: str) -> int:
    """Delete a repository with its artifacts and tags, and return the artifact count.

    Blob files stay in storage, because other repositories may link them.
    Only this repository's links to them are removed.
    """
    repository = require_repository_in(session, project_id, name)
    artifact_ids = select(Artifact.id).where(Artifact.repository_id == repository.id)
    count = _count(session, artifact_ids)
    session.execute(delete(Tag).where(Tag.repository_id == repository.id))
    session.execute(
        delete(ArtifactReference).where(ArtifactReference.artifact_id.in_(artifact_ids))
    )
    session.execute(delete(Artifact).where(Artifact.repository_id == repository.id))
    session.execute(
        delete(RepositoryBlob).where(RepositoryBlob.repository_id == repository.id)
    )
    # Statements rather than `session.delete`, so a concurrent delete of the
    # same rows finds nothing to do instead of failing with StaleDataError.
    session.execute(delete(Repository).where(Repository.id == repository.id))
    return count


def _repository_info(repository: Repository, counts: dict[int, int]) -> RepositoryInfo:
    return RepositoryInfo(
        id=repository.id,
        project_id=repository.project_id,
        name=repository.name,
        description=repository.description,
        artifact_count=counts.get(repository.id, 0),
        pull_count=repository.pull_count,
        created_at=repository.created_at,
        updated_at=repository.updated_at,
    )


def _artifact_counts(session: Session, repository_ids: list[int]) -> dict[int, int]:
    if not repository_ids:
        return {}
    rows = session.execute(
        select(Artifact.repository_id, func.count())
        .where(Artifact.repository_id.in_(repository_ids), _listed(None))
        .group_by(Artifact.repository_id)
    )
    return {repository_id: count for repository_id, count in rows.tuples()}


def _count(session: Session, statement: Select[Any]) -> int:
    subquery = statement.order_by(None).subquery()
    return session.scalar(select(func.count()).select_from(subquery)) or 0


# Artifacts


def resolve_artifact(
    session: Session, repository: Repository, reference: str
) -> Artifact:
    """Find the artifact a tag or digest names, or raise `ManifestNotFound`."""
    statement = select(Artifact).where(Artifact.repository_id == repository.id)
    if is_digest_reference(reference):
        statement = statement.where(Artifact.digest == str(to_digest(reference)))
    else:
        check_tag(reference)
        statement = statement.join(Tag, Tag.artifact_id == Artifact.id).where(
            Tag.name == reference
        )
    artifact = session.scalars(statement).one_or_none()
    if artifact is None:
        raise ManifestNotFound(repository.name, reference)
    return artifact


def list_artifacts(
    session: Session,
    store: BlobStore,
    repository: Repository,
    *,
    tag_filter: TagFilter | None,
    with_tags: bool,
    refine: Refine,
    offset: int,
    limit: int,
) -> ResultPage[ArtifactInfo]:
    statement: Select[Any] = select(Artifact).where(
        Artifact.repository_id == repository.id, _listed(tag_filter)
    )
    statement = refine(statement)
    total = _count(session, statement)
    rows = list(
        session.scalars(
            statement.order_by(Artifact.id.desc()).offset(offset).limit(limit)
        )
    )
    return ResultPage(
        describe_artifacts(session, store, repository, rows, with_tags), total
    )


def get_artifact(
    session: Session,
    store: BlobStore,
    repository: Repository,
    reference: str,
    with_tags: bool,
) -> ArtifactInfo:
    artifact = resolve_artifact(session, repository, reference)
    return describe_artifacts(session, store, repository, [artifact], with_tags)[0]


def delete_artifact(
    session: Session, repository: Repository, reference: str
) -> list[str]:
    """Delete an artifact with its tags, accessories and the children only it lists.

    Returns the digests of the deleted artifacts. Raises `ManifestInUse`
    while an image index in the repository lists the artifact. A child of
    a deleted index goes too unless it is tagged or another index still
    lists it. Accessories of a deleted artifact go with it, as in Harbor,
    unless an index still lists them. `/v2/` deletes keep accessories,
    because the OCI spec leaves referrers in place.
    """
    artifact = resolve_artifact(session, repository, reference)
    parent = _parent_index(session, repository.id, artifact.digest)
    if parent is not None:
        raise ManifestInUse(artifact.digest, parent)
    deleted: list[str] = []
    pending = [artifact]
    while pending:
        current = pending.pop()
        if current.digest in deleted:
            continue  # both a child and an accessory of a deleted artifact
        children = list(
            session.scalars(
                select(ArtifactReference.digest).where(
                    ArtifactReference.artifact_id == current.id,
                    ArtifactReference.is_manifest.is_(True),
                )
            )
        )
        _remove_artifact(session, current)
        deleted.append(current.digest)
        pending.extend(_orphaned_children(session, repository.id, children))
        pending.extend(_unlisted_accessories(session, repository.id, current.digest))
    return deleted


def _unlisted_accessories(
    session: Session, repository_id: int, digest: str
) -> list[Artifact]:
    """Return the accessories of `digest` that no index in the repository lists."""
    return [
        accessory
        for _, accessory, _ in find_accessories(session, repository_id, [digest])
        if _parent_index(session, repository_id, accessory.digest) is None
    ]


def _remove_artifact(session: Session, artifact: Artifact) -> None:
    session.execute(delete(Tag).where(Tag.artifact_id == artifact.id))
    session.execute(
        delete(ArtifactReference).where(ArtifactReference.artifact_id == artifact.id)
    )
    session.execute(delete(Artifact).where(Artifact.id == artifact.id))


def _orphaned_children(
    session: Session, repository_id: int, digests: list[str]
) -> list[Artifact]:
    """Return the artifacts among `digests` that are untagged and in no index."""
    if not digests:
        return []
    candidates = session.scalars(
        select(Artifact).where(
            Artifact.repository_id == repository_id,
            Artifact.digest.in_(digests),
            not_(_tagged()),
        )
    )
    return [
        child
        for child in candidates
        if _parent_index(session, repository_id, child.digest) is None
    ]


def _parent_index(session: Session, repository_id: int, digest: str) -> str | None:
    """Return the digest of an index in the repository that lists `digest`."""
    return session.scalars(
        select(Artifact.digest)
        .join(ArtifactReference, ArtifactReference.artifact_id == Artifact.id)
        .where(
            Artifact.repository_id == repository_id,
            ArtifactReference.digest == digest,
            ArtifactReference.is_manifest.is_(True),
        )
    ).first()


def _tagged() -> ColumnElement[bool]:
    return exists().where(Tag.artifact_id == Artifact.id)


def _listed(tag_filter: TagFilter | None) -> ColumnElement[bool]:
    """Return the condition for the artifacts a listing shows, narrowed by `tag_filter`."""
    return and_(not_(is_accessory()), _tag_condition(tag_filter))


def _tag_condition(tag_filter: TagFilter | None) -> ColumnElement[bool]:
    parent = aliased(Artifact)
    in_index = exists().where(
        ArtifactReference.digest == Artifact.digest,
        ArtifactReference.is_manifest.is_(True),
        ArtifactReference.artifact_id == parent.id,
        parent.repository_id == Artifact.repository_id,
    )
    if tag_filter is None:
        return or_(_tagged(), not_(in_index))
    if tag_filter.kind == "tagged":
        return _tagged()
    if tag_filter.kind == "untagged":
        return and_(not_(_tagged()), not_(in_index))
    name_matches: ColumnElement[bool]
    if tag_filter.kind == "fuzzy":
        escaped = re.sub(r"([\\%_])", r"\\\1", tag_filter.value)
        name_matches = Tag.name.like(f"%{escaped}%", escape="\\")
    else:
        name_matches = Tag.name == tag_filter.value
    return exists().where(Tag.artifact_id == Artifact.id, name_matches)


def describe_artifacts(
    session: Session,
    store: BlobStore,
    repository: Repository,
    artifacts: Sequence[Artifact],
    with_tags: bool,
) -> list[ArtifactInfo]:
    """Build Harbor's view of each artifact from its row, manifest and config."""
    tags = _tags_by_artifact(session, [a.id for a in artifacts]) if with_tags else {}
    reader = ManifestReader(session, store, repository)
    return [
        reader.describe(artifact, tags.get(artifact.id, [])) for artifact in artifacts
    ]


def _tags_by_artifact(
    session: Session, artifact_ids: list[int]
) -> dict[int, list[TagInfo]]:
    found: dict[int, list[TagInfo]] = {}
    if not artifact_ids:
        return found
    rows = session.scalars(
        select(Tag)
        .where(Tag.artifact_id.in_(artifact_ids))
        .order_by(TAG_ORDER, Tag.id.desc())
    )
    for tag in rows:
        found.setdefault(tag.artifact_id, []).append(_tag_info(tag))
    return found


# Tags


def list_tags(
    session: Session, artifact: Artifact, *, refine: Refine, offset: int, limit: int
) -> ResultPage[TagInfo]:
    statement: Select[Any] = refine(select(Tag).where(Tag.artifact_id == artifact.id))
    total = _count(session, statement)
    rows = session.scalars(
        statement.order_by(Tag.id.desc()).offset(offset).limit(limit)
    )
    return ResultPage([_tag_info(tag) for tag in rows], total)


def create_tag(
    session: Session, repository: Repository, artifact: Artifact, name: str
) -> TagInfo:
    """Attach a new tag to `artifact`, or raise `TagExists` if the repository has it."""
    check_tag(name)
    if _tag_id(session, repository.id, name) is not None:
        raise TagExists(name, repository.name)
    tag = Tag(repository_id=repository.id, artifact_id=artifact.id, name=name)
    try:
        with session.begin_nested():
            session.add(tag)
    except IntegrityError as exc:
        # Between the check and the insert, another request created the
        # tag or deleted the artifact.
        if _tag_id(session, repository.id, name) is not None:
            raise TagExists(name, repository.name) from exc
        raise ManifestNotFound(repository.name, artifact.digest) from exc
    return _tag_info(tag)


def delete_tag(session: Session, artifact: Artifact, name: str) -> None:
    """Delete the tag `name` of `artifact`, or raise `TagNotFound` if it has none."""
    if not is_tag(name):
        # No stored tag breaks the grammar, and PostgreSQL rejects NUL in a
        # parameter instead of matching nothing.
        raise TagNotFound(name, artifact.digest)
    result = session.execute(
        delete(Tag).where(Tag.artifact_id == artifact.id, Tag.name == name)
    )
    # A DELETE returns a CursorResult, which has `rowcount`.
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise TagNotFound(name, artifact.digest)


def _tag_id(session: Session, repository_id: int, name: str) -> int | None:
    return session.scalar(
        select(Tag.id).where(Tag.repository_id == repository_id, Tag.name == name)
    )


def _tag_info(tag: Tag) -> TagInfo:
    return TagInfo(
        id=tag.id,
        repository_id=tag.repository_id,
        artifact_id=tag.artifact_id,
        name=tag.name,
        push_time=tag.push_time,
        pull_time=tag.pull_time,
    )


def set_repository_description(
    session: Session, project_id: int, name: str, description: str
) -> None:
    """Store a repository's description; raises `RepositoryNotFound`."""
    repository = require_repository_in(session, project_id, name)
    session.execute(
        update(Repository)
        .where(Repository.id == repository.id)
        .values(description=description, updated_at=utcnow())
    )
