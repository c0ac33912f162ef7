"""imports: import jobs and the map of imported records' external ids

Revision ID: imports
Revises: voice
Create Date: 2026-12-07 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sportello.core.db

revision = "imports"
down_revision = "voice"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=30), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("failure", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_import_job_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_import_job_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    op.create_index("ix_import_job_created", "import_job", ["created_at"], unique=False)
    op.create_table(
        "import_source_map",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_job.id"],
            name=op.f("fk_import_source_map_import_id_import_job"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_source_map")),
        sa.UniqueConstraint(
            "source",
            "kind",
            "external_id",
            name=op.f("uq_import_source_map_source_kind_external_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("import_source_map")
    op.drop_index("ix_import_job_created", table_name="import_job")
    op.drop_table("import_job")
