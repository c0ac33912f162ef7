"""workforce management: staffing plans, forecast adjustments, forecasts, shift templates,
contracts, schedules and shifts (issue 16)

Revision ID: workforce
Revises: agent_tools
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sportello.core.db

revision = "workforce"
down_revision = "agent_tools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wfm_contract",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("hours_per_week", sa.Double(), nullable=False),
        sa.Column("days_per_week", sa.Integer(), nullable=False),
        sa.Column("days_off", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("preferred_template_ids", sa.JSON(), nullable=False),
        sa.Column("part_time", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_wfm_contract_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_wfm_contract_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_wfm_contract")),
    )
    with op.batch_alter_table("wfm_contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wfm_contract_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "wfm_forecast_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("start_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_wfm_forecast_run_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_wfm_forecast_run_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wfm_forecast_run")),
    )
    with op.batch_alter_table("wfm_forecast_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wfm_forecast_run_brand_id"), ["brand_id"], unique=False
        )

    op.create_table(
        "wfm_shift_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False),
        sa.Column("lunch_minutes", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_wfm_shift_template_brand_id_brand")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wfm_shift_template")),
        sa.UniqueConstraint("brand_id", "name", name=op.f("uq_wfm_shift_template_brand_id_name")),
    )
    with op.batch_alter_table("wfm_shift_template", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wfm_shift_template_brand_id"), ["brand_id"], unique=False
        )

    op.create_table(
        "wfm_adjustment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("channel_class", sa.String(length=20), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("factor", sa.Double(), nullable=False),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_wfm_adjustment_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue.id"],
            name=op.f("fk_wfm_adjustment_queue_id_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wfm_adjustment")),
    )
    with op.batch_alter_table("wfm_adjustment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wfm_adjustment_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "wfm_forecast_point",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("channel_class", sa.String(length=20), nullable=False),
        sa.Column("start_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("contacts", sa.Double(), nullable=False),
        sa.Column("aht_seconds", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue.id"],
            name=op.f("fk_wfm_forecast_point_queue_id_queue"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["wfm_forecast_run.id"],
            name=op.f("fk_wfm_forecast_point_run_id_wfm_forecast_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "queue_id", "channel_class", "start_at", name=op.f("pk_wfm_forecast_point")
        ),
    )
    op.create_table(
        "wfm_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("solver_status", sa.String(length=40), nullable=False),
        sa.Column("solve_seconds", sa.Double(), nullable=False),
        sa.Column("forecast_run_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", sportello.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_wfm_schedule_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_wfm_schedule_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["forecast_run_id"],
            ["wfm_forecast_run.id"],
            name=op.f("fk_wfm_schedule_forecast_run_id_wfm_forecast_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wfm_schedule")),
    )
    with op.batch_alter_table("wfm_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wfm_schedule_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "wfm_staffing_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("channel_class", sa.String(length=20), nullable=False),
        sa.Column("service_level_target", sa.Double(), nullable=False),
        sa.Column("answer_within_seconds", sa.Integer(), nullable=False),
        sa.Column("target_asa_seconds", sa.Integer(), nullable=True),
        sa.Column("patience_seconds", sa.Integer(), nullable=True),
        sa.Column("shrinkage", sa.Double(), nullable=False),
        sa.Column("max_occupancy", sa.Double(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("backlog_sla_seconds", sa.Integer(), nullable=True),
        sa.Column("aht_seconds", sa.Integer(), nullable=True),
        sa.Column("updated_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_wfm_staffing_plan_brand_id_brand")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queue.id"],
            name=op.f("fk_wfm_staffing_plan_queue_id_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wfm_staffing_plan")),
        sa.UniqueConstraint(
            "queue_id", "channel_class", name=op.f("uq_wfm_staffing_plan_queue_id_channel_class")
        ),
    )
    with op.batch_alter_table("wfm_staffing_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wfm_staffing_plan_brand_id"), ["brand_id"], unique=False
        )

    op.create_table(
        "wfm_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("channel_class", sa.String(length=20), nullable=False),
        sa.Column("start_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", sportello.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("breaks", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["wfm_schedule.id"],
            name=op.f("fk_wfm_shift_schedule_id_wfm_schedule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["wfm_shift_template.id"],
            name=op.f("fk_wfm_shift_template_id_wfm_shift_template"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_wfm_shift_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wfm_shift")),
    )
    with op.batch_alter_table("wfm_shift", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wfm_shift_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index("ix_wfm_shift_user_start", ["user_id", "start_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wfm_shift", schema=None) as batch_op:
        batch_op.drop_index("ix_wfm_shift_user_start")
        batch_op.drop_index(batch_op.f("ix_wfm_shift_schedule_id"))

    op.drop_table("wfm_shift")
    with op.batch_alter_table("wfm_staffing_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wfm_staffing_plan_brand_id"))

    op.drop_table("wfm_staffing_plan")
    with op.batch_alter_table("wfm_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wfm_schedule_brand_id"))

    op.drop_table("wfm_schedule")
    op.drop_table("wfm_forecast_point")
    with op.batch_alter_table("wfm_adjustment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wfm_adjustment_brand_id"))

    op.drop_table("wfm_adjustment")
    with op.batch_alter_table("wfm_shift_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wfm_shift_template_brand_id"))

    op.drop_table("wfm_shift_template")
    with op.batch_alter_table("wfm_forecast_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wfm_forecast_run_brand_id"))

    op.drop_table("wfm_forecast_run")
    with op.batch_alter_table("wfm_contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wfm_contract_brand_id"))

    op.drop_table("wfm_contract")
