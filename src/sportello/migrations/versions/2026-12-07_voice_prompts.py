"""voice_prompts: the last position or callback announcement made to a waiting caller

Revision ID: voice_prompts
Revises: voice_media
Create Date: 2026-12-08 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sportello.core.db

revision = "voice_prompts"
down_revision = "voice_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_call") as batch:
        batch.add_column(
            sa.Column("announced_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("voice_call") as batch:
        batch.drop_column("announced_at")
