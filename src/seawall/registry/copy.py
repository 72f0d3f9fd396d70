"""Copy an artifact into another repository, as Harbor's artifact copy does.

Blobs and manifests are content-addressed and stored once, so a copy writes
no bytes: it links the blobs into the target repository and adds the
artifact rows there. An index brings its children, and every copied
artifact brings its accessories (`registry.accessories`) and its tags. A
tag that the target already has on another artifact moves, as a push of
that tag would move it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.db.models import Artifact, ArtifactReference, Blob, Repository, Tag
from seawall.registry.accessories import find_accessories
from seawall.registry.blobs import link_blob
from seawall.registry.errors import (
    BlobNotFound,
    ManifestNotFound,
    NameInvalid,
    RegistryError,
)
from seawall.registry.manifests import _point_tag
from seawall.registry.names import (
    check_repository_name,
    check_tag,
    is_digest_reference,
    to_digest,
)
from seawall.registry.repositories import ensure_repository, require_repository


class SourceChanged(RegistryError):
    """The copy would bring a manifest that was not in the source when checked."""

    def __init__(self, repository: str, digest: str) -> None:
        super().__init__(
            f"manifest {digest} was added to repository {repository!r} during the "
            "copy; retry the copy",
            {"repository": repository, "digest": digest},
        )


@dataclass(frozen=True, slots=True)
class CopySource:
    """The `from` of a copy: `project/repository:tag` or `project/repository@digest`."""

    repository: str
    reference: str


@dataclass(frozen=True, slots=True)
class SourceManifest:
    digest: str
    media_type: str


@dataclass
class CopyResult:
    digest: str
    created: list[str] = field(default_factory=list)  # artifacts new in the target
    tags: list[str] = field(default_factory=list)  # tags added or moved in the target


def parse_source(value: str) -> CopySource:
    """Parse the `from` parameter of a copy, or raise `NameInvalid`."""
    if "@" in value:
        repository, _, reference = value.partition("@")
        to_digest(reference)
    else:
        repository, separator, reference = value.rpartition(":")
        if not separator or "/" in reference:
            raise NameInvalid(
                f"invalid copy source {value!r}: use project/repository:tag "
                "or project/repository@digest",
                {"from": value},
            )
        check_tag(reference)
    if "/" not in repository:
        raise NameInvalid(
            f"invalid copy source {value!r}: the repository must start with "
            "its project, as in project/repository:tag",
            {"from": value},
        )
    check_repository_name(repository)
    return CopySource(repository, reference)


def source_manifests(session: Session, source: CopySource) -> list[SourceManifest]:
    """Return every manifest a copy of `source` brings, the named artifact first.

    These are the artifact, the manifests an index lists at any depth, and
    the accessories of each. Raises `RepositoryNotFound` or
    `ManifestNotFound` when the source is missing.
    """
    repository = require_repository(session, source.repository)
    pending = [_resolve(session, repository, source.reference)]
    found: dict[str, SourceManifest] = {}
    while pending:
        artifact = pending.pop()
        if artifact.digest in found:
            continue
        found[artifact.digest] = SourceManifest(artifact.digest, artifact.media_type)
        pending.extend(_children(session, repository, artifact))
        accessories = find_accessories(session, repository.id, [artifact.digest])
        pending.extend(accessory for _, accessory, _ in accessories)
    return list(found.values())


def copy_artifact(
    session: Session,
    source_name: str,
    target_name: str,
    checked: list[SourceManifest],
) -> CopyResult:
    """Copy the artifact `checked[0]` of `source_name` into `target_name`.

    `checked` is what `source_manifests` returned when the caller checked
    the source, and `SourceChanged` is raised before anything else would be
    copied. Creates the target repository when needed, and raises
    `ProjectNotFound` when its project is missing. Copying an artifact the
    target already has adds only its missing tags and accessories.
    """
    source = require_repository(session, source_name)
    target = ensure_repository(session, target_name)
    artifact = _resolve(session, source, checked[0].digest)
    result = CopyResult(artifact.digest)
    copier = _Copier(session, source, target, result, {m.digest for m in checked})
    copier.copy(artifact)
    return copier.result


class _Copier:
    def __init__(
        self,
        session: Session,
        source: Repository,
        target: Repository,
        result: CopyResult,
        checked: set[str],
    ) -> None:
        self.session = session
        self.source = source
        self.target = target
        self.result = result
        self.checked = checked
        self.visited: set[str] = set()
        # (artifact, whether its children are copied already)
        self.pending: list[tuple[Artifact, bool]] = []

    def copy(self, root: Artifact) -> None:
        """Copy `root` with its children, tags and accessories, each once.

        An explicit stack rather than recursion, because clients can nest
        indexes and accessories as deep as they like. An entry marked done
        has its children copied already, so an index follows its children.
        """
        self.pending.append((root, False))
        while self.pending:
            artifact, children_done = self.pending.pop()
            if children_done:
                self._copy_row(artifact)
                continue
            if artifact.digest in self.visited:
                continue
            if artifact.digest not in self.checked:
                raise SourceChanged(self.source.name, artifact.digest)
            self.visited.add(artifact.digest)
            self.pending.append((artifact, True))
            if _find(self.session, self.target.id, artifact.digest) is None:
                children = _children(self.session, self.source, artifact)
                self.pending.extend((child, False) for child in children)

    def _copy_row(self, artifact: Artifact) -> None:
        """Copy the artifact itself and its tags, then queue its accessories."""
        copied = _find(self.session, self.target.id, artifact.digest)
        if copied is None:
            self._link_blobs(artifact)
            copied = self._insert(artifact)
        self._copy_tags(artifact, copied)
        accessories = find_accessories(self.session, self.source.id, [artifact.digest])
        self.pending.extend((accessory, False) for _, accessory, _ in accessories)

    def _link_blobs(self, artifact: Artifact) -> None:
        """Link the manifest and the blobs it references into the target."""
        digests = {artifact.digest}
        digests.update(
            self.session.scalars(
                select(ArtifactReference.digest).where(
                    ArtifactReference.artifact_id == artifact.id,
                    ArtifactReference.is_manifest.is_(False),
                )
            )
        )
        blobs = {
            blob.digest: blob
            for blob in self.session.scalars(
                select(Blob).where(Blob.digest.in_(digests))
            )
        }
        for digest in sorted(digests):
            blob = blobs.get(digest)
            if blob is None:
                raise BlobNotFound(digest)
            link_blob(self.session, self.target, blob)

    def _insert(self, artifact: Artifact) -> Artifact:
        references = list(
            self.session.scalars(
                select(ArtifactReference).where(
                    ArtifactReference.artifact_id == artifact.id
                )
            )
        )
        copied = Artifact(
            repository_id=self.target.id,
            digest=artifact.digest,
            media_type=artifact.media_type,
            artifact_type=artifact.artifact_type,
            size=artifact.size,
            subject_digest=artifact.subject_digest,
            annotations=artifact.annotations,
        )
        try:
            with self.session.begin_nested():
                self.session.add(copied)
                self.session.flush()
                for reference in references:
                    self.session.add(
                        ArtifactReference(
                            artifact_id=copied.id,
                            digest=reference.digest,
                            is_manifest=reference.is_manifest,
                        )
                    )
        except IntegrityError:
            # A push or copy of the same manifest won the insert.
            concurrent = _find(self.session, self.target.id, artifact.digest)
            if concurrent is None:
                raise
            return concurrent
        self.result.created.append(artifact.digest)
        return copied

    def _copy_tags(self, artifact: Artifact, copied: Artifact) -> None:
        names = self.session.scalars(
            select(Tag.name).where(Tag.artifact_id == artifact.id).order_by(Tag.name)
        )
        for name in names:
            current = self.session.scalar(
                select(Tag.artifact_id).where(
                    Tag.repository_id == self.target.id, Tag.name == name
                )
            )
            if current == copied.id:
                continue
            _point_tag(self.session, self.target, name, copied)
            self.result.tags.append(name)


def _resolve(session: Session, repository: Repository, reference: str) -> Artifact:
    statement = select(Artifact).where(Artifact.repository_id == repository.id)
    if is_digest_reference(reference):
        statement = statement.where(Artifact.digest == str(to_digest(reference)))
    else:
        statement = statement.join(Tag, Tag.artifact_id == Artifact.id).where(
            Tag.name == check_tag(reference)
        )
    artifact = session.scalars(statement).one_or_none()
    if artifact is None:
        raise ManifestNotFound(repository.name, reference)
    return artifact


def _children(
    session: Session, repository: Repository, artifact: Artifact
) -> list[Artifact]:
    """Return the manifests an index lists, or raise `ManifestNotFound` for a missing one."""
    digests = list(
        session.scalars(
            select(ArtifactReference.digest).where(
                ArtifactReference.artifact_id == artifact.id,
                ArtifactReference.is_manifest.is_(True),
            )
        )
    )
    children = []
    for digest in digests:
        child = _find(session, repository.id, digest)
        if child is None:
            raise ManifestNotFound(repository.name, digest)
        children.append(child)
    return children


def _find(session: Session, repository_id: int, digest: str) -> Artifact | None:
    return session.scalars(
        select(Artifact).where(
            Artifact.repository_id == repository_id, Artifact.digest == digest
        )
    ).one_or_none()
