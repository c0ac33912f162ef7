"""SLA policies and clocks, counted in business hours (routing/calendar.py).

A policy matches conversations by queue, priority and tag (NULL matches any; the conversation's
tags stand in for customer tags until customers have their own); the most specific active match
wins (tag > queue > priority), then the lowest ``position``. Its targets start two clocks when the
conversation is created (or when a policy first matches it): ``first_response`` stops at the first
reply, ``resolution`` at resolution (and runs again if the conversation is reopened). Both pause
while the conversation is pending on the customer.

The calendar of a conversation is its queue's (``queue_routing.calendar_id``), else the queue's
team's (``team_routing.calendar_id``), else 24/7. A clock keeps a copy of the calendar it started
with, so editing a calendar never rewrites past due dates.

Durable ``sla.check`` jobs run at the warning instant (``warning_fraction`` of the target) and at
the due instant: ``sla.warning`` is emitted once, then on breach ``sla.breached`` (supervisors see
it live) and the policy's escalations run once: priority raised one step, move to the escalation
queue. Handlers reconcile from the conversation's current state, so they are idempotent and
order-independent; the routing sweep calls :func:`sweep` as a safety net.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Direction, Message, Priority, Status
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe_batch
from sportello.core.errors import InvalidInput
from sportello.core.events import EventPayload, emit, register_event
from sportello.routing.calendar import BusinessCalendar, CalendarError, SlaClock
from sportello.routing.messages import _, conflict, invalid
from sportello.routing.models import (
    BusinessCalendarRow,
    Queue,
    QueueRouting,
    SlaClockRow,
    SlaPolicy,
    TeamRouting,
)

KINDS: Final = ("first_response", "next_response", "resolution")
MAX_TARGET: Final = 365 * 86_400
ESCALATE: Final = {
    Priority.LOW: Priority.NORMAL,
    Priority.NORMAL: Priority.HIGH,
    Priority.HIGH: Priority.URGENT,
}


class SlaEvent(EventPayload):
    conversation_id: int
    number: int
    queue_id: int | None
    assignee_id: int | None
    kind: str
    policy_id: int | None
    due_at: datetime | None
    notify_supervisor: bool


register_event("sla.warning", SlaEvent)
register_event("sla.breached", SlaEvent)


# ----------------------------------------------------------------------------- calendars


def closure_label(start: datetime, end: datetime) -> str:
    """``01/08/2026–15/08/2026`` (the end is exclusive: the last day shown is the one before)."""
    last = end - timedelta(microseconds=1)
    if (start.hour, start.minute, end.hour, end.minute) != (0, 0, 0, 0):
        return f"{start:%d/%m/%Y %H:%M}–{end:%d/%m/%Y %H:%M}"
    if last.date() == start.date():
        return f"{start:%d/%m/%Y}"
    return f"{start:%d/%m/%Y}–{last:%d/%m/%Y}"


def check_calendar_config(config: Mapping[str, Any]) -> BusinessCalendar:
    """Parse a calendar config; overlapping hours or closures, a week without open hours etc.
    raise ``InvalidInput``."""
    try:
        calendar = BusinessCalendar.from_dict(config)
    except (CalendarError, ValueError, TypeError) as exc:
        raise invalid(_("invalid calendar: %(reason)s"), field="config", reason=str(exc)) from None
    closures = sorted(calendar.closures)
    for (a_start, a_end), (b_start, b_end) in itertools.pairwise(closures):
        if b_start < a_end:
            raise invalid(
                _("the closures %(first)s and %(second)s overlap: join them into one"),
                field="closures",
                first=closure_label(a_start, a_end),
                second=closure_label(b_start, b_end),
            )
    return calendar


def do_create_calendar(
    session: Session, *, brand_id: int, name: str, config: Mapping[str, Any]
) -> BusinessCalendarRow:
    name = " ".join(name.split())[:200]
    if not name:
        raise InvalidInput("a calendar needs a name", field="name")
    if session.scalar(
        select(BusinessCalendarRow.id).where(
            BusinessCalendarRow.brand_id == brand_id, BusinessCalendarRow.name == name
        )
    ):
        raise conflict(_("a calendar named %(name)s already exists"), field="name", name=name)
    calendar = check_calendar_config(config)
    row = BusinessCalendarRow(brand_id=brand_id, name=name, config=calendar.to_dict())
    session.add(row)
    session.flush()
    return row


def do_update_calendar(
    session: Session,
    *,
    calendar: BusinessCalendarRow,
    config: Mapping[str, Any],
    name: str | None = None,
) -> BusinessCalendarRow:
    """New hours apply to clocks started from now on (running clocks keep their copy)."""
    if name is not None:
        name = " ".join(name.split())[:200]
        if not name:
            raise InvalidInput("a calendar needs a name", field="name")
        clash = session.scalar(
            select(BusinessCalendarRow.id).where(
                BusinessCalendarRow.brand_id == calendar.brand_id,
                BusinessCalendarRow.name == name,
            )
        )
        if clash is not None and clash != calendar.id:
            raise conflict(_("a calendar named %(name)s already exists"), field="name", name=name)
        calendar.name = name
    calendar.config = check_calendar_config(config).to_dict()
    return calendar


def do_set_team_calendar(session: Session, *, team_id: int, calendar_id: int | None) -> None:
    if calendar_id is not None and session.get(BusinessCalendarRow, calendar_id) is None:
        raise InvalidInput("unknown calendar", field="calendar_id")
    row = session.get(TeamRouting, team_id)
    if row is None:
        session.add(TeamRouting(team_id=team_id, capacity={}, calendar_id=calendar_id))
    else:
        row.calendar_id = calendar_id
    session.flush()


def calendar_for(
    session: Session, queue_id: int | None, *, calendar_id: int | None = None
) -> BusinessCalendar:
    """The calendar ``calendar_id`` (a policy's own), else the queue's, else its team's, else
    24/7."""
    if calendar_id is not None:
        row = session.get(BusinessCalendarRow, calendar_id)
        if row is not None:
            return BusinessCalendar.from_dict(row.config)
    if queue_id is not None:
        cal_id = session.scalar(
            select(QueueRouting.calendar_id).where(QueueRouting.queue_id == queue_id)
        )
        if cal_id is None:
            cal_id = session.scalar(
                select(TeamRouting.calendar_id)
                .join(Queue, Queue.team_id == TeamRouting.team_id)
                .where(Queue.id == queue_id)
            )
        if cal_id is not None:
            row = session.get(BusinessCalendarRow, cal_id)
            if row is not None:
                return BusinessCalendar.from_dict(row.config)
    return BusinessCalendar.always_open()


# ----------------------------------------------------------------------------- policies


def check_target(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(
            "an SLA target is a positive number of seconds (leave it empty for no target)",
            field=field,
        )
    if value > MAX_TARGET:
        raise InvalidInput("an SLA target is at most one year", field=field)
    return value


def check_sla_policy(
    session: Session,
    *,
    brand_id: int,
    name: str,
    queue_id: int | None = None,
    channel_id: int | None = None,
    priority: str | None = None,
    tag: str | None = None,
    first_response_seconds: int | None = None,
    next_response_seconds: int | None = None,
    resolution_seconds: int | None = None,
    calendar_id: int | None = None,
    warning_fraction: float = 0.8,
    escalate_priority: bool = True,
    escalate_queue_id: int | None = None,
    notify_supervisor: bool = True,
    position: int = 0,
) -> dict[str, Any]:
    """The policy's columns, cleaned; anything that would break the clocks raises."""
    from sportello.channels.models import Channel

    name = " ".join(name.split())[:200]
    if not name:
        raise InvalidInput("a policy needs a name", field="name")
    check_target(first_response_seconds, "first_response_seconds")
    check_target(next_response_seconds, "next_response_seconds")
    check_target(resolution_seconds, "resolution_seconds")
    if first_response_seconds is None and resolution_seconds is None:
        raise InvalidInput("set a first response or a resolution target", field="targets")
    if not 0 < warning_fraction < 1:
        raise InvalidInput("the warning comes at a fraction between 0 and 1", field="warning")
    if priority is not None and priority not in {p.value for p in Priority}:
        raise InvalidInput("unknown priority", field="priority")
    for qid, fname in ((queue_id, "queue_id"), (escalate_queue_id, "escalate_queue_id")):
        if qid is not None:
            queue = session.get(Queue, qid)
            if queue is None or queue.brand_id != brand_id:
                raise InvalidInput("unknown queue", field=fname)
    if channel_id is not None:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.brand_id != brand_id:
            raise InvalidInput("unknown channel", field="channel_id")
    if calendar_id is not None:
        calendar = session.get(BusinessCalendarRow, calendar_id)
        if calendar is None or calendar.brand_id != brand_id:
            raise InvalidInput("unknown calendar", field="calendar_id")
    return {
        "name": name,
        "queue_id": queue_id,
        "channel_id": channel_id,
        "priority": priority,
        "tag": " ".join(tag.strip().lower().split())[:60] if tag else None,
        "first_response_seconds": first_response_seconds,
        "next_response_seconds": next_response_seconds,
        "resolution_seconds": resolution_seconds,
        "calendar_id": calendar_id,
        "warning_fraction": warning_fraction,
        "escalate_priority": escalate_priority,
        "escalate_queue_id": escalate_queue_id,
        "notify_supervisor": notify_supervisor,
        "position": position,
    }


def do_create_sla_policy(session: Session, *, brand_id: int, **fields: Any) -> SlaPolicy:
    """A new policy (fields as in :func:`check_sla_policy`); it applies to conversations whose
    clocks start from now on."""
    policy = SlaPolicy(brand_id=brand_id, **check_sla_policy(session, brand_id=brand_id, **fields))
    session.add(policy)
    session.flush()
    return policy


def do_update_sla_policy(session: Session, *, policy: SlaPolicy, **fields: Any) -> SlaPolicy:
    """Change a policy (every field given again); running clocks keep their targets."""
    clean = check_sla_policy(session, brand_id=policy.brand_id, **fields)
    for key, value in clean.items():
        setattr(policy, key, value)
    session.flush()
    return policy


def do_retire_sla_policy(session: Session, *, policy: SlaPolicy) -> None:
    """Stop matching new conversations (clocks already started run to their end)."""
    policy.is_active = False


def match_policy(session: Session, conversation: Conversation) -> SlaPolicy | None:
    tags = {t.name for t in conversation.tags}
    best: tuple[tuple[int, int, int, int, int, int], SlaPolicy] | None = None
    for policy in session.scalars(
        select(SlaPolicy).where(
            SlaPolicy.is_active.is_(True), SlaPolicy.brand_id == conversation.brand_id
        )
    ):
        if policy.queue_id is not None and policy.queue_id != conversation.queue_id:
            continue
        if policy.channel_id is not None and policy.channel_id != conversation.channel_id:
            continue
        if policy.priority is not None and policy.priority != conversation.priority.value:
            continue
        if policy.tag is not None and policy.tag not in tags:
            continue
        key = (
            -(policy.tag is not None),
            -(policy.queue_id is not None),
            -(policy.channel_id is not None),
            -(policy.priority is not None),
            policy.position,
            policy.id,
        )
        if best is None or key < best[0]:
            best = (key, policy)
    return best[1] if best else None


# ----------------------------------------------------------------------------- clocks


def _clock(row: SlaClockRow) -> SlaClock:
    return SlaClock.from_dict(row.state, calendar=BusinessCalendar.from_dict(row.calendar))


def _store(session: Session, row: SlaClockRow, clock: SlaClock) -> None:
    row.state = clock.to_dict(include_calendar=False)
    row.due_at = clock.due_at()
    row.warning_at = clock.warning_at(fraction=row.warning_fraction)
    if row.stopped_at is None:
        for at in (row.warning_at, row.due_at):
            if at is not None:
                jobs.enqueue(
                    session,
                    "sla.check",
                    {"conversation_id": row.conversation_id, "kind": row.kind},
                    run_at=at,
                    unique_key=f"sla:{row.conversation_id}:{row.kind}:{int(at.timestamp())}",
                    max_attempts=5,
                )


def start_clocks(
    session: Session, *, conversation: Conversation, now: datetime | None = None
) -> list[SlaClockRow]:
    """Start the clocks of the best matching policy (no-op when some already exist)."""
    existing = list(
        session.scalars(select(SlaClockRow).where(SlaClockRow.conversation_id == conversation.id))
    )
    if existing:
        return existing
    policy = match_policy(session, conversation)
    if policy is None:
        return []
    calendar = calendar_for(session, conversation.queue_id, calendar_id=policy.calendar_id)
    started = conversation.created_at
    rows = []
    for kind, target in (
        ("first_response", policy.first_response_seconds),
        ("resolution", policy.resolution_seconds),
    ):
        if target is None:
            continue
        clock = SlaClock(target=timedelta(seconds=target), calendar=calendar, started_at=started)
        row = SlaClockRow(
            conversation_id=conversation.id,
            kind=kind,
            policy_id=policy.id,
            calendar=calendar.to_dict(),
            warning_fraction=policy.warning_fraction,
        )
        session.add(row)
        _store(session, row, clock)
        rows.append(row)
    session.flush()
    reconcile(session, conversation=conversation, now=now)
    return rows


def _stop(row: SlaClockRow, clock: SlaClock, at: datetime) -> None:
    at = max(at, clock.paused_at or clock.running_since or clock.started_at)
    clock.pause(at)
    row.stopped_at = at
    row.met = not clock.breached(at)


def reconcile(session: Session, *, conversation: Conversation, now: datetime | None = None) -> None:
    """Bring the clocks in line with the conversation's state (idempotent)."""
    now = now or utcnow()
    status = conversation.status
    at = conversation.updated_at or now
    rows = list(
        session.scalars(select(SlaClockRow).where(SlaClockRow.conversation_id == conversation.id))
    )
    for row in rows:
        if row.kind in ("first_response", "next_response") and row.stopped_at is not None:
            continue
        clock = _clock(row)
        if row.kind == "first_response" and conversation.first_response_at is not None:
            _stop(row, clock, conversation.first_response_at)
        elif row.kind == "next_response" and status in (Status.RESOLVED, Status.CLOSED):
            _stop(row, clock, conversation.resolved_at or conversation.closed_at or at)
        elif row.kind == "resolution" and status in (Status.RESOLVED, Status.CLOSED):
            if row.stopped_at is None:
                _stop(row, clock, conversation.resolved_at or conversation.closed_at or at)
        elif row.kind == "resolution" and row.stopped_at is not None:
            # Reopened: the clock runs on (while the conversation is active and not pending).
            row.stopped_at = None
            row.met = None
            if status != Status.PENDING:
                clock.resume(max(at, clock.paused_at or at))
        elif status == Status.PENDING:
            if not clock.is_paused:
                clock.pause(max(at, clock.running_since or clock.started_at))
        elif clock.is_paused:
            clock.resume(max(at, clock.paused_at or at))
        _store(session, row, clock)
    _next_response(session, conversation, rows)


def _next_response(session: Session, conversation: Conversation, rows: list[SlaClockRow]) -> None:
    """After the first reply, each time the customer writes again a ``next_response`` clock runs
    from their first new message until the next reply (one row a conversation, reused)."""
    if conversation.first_response_at is None or conversation.last_inbound_at is None:
        return
    if conversation.status in (Status.RESOLVED, Status.CLOSED):
        return
    policy_id = next((r.policy_id for r in rows if r.policy_id is not None), None)
    policy = session.get(SlaPolicy, policy_id) if policy_id is not None else None
    if policy is None or policy.next_response_seconds is None:
        return
    last_reply = session.scalar(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.OUTBOUND,
            Message.author_id.is_not(None),  # a person's reply: the bot's does not stop it
        )
    )
    row = next((r for r in rows if r.kind == "next_response"), None)
    if row is not None and row.stopped_at is None:
        clock = _clock(row)
        if last_reply is not None and last_reply >= clock.started_at:
            _stop(row, clock, last_reply)
            _store(session, row, clock)
        return
    waiting_since = conversation.last_inbound_at
    if last_reply is None or waiting_since <= last_reply:
        return  # nobody is waiting for an answer
    if row is not None and row.stopped_at is not None and row.stopped_at >= waiting_since:
        return
    first = next((r for r in rows if r.kind != "next_response"), None)
    calendar = (
        BusinessCalendar.from_dict(first.calendar)
        if first is not None
        else calendar_for(session, conversation.queue_id, calendar_id=policy.calendar_id)
    )
    clock = SlaClock(
        target=timedelta(seconds=policy.next_response_seconds),
        calendar=calendar,
        started_at=waiting_since,
    )
    if row is None:
        row = SlaClockRow(conversation_id=conversation.id, kind="next_response")
        session.add(row)
    row.policy_id = policy.id
    row.calendar = calendar.to_dict()
    row.warning_fraction = policy.warning_fraction
    row.stopped_at = row.met = row.warned_at = row.breached_at = None
    _store(session, row, clock)
    if conversation.status == Status.PENDING:
        clock.pause(max(waiting_since, clock.started_at))
        _store(session, row, clock)


def _escalate(session: Session, conversation: Conversation, policy: SlaPolicy | None) -> None:
    if policy is None:
        return
    priority = ESCALATE.get(conversation.priority) if policy.escalate_priority else None
    queue: Queue | bool = False
    if policy.escalate_queue_id is not None and policy.escalate_queue_id != conversation.queue_id:
        queue = session.get(Queue, policy.escalate_queue_id) or False
    if priority is not None or queue is not False:
        conversations_actions.do_update_conversation(
            session, conversation=conversation, by=None, priority=priority, queue=queue
        )


def check_clock(
    session: Session, *, conversation_id: int, kind: str, now: datetime | None = None
) -> str:
    """Emit the warning or the breach when due; returns 'ok', 'warning', 'breached' or 'stopped'."""
    now = now or utcnow()
    row = session.scalar(
        select(SlaClockRow)
        .where(SlaClockRow.conversation_id == conversation_id, SlaClockRow.kind == kind)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.stopped_at is not None:
        return "stopped"
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return "stopped"
    clock = _clock(row)
    policy = session.get(SlaPolicy, row.policy_id) if row.policy_id else None
    notify = policy.notify_supervisor if policy else True
    if clock.breached(now):
        if row.breached_at is not None:
            return "breached"
        row.breached_at = clock.due_at() or now
        row.warned_at = row.warned_at or now
        emit(session, "sla.breached", _event(conversation, row, notify))
        _escalate(session, conversation, policy)
        return "breached"
    if clock.warning(now, fraction=row.warning_fraction):
        if row.warned_at is None:
            row.warned_at = now
            emit(session, "sla.warning", _event(conversation, row, notify))
        return "warning"
    return "ok"


def _event(conversation: Conversation, row: SlaClockRow, notify: bool) -> SlaEvent:
    return SlaEvent(
        conversation_id=conversation.id,
        number=conversation.number,
        queue_id=conversation.queue_id,
        assignee_id=conversation.assignee_id,
        kind=row.kind,
        policy_id=row.policy_id,
        due_at=row.due_at,
        notify_supervisor=notify,
    )


def _check_job(db: Database, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        check_clock(session, conversation_id=int(payload["conversation_id"]), kind=payload["kind"])


jobs.register_job("sla.check", jobs.JobKind(run=_check_job, base_delay=5.0))


def sweep(db: Database, *, now: datetime | None = None, limit: int = 500) -> int:
    """Check clocks whose warning or due instant has passed (safety net for the jobs)."""
    now = now or utcnow()
    with db.session() as session:
        due = list(
            session.execute(
                select(SlaClockRow.conversation_id, SlaClockRow.kind)
                .where(
                    SlaClockRow.stopped_at.is_(None),
                    or_(
                        and_(SlaClockRow.warned_at.is_(None), SlaClockRow.warning_at <= now),
                        and_(SlaClockRow.breached_at.is_(None), SlaClockRow.due_at <= now),
                    ),
                )
                .limit(limit)
            )
        )
    for conversation_id, kind in due:
        with db.transaction() as session:
            check_clock(session, conversation_id=conversation_id, kind=kind, now=now)
    return len(due)


def status_for(
    session: Session, conversation_ids: Sequence[int], *, now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """For the console: the most urgent running clock of each conversation, with its state
    (``ok``, ``warning``, ``breached``) and due time."""
    now = now or utcnow()
    out: dict[int, dict[str, Any]] = {}
    if not conversation_ids:
        return out
    # Plain columns, not ORM rows: an inbox page asks for 50 conversations at every refresh.
    rows = session.execute(
        select(
            SlaClockRow.conversation_id,
            SlaClockRow.kind,
            SlaClockRow.due_at,
            SlaClockRow.warning_at,
            SlaClockRow.breached_at,
            SlaClockRow.warned_at,
        ).where(
            SlaClockRow.conversation_id.in_(list(conversation_ids)),
            SlaClockRow.stopped_at.is_(None),
        )
    )
    for conversation_id, kind, due_at, warning_at, breached_at, warned_at in rows:
        if breached_at is not None or (due_at is not None and due_at <= now):
            state = "breached"
        elif warned_at is not None or (warning_at is not None and warning_at <= now):
            state = "warning"
        else:
            state = "ok"
        rank = {"breached": 2, "warning": 1, "ok": 0}[state]
        current = out.get(conversation_id)
        if current is None or rank > current["rank"]:
            out[conversation_id] = {"kind": kind, "state": state, "due_at": due_at, "rank": rank}
    return out


# ----------------------------------------------------------------------------- handlers


@subscribe_batch("conversation.created")
def on_created(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    ids = sorted({int(payload["conversation_id"]) for _name, payload in batch})
    with db.session() as session:
        if not session.scalar(select(SlaPolicy.id).where(SlaPolicy.is_active.is_(True)).limit(1)):
            return  # no policy, no clocks (a read: the write lock is not taken for nothing)
    with db.transaction() as session:
        for conversation in session.scalars(select(Conversation).where(Conversation.id.in_(ids))):
            start_clocks(session, conversation=conversation)


@subscribe_batch("conversation.updated", "message.created", "message.received")
def on_changed(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """Reconcile the clocks of the conversations this round touched, once each; start clocks
    for an updated conversation that has none (a policy may match it now). A message in a
    conversation without clocks needs nothing: a read, no write lock, for the whole round."""
    touched = sorted({int(payload["conversation_id"]) for _name, payload in batch})
    updated = {int(p["conversation_id"]) for name, p in batch if name == "conversation.updated"}
    with db.session() as session:
        with_clocks = set(
            session.scalars(
                select(SlaClockRow.conversation_id)
                .where(SlaClockRow.conversation_id.in_(touched))
                .distinct()
            )
        )
        to_start = updated - with_clocks
        if to_start and not session.scalar(
            select(SlaPolicy.id).where(SlaPolicy.is_active.is_(True)).limit(1)
        ):
            to_start = set()
    if not with_clocks and not to_start:
        return
    with db.transaction() as session:
        for conversation_id in sorted(with_clocks | to_start):
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                continue
            if conversation_id in with_clocks:
                reconcile(session, conversation=conversation)
            elif conversation.is_active:
                start_clocks(session, conversation=conversation)
