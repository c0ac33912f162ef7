"""routing admin: an SLA policy may match a channel, count in a calendar of its own, and set a
next-response target

Revision ID: routing_admin
Revises: lead_two_factor
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_admin"  # the branch name, with "_" (alembic refuses "-")
down_revision = "lead_two_factor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sla_policy") as batch:
        batch.add_column(sa.Column("channel_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("calendar_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("next_response_seconds", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_sla_policy_channel_id_channel"),
            "channel",
            ["channel_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_foreign_key(
            batch.f("fk_sla_policy_calendar_id_business_calendar"),
            "business_calendar",
            ["calendar_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("sla_policy") as batch:
        batch.drop_constraint(
            batch.f("fk_sla_policy_calendar_id_business_calendar"), type_="foreignkey"
        )
        batch.drop_constraint(batch.f("fk_sla_policy_channel_id_channel"), type_="foreignkey")
        batch.drop_column("next_response_seconds")
        batch.drop_column("calendar_id")
        batch.drop_column("channel_id")
