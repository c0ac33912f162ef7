"""Workforce management: staffing settings per queue and channel, forecasts, shift templates,
contracts, schedules and their shifts.

A "channel" here is a routing channel class (``voice``, ``chat``, ``messaging``, ``email``, see
``routing.capacity.CLASSES``): staffing maths differ by class, not by provider."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.accounts.models import User
from sportello.core.db import Base, utcnow


class StaffingPlan(Base):
    """How a queue's channel is staffed: targets from its SLA, shrinkage, occupancy, concurrency.

    ``patience_seconds`` set: Erlang A; unset: Erlang C. ``backlog_sla_seconds`` applies to email
    and messaging (the work of an interval must be cleared within it)."""

    __tablename__ = "wfm_staffing_plan"
    __table_args__ = (UniqueConstraint("queue_id", "channel_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queue.id", ondelete="CASCADE"))
    channel_class: Mapped[str] = mapped_column(String(20))
    service_level_target: Mapped[float] = mapped_column(default=0.8)
    answer_within_seconds: Mapped[int] = mapped_column(default=20)
    target_asa_seconds: Mapped[int | None]
    patience_seconds: Mapped[int | None]
    shrinkage: Mapped[float] = mapped_column(default=0.3)
    max_occupancy: Mapped[float] = mapped_column(default=0.85)
    concurrency: Mapped[int] = mapped_column(default=1)
    backlog_sla_seconds: Mapped[int | None]
    aht_seconds: Mapped[int | None]  # overrides the handle time measured from history
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Adjustment(Base):
    """A known event on the calendar: a campaign (+40%), a closure (x0), a strike; multiplies
    the forecast of the matching queue / channel (NULL: any) between two days included."""

    __tablename__ = "wfm_adjustment"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="CASCADE"))
    channel_class: Mapped[str | None] = mapped_column(String(20))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    factor: Mapped[float] = mapped_column(default=1.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForecastRun(Base):
    """One forecast: its horizon, the model chosen per series and the back-test errors."""

    __tablename__ = "wfm_forecast_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    interval_minutes: Mapped[int] = mapped_column(default=15)
    # [{queue_id, channel_class, model, backtest: {model: {horizon: {mape, wape}}}, ...}]
    summary: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForecastPoint(Base):
    __tablename__ = "wfm_forecast_point"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("wfm_forecast_run.id", ondelete="CASCADE"), primary_key=True
    )
    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queue.id", ondelete="CASCADE"), primary_key=True
    )
    channel_class: Mapped[str] = mapped_column(String(20), primary_key=True)
    start_at: Mapped[datetime] = mapped_column(primary_key=True)
    contacts: Mapped[float]
    aht_seconds: Mapped[float]


class ShiftTemplate(Base):
    """A kind of shift: from, to (minutes after midnight, local time), breaks and lunch."""

    __tablename__ = "wfm_shift_template"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    start_minute: Mapped[int]
    end_minute: Mapped[int]
    break_minutes: Mapped[int] = mapped_column(default=15)  # one short break a half
    lunch_minutes: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contract(Base):
    """An agent's working terms: hours a week, days a week, fixed days off, the channels they
    can work (skills) and preferred shift templates."""

    __tablename__ = "wfm_contract"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    hours_per_week: Mapped[float] = mapped_column(default=40.0)
    days_per_week: Mapped[int] = mapped_column(default=5)
    days_off: Mapped[list[Any]] = mapped_column(JSON, default=list)  # weekdays 0=Mon..6=Sun
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)  # channel classes
    preferred_template_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    part_time: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Schedule(Base):
    """A plan of shifts for some weeks: a draft until published, then agents see it."""

    __tablename__ = "wfm_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date]
    days: Mapped[int] = mapped_column(default=7)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | published
    solver_status: Mapped[str] = mapped_column(String(40), default="")
    solve_seconds: Mapped[float] = mapped_column(default=0.0)
    forecast_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("wfm_forecast_run.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class Shift(Base):
    """One agent's shift on one day, on one channel, with its breaks (UTC times)."""

    __tablename__ = "wfm_shift"
    __table_args__ = (Index("ix_wfm_shift_user_start", "user_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("wfm_schedule.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("wfm_shift_template.id", ondelete="SET NULL")
    )
    channel_class: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    # [{"kind": "break"|"lunch", "start_at": iso, "end_at": iso}]
    breaks: Mapped[list[Any]] = mapped_column(JSON, default=list)

    user: Mapped[User] = relationship(lazy="joined")
