"""reports: interval and daily aggregates, conversation facts, survey answers, alerts, settings

Revision ID: reports
Revises: workforce
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sportello.core.db import UTCDateTime

revision = "reports"
down_revision = "workforce"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("raised_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_alert")),
    )
    op.create_index(
        "ix_report_alert_open", "report_alert", ["queue_id", "kind", "cleared_at"], unique=False
    )
    op.create_table(
        "report_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("offered", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("wait_sum", sa.BigInteger(), nullable=False),
        sa.Column("answered_le_15", sa.Integer(), nullable=False),
        sa.Column("answered_le_30", sa.Integer(), nullable=False),
        sa.Column("answered_le_60", sa.Integer(), nullable=False),
        sa.Column("answered_le_120", sa.Integer(), nullable=False),
        sa.Column("answered_le_300", sa.Integer(), nullable=False),
        sa.Column("answered_le_900", sa.Integer(), nullable=False),
        sa.Column("answered_le_3600", sa.Integer(), nullable=False),
        sa.Column("answered_le_14400", sa.Integer(), nullable=False),
        sa.Column("answered_le_86400", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("abandoned_short", sa.Integer(), nullable=False),
        sa.Column("abandon_wait_sum", sa.BigInteger(), nullable=False),
        sa.Column("responded", sa.Integer(), nullable=False),
        sa.Column("frt_sum", sa.BigInteger(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("sla_total", sa.Integer(), nullable=False),
        sa.Column("sla_met", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolution_sum", sa.BigInteger(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("handle_sum", sa.BigInteger(), nullable=False),
        sa.Column("wrap_sum", sa.BigInteger(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("fcr", sa.Integer(), nullable=False),
        sa.Column("csat_n", sa.Integer(), nullable=False),
        sa.Column("csat_sum", sa.Integer(), nullable=False),
        sa.Column("csat_good", sa.Integer(), nullable=False),
        sa.Column("nps_n", sa.Integer(), nullable=False),
        sa.Column("nps_promoters", sa.Integer(), nullable=False),
        sa.Column("nps_detractors", sa.Integer(), nullable=False),
        sa.Column("ces_n", sa.Integer(), nullable=False),
        sa.Column("ces_sum", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "brand_id", "channel_id", "queue_id", "agent_id", name=op.f("pk_report_day")
        ),
    )
    op.create_table(
        "report_fact",
        sa.Column("conversation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("resolver_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("frt_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("handle_seconds", sa.Integer(), nullable=False),
        sa.Column("wrap_seconds", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("short_abandon", sa.Boolean(), nullable=False),
        sa.Column("reopens", sa.Integer(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("fcr", sa.Boolean(), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("sla_total", sa.Integer(), nullable=False),
        sa.Column("sla_met", sa.Integer(), nullable=False),
        sa.Column("last_message_id", sa.Integer(), nullable=False),
        sa.Column("contribution", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_report_fact")),
    )
    op.create_index("ix_report_fact_created", "report_fact", ["created_at"], unique=False)
    op.create_index("ix_report_fact_customer", "report_fact", ["customer_id"], unique=False)
    op.create_index("ix_report_fact_resolved", "report_fact", ["resolved_at"], unique=False)
    op.create_table(
        "report_interval",
        sa.Column("bucket_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("offered", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("wait_sum", sa.BigInteger(), nullable=False),
        sa.Column("answered_le_15", sa.Integer(), nullable=False),
        sa.Column("answered_le_30", sa.Integer(), nullable=False),
        sa.Column("answered_le_60", sa.Integer(), nullable=False),
        sa.Column("answered_le_120", sa.Integer(), nullable=False),
        sa.Column("answered_le_300", sa.Integer(), nullable=False),
        sa.Column("answered_le_900", sa.Integer(), nullable=False),
        sa.Column("answered_le_3600", sa.Integer(), nullable=False),
        sa.Column("answered_le_14400", sa.Integer(), nullable=False),
        sa.Column("answered_le_86400", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("abandoned_short", sa.Integer(), nullable=False),
        sa.Column("abandon_wait_sum", sa.BigInteger(), nullable=False),
        sa.Column("responded", sa.Integer(), nullable=False),
        sa.Column("frt_sum", sa.BigInteger(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("sla_total", sa.Integer(), nullable=False),
        sa.Column("sla_met", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolution_sum", sa.BigInteger(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("handle_sum", sa.BigInteger(), nullable=False),
        sa.Column("wrap_sum", sa.BigInteger(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("fcr", sa.Integer(), nullable=False),
        sa.Column("csat_n", sa.Integer(), nullable=False),
        sa.Column("csat_sum", sa.Integer(), nullable=False),
        sa.Column("csat_good", sa.Integer(), nullable=False),
        sa.Column("nps_n", sa.Integer(), nullable=False),
        sa.Column("nps_promoters", sa.Integer(), nullable=False),
        sa.Column("nps_detractors", sa.Integer(), nullable=False),
        sa.Column("ces_n", sa.Integer(), nullable=False),
        sa.Column("ces_sum", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket_at",
            "brand_id",
            "channel_id",
            "queue_id",
            "agent_id",
            name=op.f("pk_report_interval"),
        ),
    )
    op.create_table(
        "report_settings",
        sa.Column("brand_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_report_settings")),
    )
    op.create_table(
        "report_survey_answer",
        sa.Column("response_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("survey_kind", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_report_survey_answer")),
    )
    op.create_index(
        "ix_report_survey_answer_at", "report_survey_answer", ["answered_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_report_survey_answer_at", table_name="report_survey_answer")
    op.drop_table("report_survey_answer")
    op.drop_table("report_settings")
    op.drop_table("report_interval")
    op.drop_index("ix_report_fact_resolved", table_name="report_fact")
    op.drop_index("ix_report_fact_customer", table_name="report_fact")
    op.drop_index("ix_report_fact_created", table_name="report_fact")
    op.drop_table("report_fact")
    op.drop_table("report_day")
    op.drop_index("ix_report_alert_open", table_name="report_alert")
    op.drop_table("report_alert")
