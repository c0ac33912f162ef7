"""pbx: the state of each PBX channel's AMI connection

Revision ID: pbx
Revises: voice
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sportello.core.db

revision = "pbx"
down_revision = "sideconv"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pbx_link",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("last_error_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("connected_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_pbx_link_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_pbx_link")),
    )


def downgrade() -> None:
    op.drop_table("pbx_link")
