"""add scanning tables

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "advisory_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("withdrawn_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "image_inventories",
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "scan_all_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scanner_registrations",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("auth", sa.String(length=64), nullable=False),
        sa.Column("access_credential", sa.Text(), nullable=False),
        sa.Column("skip_cert_verify", sa.Boolean(), nullable=False),
        sa.Column("use_internal_addr", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("immutable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("url"),
    )
    op.create_table(
        "advisories",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["advisory_imports.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("advisories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisories_import_id"), ["import_id"], unique=False
        )

    op.create_table(
        "cve_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_text", sa.Text(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scan_reports",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("registration_uuid", sa.String(length=36), nullable=False),
        sa.Column("mime_type", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("fixable", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("scanner_name", sa.String(length=255), nullable=False),
        sa.Column("scanner_vendor", sa.String(length=255), nullable=False),
        sa.Column("scanner_version", sa.String(length=255), nullable=False),
        sa.Column("advisory_generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_uuid"], ["scanner_registrations.uuid"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("digest", "registration_uuid", "mime_type"),
    )
    with op.batch_alter_table("scan_reports", schema=None) as batch_op:
        batch_op.create_index("ix_scan_reports_digest", ["digest"], unique=False)

    op.create_table(
        "advisory_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.String(length=255), nullable=False),
        sa.Column("ecosystem", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("ranges", sa.Text(), nullable=False),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("advisory_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisory_packages_advisory_id"),
            ["advisory_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_advisory_packages_lookup", ["ecosystem", "name"], unique=False
        )

    op.create_table(
        "cve_allowlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_table(
        "project_scanners",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("registration_uuid", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["registration_uuid"], ["scanner_registrations.uuid"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id"),
    )


def downgrade() -> None:

    op.drop_table("project_scanners")
    op.drop_table("cve_allowlists")
    with op.batch_alter_table("advisory_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_advisory_packages_lookup")
        batch_op.drop_index(batch_op.f("ix_advisory_packages_advisory_id"))

    op.drop_table("advisory_packages")
    with op.batch_alter_table("scan_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_reports_digest")

    op.drop_table("scan_reports")
    op.drop_table("cve_exports")
    with op.batch_alter_table("advisories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisories_import_id"))

    op.drop_table("advisories")
    op.drop_table("scanner_registrations")
    op.drop_table("scan_all_executions")
    op.drop_table("image_inventories")
    op.drop_table("advisory_imports")
