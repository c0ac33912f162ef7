from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.accounts.models import Team
from sportello.core.db import Base, utcnow


class Queue(Base):
    __tablename__ = "queue"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team | None] = relationship(lazy="select")


# --------------------------------------------------------------------------- routing (issue 5)
#
# Queue routing settings live in ``queue_routing`` (one row a queue, created on demand) so that
# the queue admin pages keep owning ``queue``. Everything below is written by the routing actions
# (presence.py, skills.py, capacity.py, actions.py, sla.py); see planner.py for the engine.


class QueueRouting(Base):
    """How a queue routes: push (offer with a countdown) or auto (assign at once), overflow."""

    __tablename__ = "queue_routing"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queue.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(10), default="push")
    offer_timeout_seconds: Mapped[int] = mapped_column(default=30)
    overflow_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queue.id", ondelete="SET NULL")
    )
    overflow_after_seconds: Mapped[int | None]
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="SET NULL")
    )


class Skill(Base):
    """A language, a product, a channel know-how: agents have it at a level 1-5."""

    __tablename__ = "skill"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentSkill(Base):
    __tablename__ = "agent_skill"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("skill.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[int] = mapped_column(default=3)


class QueueSkill(Base):
    """A queue requires a skill at a minimum level."""

    __tablename__ = "queue_skill"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queue.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("skill.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    min_level: Mapped[int] = mapped_column(default=1)


class QueueMember(Base):
    """An agent serving a queue explicitly (besides the members of the queue's team)."""

    __tablename__ = "queue_member"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queue.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TeamRouting(Base):
    """A team's defaults: capacity per channel class and its business calendar."""

    __tablename__ = "team_routing"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="SET NULL")
    )


class AgentState(Base):
    """One row an agent: presence, capacity override, idle ordering. The router locks this row
    (``SELECT ... FOR UPDATE``) around every assignment to the agent."""

    __tablename__ = "agent_state"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    presence: Mapped[str] = mapped_column(String(20), default="offline", index=True)
    pause_reason_id: Mapped[int | None] = mapped_column(
        ForeignKey("pause_reason.id", ondelete="SET NULL")
    )
    presence_since: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Longest idle first: the time of the agent's last routed assignment (or of going available).
    idle_since: Mapped[datetime] = mapped_column(default=utcnow)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    open_sockets: Mapped[int] = mapped_column(default=0)


class PauseReason(Base):
    __tablename__ = "pause_reason"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)


class PresenceLog(Base):
    """Every presence change with its time (feeds reports and adherence)."""

    __tablename__ = "presence_log"
    __table_args__ = (Index("ix_presence_log_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    presence: Mapped[str] = mapped_column(String(20))
    previous: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(100))
    cause: Mapped[str] = mapped_column(String(40), default="manual")
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Offer(Base):
    """A live push-mode offer: at most one a conversation; deleted on accept, decline, expiry."""

    __tablename__ = "routing_offer"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    channel_class: Mapped[str] = mapped_column(String(20))
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class RoutingState(Base):
    """Per conversation routing memory: when it entered its queue, pin, recent declines."""

    __tablename__ = "routing_state"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    queued_at: Mapped[datetime | None]
    pinned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # [[user_id, iso time], ...] of agents who declined or let an offer expire.
    declined: Mapped[list[Any]] = mapped_column(JSON, default=list)


class BusinessCalendarRow(Base):
    """A stored business calendar (``BusinessCalendar.to_dict()``), validated on write."""

    __tablename__ = "business_calendar"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicy(Base):
    """Targets in business hours for conversations matching queue / channel / priority / tag
    (NULL = any).

    The most specific matching policy wins (tag, then queue, then channel, then priority), then
    ``position``.
    """

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    priority: Mapped[str | None] = mapped_column(String(20))
    tag: Mapped[str | None] = mapped_column(String(60))
    # The calendar the clocks count in (NULL: the queue's, else its team's, else 24/7).
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="SET NULL")
    )
    first_response_seconds: Mapped[int | None]
    # After the first reply: how soon each new message of the customer is answered.
    next_response_seconds: Mapped[int | None]
    resolution_seconds: Mapped[int | None]
    warning_fraction: Mapped[float] = mapped_column(default=0.8)
    escalate_priority: Mapped[bool] = mapped_column(default=True)
    escalate_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queue.id", ondelete="SET NULL")
    )
    notify_supervisor: Mapped[bool] = mapped_column(default=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaClockRow(Base):
    """One SLA clock of a conversation (``first_response``, ``next_response`` or ``resolution``).

    ``state`` is ``SlaClock.to_dict(include_calendar=False)``; ``due_at`` / ``warning_at`` are
    denormalised for the console and the jobs (NULL while paused).
    """

    __tablename__ = "sla_clock"
    __table_args__ = (Index("ix_sla_clock_due", "stopped_at", "due_at"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policy.id", ondelete="SET NULL"))
    calendar: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    warning_fraction: Mapped[float] = mapped_column(default=0.8)
    due_at: Mapped[datetime | None]
    warning_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    met: Mapped[bool | None]
