"""voice_media: what rtpengine plays to a waiting caller (announcements, music on hold)

Revision ID: voice_media
Revises: voice
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sportello.core.db

revision = "voice_media"
down_revision = "pbx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_call") as batch:
        batch.add_column(sa.Column("media", sa.String(length=10), nullable=True))
        batch.add_column(
            sa.Column("media_until", sportello.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("voice_call") as batch:
        batch.drop_column("media_until")
        batch.drop_column("media")
