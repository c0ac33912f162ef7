"""surveys: survey settings, surveys sent and answered, opt-outs, follow-up tasks

Revision ID: surveys
Revises: routing_admin
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sportello.core.db

revision = "surveys"
down_revision = "routing_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_optout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_survey_optout_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_survey_optout_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_optout")),
        sa.UniqueConstraint(
            "brand_id", "customer_id", name=op.f("uq_survey_optout_brand_id_customer_id")
        ),
    )
    op.create_table(
        "survey_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("csat", "nps", "ces", name="surveykind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("question_it", sa.String(length=500), nullable=False),
        sa.Column("question_en", sa.String(length=500), nullable=False),
        sa.Column("ask_comment", sa.Boolean(), nullable=False),
        sa.Column("extra_questions", sa.JSON(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("expires_days", sa.Integer(), nullable=False),
        sa.Column(
            "followup_rule",
            sa.Enum(
                "none",
                "team",
                "agent",
                "supervisor",
                name="followuprule",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("followup_team_id", sa.Integer(), nullable=True),
        sa.Column("followup_sla_hours", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_survey_config_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_survey_config_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["followup_team_id"],
            ["team.id"],
            name=op.f("fk_survey_config_followup_team_id_team"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue.id"],
            name=op.f("fk_survey_config_queue_id_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_config")),
    )
    with op.batch_alter_table("survey_config", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_config_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("csat", "nps", "ces", name="surveykind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "sent",
                "answered",
                "skipped",
                name="responsestatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("skip_reason", sa.String(length=40), nullable=True),
        sa.Column("after_followup_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("scheduled_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_via", sa.String(length=20), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("extra_answers", sa.JSON(), nullable=False),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["user.id"],
            name=op.f("fk_survey_response_agent_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_survey_response_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_survey_response_channel_id_channel"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["survey_config.id"],
            name=op.f("fk_survey_response_config_id_survey_config"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_survey_response_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_survey_response_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["conversation_message.id"],
            name=op.f("fk_survey_response_message_id_conversation_message"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue.id"],
            name=op.f("fk_survey_response_queue_id_queue"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
        sa.UniqueConstraint("code", name=op.f("uq_survey_response_code")),
    )
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_response_after_followup_id"), ["after_followup_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_response_brand_answered", ["brand_id", "answered_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_survey_response_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_survey_response_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_response_customer", ["customer_id", "created_at"], unique=False
        )

    op.create_table(
        "survey_followup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open", "in_progress", "done", name="followupstatus", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=2000), nullable=False),
        sa.Column("resurvey", sa.Boolean(), nullable=False),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["user.id"],
            name=op.f("fk_survey_followup_assignee_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_survey_followup_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_survey_followup_conversation_id_conversation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_survey_followup_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["survey_response.id"],
            name=op.f("fk_survey_followup_response_id_survey_response"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
            name=op.f("fk_survey_followup_team_id_team"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_followup")),
        sa.UniqueConstraint("response_id", name=op.f("uq_survey_followup_response_id")),
    )
    with op.batch_alter_table("survey_followup", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_followup_assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_survey_followup_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_followup_open", ["brand_id", "status", "due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_followup", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_followup_open")
        batch_op.drop_index(batch_op.f("ix_survey_followup_customer_id"))
        batch_op.drop_index(batch_op.f("ix_survey_followup_assignee_id"))

    op.drop_table("survey_followup")
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_response_customer")
        batch_op.drop_index(batch_op.f("ix_survey_response_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_survey_response_brand_id"))
        batch_op.drop_index("ix_survey_response_brand_answered")
        batch_op.drop_index(batch_op.f("ix_survey_response_after_followup_id"))

    op.drop_table("survey_response")
    with op.batch_alter_table("survey_config", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_config_brand_id"))

    op.drop_table("survey_config")
    op.drop_table("survey_optout")
