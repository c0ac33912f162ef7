"""Report aggregates (issue 13): one fact row a conversation, 15-minute interval totals, survey
answers, the weekly e-mail subscription and raised wallboard alerts.

The interval table is what reports read: ``report_interval`` holds, for each 15-minute bucket
(UTC) and each (brand, channel, queue, agent), the sums every KPI is computed from (kpis.py).
``report_fact`` keeps, for each conversation, its measures and the exact contribution it made
to the interval table, so the upkeep can replace that contribution when the conversation
changes: recomputing a fact from the raw rows is a function of their state, never of how many
times an event was delivered, so a replayed event adds nothing.

Dimension keys use 0 for "none" (no channel, no queue, no agent): they are part of primary keys.
No foreign keys: a deleted agent's or queue's history stays in the totals.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow

# The measures of report_interval, in order. Each is a sum (see kpis.py for what they mean).
SL_EDGES = (15, 30, 60, 120, 300, 900, 3600, 14400, 86400)
INTERVAL_MEASURES: tuple[str, ...] = (
    "offered",
    "answered",
    "wait_sum",
    *(f"answered_le_{edge}" for edge in SL_EDGES),
    "abandoned",
    "abandoned_short",
    "abandon_wait_sum",
    "responded",
    "frt_sum",
    "transfers",
    "messages_in",
    "messages_out",
    "sla_total",
    "sla_met",
    "resolved",
    "resolution_sum",
    "handled",
    "handle_sum",
    "wrap_sum",
    "reopened",
    "fcr",
    "csat_n",
    "csat_sum",
    "csat_good",
    "nps_n",
    "nps_promoters",
    "nps_detractors",
    "ces_n",
    "ces_sum",
)


class _Measures:
    """The sums (see INTERVAL_MEASURES); shared by the 15-minute and the daily table."""

    offered: Mapped[int] = mapped_column(default=0)
    answered: Mapped[int] = mapped_column(default=0)
    wait_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    answered_le_15: Mapped[int] = mapped_column(default=0)
    answered_le_30: Mapped[int] = mapped_column(default=0)
    answered_le_60: Mapped[int] = mapped_column(default=0)
    answered_le_120: Mapped[int] = mapped_column(default=0)
    answered_le_300: Mapped[int] = mapped_column(default=0)
    answered_le_900: Mapped[int] = mapped_column(default=0)
    answered_le_3600: Mapped[int] = mapped_column(default=0)
    answered_le_14400: Mapped[int] = mapped_column(default=0)
    answered_le_86400: Mapped[int] = mapped_column(default=0)
    abandoned: Mapped[int] = mapped_column(default=0)
    abandoned_short: Mapped[int] = mapped_column(default=0)
    abandon_wait_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    responded: Mapped[int] = mapped_column(default=0)
    frt_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    transfers: Mapped[int] = mapped_column(default=0)
    messages_in: Mapped[int] = mapped_column(default=0)
    messages_out: Mapped[int] = mapped_column(default=0)
    sla_total: Mapped[int] = mapped_column(default=0)
    sla_met: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    resolution_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    handled: Mapped[int] = mapped_column(default=0)
    handle_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    wrap_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    reopened: Mapped[int] = mapped_column(default=0)
    fcr: Mapped[int] = mapped_column(default=0)
    csat_n: Mapped[int] = mapped_column(default=0)
    csat_sum: Mapped[int] = mapped_column(default=0)
    csat_good: Mapped[int] = mapped_column(default=0)
    nps_n: Mapped[int] = mapped_column(default=0)
    nps_promoters: Mapped[int] = mapped_column(default=0)
    nps_detractors: Mapped[int] = mapped_column(default=0)
    ces_n: Mapped[int] = mapped_column(default=0)
    ces_sum: Mapped[int] = mapped_column(default=0)


class ReportInterval(_Measures, Base):
    """Sums by 15-minute bucket of UTC: the source of sub-day reports, the heatmap and the
    wallboard's today."""

    __tablename__ = "report_interval"

    bucket_at: Mapped[datetime] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(primary_key=True)


class ReportDay(_Measures, Base):
    """The same sums by local day (Europe/Rome), kept by the same upkeep: day, week and month
    reports read ~100x fewer rows (a day is 92, 96 or 100 buckets)."""

    __tablename__ = "report_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(primary_key=True)


class ReportFact(Base):
    """A conversation's measures as of its last upkeep, and what it added to report_interval."""

    __tablename__ = "report_fact"
    __table_args__ = (
        Index("ix_report_fact_created", "created_at"),
        Index("ix_report_fact_resolved", "resolved_at"),
        Index("ix_report_fact_customer", "customer_id"),
    )

    conversation_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    brand_id: Mapped[int]
    channel_id: Mapped[int]
    queue_id: Mapped[int]
    agent_id: Mapped[int]  # who answered (first agent assigned or replying)
    resolver_id: Mapped[int]  # the assignee when it was resolved
    customer_id: Mapped[int]
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    wait_seconds: Mapped[int | None]
    frt_seconds: Mapped[int | None]
    resolution_seconds: Mapped[int | None]
    handle_seconds: Mapped[int] = mapped_column(default=0)
    wrap_seconds: Mapped[int] = mapped_column(default=0)
    abandoned: Mapped[bool] = mapped_column(default=False)
    short_abandon: Mapped[bool] = mapped_column(default=False)
    reopens: Mapped[int] = mapped_column(default=0)
    transfers: Mapped[int] = mapped_column(default=0)
    fcr: Mapped[bool] = mapped_column(default=False)
    messages_in: Mapped[int] = mapped_column(default=0)
    messages_out: Mapped[int] = mapped_column(default=0)
    sla_total: Mapped[int] = mapped_column(default=0)
    sla_met: Mapped[int] = mapped_column(default=0)
    # the newest message counted: the per-message fast path counts only later ones
    last_message_id: Mapped[int] = mapped_column(default=0)
    # [[bucket iso, brand, channel, queue, agent, {measure: n}], ...]
    contribution: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportSurveyAnswer(Base):
    """A survey answer as counted (``survey.answered``): the response id makes it count once."""

    __tablename__ = "report_survey_answer"
    __table_args__ = (Index("ix_report_survey_answer_at", "answered_at"),)

    response_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    survey_kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int]
    conversation_id: Mapped[int | None]
    customer_id: Mapped[int | None]
    brand_id: Mapped[int] = mapped_column(default=0)
    channel_id: Mapped[int] = mapped_column(default=0)
    queue_id: Mapped[int] = mapped_column(default=0)
    agent_id: Mapped[int] = mapped_column(default=0)
    answered_at: Mapped[datetime]


class ReportAlert(Base):
    """A wallboard alert while it lasts (one open row a queue and kind)."""

    __tablename__ = "report_alert"
    __table_args__ = (Index("ix_report_alert_open", "queue_id", "kind", "cleared_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(30))
    value: Mapped[float | None]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]


class ReportSettings(Base):
    """A brand's report settings: thresholds and the weekly e-mail."""

    __tablename__ = "report_settings"

    brand_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
