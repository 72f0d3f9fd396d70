"""SQLAlchemy models of the registry's metadata.

Blobs are content-addressed and shared: one `Blob` row per digest, made
visible to a repository by a `RepositoryBlob` link. An `Artifact` is one
manifest in one repository; tags point at artifacts. Manifest bytes are
stored as blobs too, so the bytes served are the bytes pushed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from seawall.db.types import Digest, Timestamp, UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    credential_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )

    metadata_items: Mapped[list[ProjectMetadata]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    def metadata_value(self, key: str) -> str | None:
        for item in self.metadata_items:
            if item.name == key:
                return item.value
        return None

    @property
    def public(self) -> bool:
        return self.metadata_value("public") == "true"


class ProjectMetadata(Base):
    """One Harbor project metadata key, stored as a string as Harbor does."""

    __tablename__ = "project_metadata"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class Blob(Base):
    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[Digest] = mapped_column(unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[Timestamp]


class RepositoryBlob(Base):
    """A blob made visible to a repository by a push or a mount."""

    __tablename__ = "repository_blobs"
    __table_args__ = (UniqueConstraint("repository_id", "blob_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"))
    created_at: Mapped[Timestamp]


class Artifact(Base):
    """One manifest (image, index or other artifact) in one repository."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_artifacts_subject", "repository_id", "subject_digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    digest: Mapped[Digest]
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    subject_digest: Mapped[str | None] = mapped_column(String(200))
    annotations: Mapped[str | None] = mapped_column(Text)
    push_time: Mapped[Timestamp]
    pull_time: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ArtifactReference(Base):
    """A descriptor a manifest points at: a blob, or a child manifest of an index."""

    __tablename__ = "artifact_references"
    __table_args__ = (
        UniqueConstraint("artifact_id", "digest"),
        Index("ix_artifact_references_digest", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE")
    )
    digest: Mapped[Digest]
    is_manifest: Mapped[bool] = mapped_column(Boolean, default=False)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128))
    push_time: Mapped[Timestamp]
    pull_time: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UploadSession(Base):
    """A blob upload in progress; its bytes live under the data folder's uploads/."""

    __tablename__ = "upload_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository_name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )
