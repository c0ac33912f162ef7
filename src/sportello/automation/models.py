"""Rules: triggers (on an event) and time-based automations (checked by a periodic durable job),
each with conditions and ordered actions, and the log of what each rule did."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class RuleKind(enum.StrEnum):
    EVENT = "event"
    TIME = "time"


class Rule(Base):
    __tablename__ = "automation_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default=RuleKind.EVENT.value)
    events: Mapped[list[str]] = mapped_column(default=list)
    match_all: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    stop_after: Mapped[bool] = mapped_column(default=False)  # later rules skip this conversation
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleRun(Base):
    __tablename__ = "automation_run"
    __table_args__ = (
        Index("ix_automation_run_rule", "rule_id", "id"),
        Index("ix_automation_run_conversation", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rule.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(80))
    done: Mapped[list[str]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
