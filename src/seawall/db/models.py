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
    __table_args__ = (UniqueConstraint("email", name="uq_users_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    realname: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str] = mapped_column(String(255), default="")
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
    description: Mapped[str] = mapped_column(Text, default="")
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


class ProjectMember(Base):
    """A user (entity type "u") or group ("g") with a Harbor role in a project."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    entity_type: Mapped[str] = mapped_column(String(1))
    entity_id: Mapped[int] = mapped_column(Integer, index=True)
    role_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class Robot(Base):
    """A Harbor v2 robot account; `permissions` is its JSON list of grants."""

    __tablename__ = "robots"
    __table_args__ = (UniqueConstraint("name", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    secret_hash: Mapped[str] = mapped_column(String(255))
    duration: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[str] = mapped_column(Text)
    creator_type: Mapped[str] = mapped_column(String(16), default="local")
    creator_ref: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class Configuration(Base):
    """One system configuration key, its value stored as JSON."""

    __tablename__ = "configurations"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class AuditLog(Base):
    """A record of one state-changing API request: who, when, what and the result."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    op_time: Mapped[Timestamp] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(255))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    operation: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(512))
    result: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(String(128), default="")
