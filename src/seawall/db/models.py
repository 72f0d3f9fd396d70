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
    text,
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
    pull_count: Mapped[int] = mapped_column(BigInteger, default=0)
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


class AdvisoryImport(Base):
    """One import of OSV advisories: where they came from, when, how many."""

    __tablename__ = "advisory_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # "zip", "folder", "url"
    sha256: Mapped[str] = mapped_column(String(64), default="")
    imported_at: Mapped[Timestamp]
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")


class Advisory(Base):
    """One OSV record; `document` keeps the whole record as imported."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("advisory_imports.id", ondelete="SET NULL"), index=True
    )
    modified: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    aliases: Mapped[str] = mapped_column(Text, default="[]")
    document: Mapped[str] = mapped_column(Text)


class AdvisoryPackage(Base):
    """One `affected` entry of an advisory, keyed for lookup by package."""

    __tablename__ = "advisory_packages"
    __table_args__ = (Index("ix_advisory_packages_lookup", "ecosystem", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advisory_id: Mapped[str] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))
    ranges: Mapped[str] = mapped_column(Text, default="[]")
    versions: Mapped[str] = mapped_column(Text, default="[]")


class ScannerRegistration(Base):
    """A scanner Seawall can call: the built-in one or an external adapter."""

    __tablename__ = "scanner_registrations"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1024), unique=True)
    auth: Mapped[str] = mapped_column(String(64), default="")
    access_credential: Mapped[str] = mapped_column(Text, default="")
    skip_cert_verify: Mapped[bool] = mapped_column(Boolean, default=False)
    use_internal_addr: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    immutable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class ProjectScanner(Base):
    """The scanner a project uses instead of the system default."""

    __tablename__ = "project_scanners"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    registration_uuid: Mapped[str] = mapped_column(
        ForeignKey("scanner_registrations.uuid", ondelete="CASCADE")
    )


class ImageInventory(Base):
    """The packages read from one image manifest's layers (JSON `Inventory`)."""

    __tablename__ = "image_inventories"

    digest: Mapped[str] = mapped_column(String(200), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[Timestamp]


class ScanReport(Base):
    """One scan of one manifest by one scanner, for one report media type."""

    __tablename__ = "scan_reports"
    __table_args__ = (
        UniqueConstraint("digest", "registration_uuid", "mime_type"),
        Index("ix_scan_reports_digest", "digest"),
    )

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    digest: Mapped[str] = mapped_column(String(200))
    registration_uuid: Mapped[str] = mapped_column(
        ForeignKey("scanner_registrations.uuid", ondelete="CASCADE")
    )
    mime_type: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    status_message: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[Timestamp]
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    severity: Mapped[str] = mapped_column(String(16), default="")
    total: Mapped[int] = mapped_column(Integer, default=0)
    fixable: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="{}")
    report: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text, default="")
    scanner_name: Mapped[str] = mapped_column(String(255), default="")
    scanner_vendor: Mapped[str] = mapped_column(String(255), default="")
    scanner_version: Mapped[str] = mapped_column(String(255), default="")
    advisory_generation: Mapped[int] = mapped_column(Integer, default=0)


class CveAllowlist(Base):
    """The system CVE allowlist (no project) or one project's list.

    `items` is a JSON list of `{"cve_id", "expires_at", "reason"}`; an item's
    own `expires_at` goes beyond Harbor, which only expires a whole list.
    """

    __tablename__ = "cve_allowlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    items: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class ScanAllExecution(Base):
    """One run of "scan all": manual or scheduled."""

    __tablename__ = "scan_all_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[Timestamp]
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    total: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[str] = mapped_column(Text, default="{}")


class CveExport(Base):
    """A CVE export to CSV, downloadable only by the user who asked for it."""

    __tablename__ = "cve_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    username: Mapped[str] = mapped_column(String(255))
    job_name: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16))
    status_text: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[str] = mapped_column(Text, default="{}")
    csv: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[Timestamp]
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserGroup(Base):
    """A user group: LDAP (type 1), HTTP authentication proxy (2) or OIDC (3).

    A group's project memberships are `ProjectMember` rows with entity type
    "g"; they carry no foreign key, so deleting a group deletes them itself.
    """

    __tablename__ = "user_groups"
    __table_args__ = (
        UniqueConstraint("group_name", "group_type"),
        # An LDAP group is known by its DN, so two LDAP groups never share one.
        Index(
            "ix_user_groups_ldap_dn",
            "ldap_group_dn",
            unique=True,
            sqlite_where=text("group_type = 1"),
            postgresql_where=text("group_type = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    group_type: Mapped[int] = mapped_column(Integer)
    ldap_group_dn: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )
