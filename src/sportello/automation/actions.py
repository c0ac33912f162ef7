"""Writes for rules: saving them (checked against the registries), running them on an event or
in the periodic sweep, and logging what each did. Loop protection: a rule acts at most once per
conversation within LOOP_WINDOW, and a conversation takes at most MAX_RUNS rule runs in that
window (rules whose actions trigger each other stop there, and the log says so)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.automation import engine
from sportello.automation.engine import ACTIONS, CONDITIONS, Context, register_action
from sportello.automation.models import Rule, RuleKind, RuleRun
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    Direction,
    Message,
    Priority,
    Status,
)
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput, SportelloError
from sportello.core.events import EventPayload, emit, register_event
from sportello.routing.models import Queue

LOOP_WINDOW = timedelta(minutes=10)
MAX_RUNS = 20
SWEEP_BATCH = 2000
TRIGGER_EVENTS = (
    "conversation.created",
    "message.received",
    "conversation.updated",
    "conversation.assigned",
    "sla.warning",
    "sla.breached",
    "survey.answered",
    "order.created",
    "order.cancelled",
    "voice.call_changed",  # a call rang, was answered, held, ended (state, outcome)
    "handoff.changed",  # a hand-off to another department was made or got its outcome
)


class AutomationNotice(EventPayload):
    """A rule's "notify": the consoles of ``user_id`` (or of supervisors when None) show it."""

    rule_id: int
    conversation_id: int
    number: int
    queue_id: int | None
    user_id: int | None
    text: str


register_event("automation.notice", AutomationNotice)


class ActionSkipped(Exception):
    """The action does not apply (already so, a transition not allowed): logged, not failed."""


# --- built-in actions ----------------------------------------------------------------------


def _queue(ctx: Context, value: str) -> str | None:
    queue = ctx.session.get(Queue, int(value)) if value.isdigit() else None
    if queue is None:
        raise ActionSkipped("unknown queue")
    if ctx.conversation.queue_id == queue.id:
        return None
    conversations_actions.do_update_conversation(
        ctx.session, conversation=ctx.conversation, by=None, queue=queue
    )
    return f"queue → {queue.name}"


def _agent(ctx: Context, value: str) -> str | None:
    user = ctx.session.get(User, int(value)) if value.isdigit() else None
    if user is None or not user.is_active:
        raise ActionSkipped("unknown user")
    if ctx.conversation.assignee_id == user.id:
        return None
    conversations_actions.do_assign(
        ctx.session, conversation=ctx.conversation, assignee=user, by=None
    )
    return f"assigned → {user.name}"


def _tags(ctx: Context, value: str, *, add: bool) -> str | None:
    names = [t.name for t in ctx.conversation.tags]
    tag = " ".join(value.strip().lower().split())
    if not tag or (tag in names) == add:
        return None
    new = [*names, tag] if add else [n for n in names if n != tag]
    conversations_actions.do_update_conversation(
        ctx.session, conversation=ctx.conversation, by=None, tags=new
    )
    return f"{'+' if add else '-'}tag {tag}"


def _priority(ctx: Context, value: str) -> str | None:
    priority = Priority(value)
    if ctx.conversation.priority == priority:
        return None
    conversations_actions.do_update_conversation(
        ctx.session, conversation=ctx.conversation, by=None, priority=priority
    )
    return f"priority → {priority.value}"


def _status(ctx: Context, value: str) -> str | None:
    status = Status(value)
    if ctx.conversation.status == status:
        return None
    try:
        conversations_actions.do_change_status(
            ctx.session, conversation=ctx.conversation, status=status, by=None
        )
    except SportelloError as exc:
        raise ActionSkipped(exc.message) from None
    return f"status → {status.value}"


def _reply(ctx: Context, value: str) -> str | None:
    from sportello.replies.models import CannedReply

    reply = ctx.session.get(CannedReply, int(value)) if value.isdigit() else None
    if reply is None:
        raise ActionSkipped("unknown canned reply")
    from sportello.replies import service as replies_service

    agent = ctx.conversation.assignee or User(name="Sportello", language="it")
    rendered = replies_service.render_reply(ctx.session, reply, ctx.conversation, agent)
    if rendered.missing or rendered.unknown:
        raise ActionSkipped("the canned reply has placeholders without a value")
    try:
        conversations_actions.do_send_reply(
            ctx.session, conversation=ctx.conversation, author=None, text=rendered.text
        )
    except SportelloError as exc:
        raise ActionSkipped(exc.message) from None
    return f"reply “{reply.title}”"


def _note(ctx: Context, value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    message = Message(
        conversation_id=ctx.conversation.id,
        direction=Direction.NOTE,
        author_id=None,
        sender_name="Sportello",
        text=text[:10_000],
        delivery_state=None,
        meta={"event": "automation"},
    )
    ctx.session.add(message)
    ctx.session.flush()
    emit(
        ctx.session,
        "message.created",
        conversations_actions._message_event(ctx.conversation, message),
    )
    return "note"


def _notify(ctx: Context, value: str) -> str | None:
    conversation = ctx.conversation
    target = value.strip()
    user_id = (
        conversation.assignee_id
        if target == "assignee"
        else (int(target) if target.isdigit() else None)
    )
    emit(
        ctx.session,
        "automation.notice",
        AutomationNotice(
            rule_id=int(ctx.cached("rule_id", lambda: 0)),
            conversation_id=conversation.id,
            number=conversation.number,
            queue_id=conversation.queue_id,
            user_id=user_id,
            text=str(ctx.cached("rule_name", lambda: "")),
        ),
    )
    return f"notified {target or 'supervisors'}"


def _webhook(ctx: Context, value: str) -> str | None:
    from sportello.webhooks import actions as webhooks_actions
    from sportello.webhooks.models import WebhookSubscription

    subscription = ctx.session.get(WebhookSubscription, int(value)) if value.isdigit() else None
    if subscription is None:
        raise ActionSkipped("unknown webhook")
    c = ctx.conversation
    webhooks_actions.do_send_to(
        ctx.session,
        subscription=subscription,
        name="automation.rule_fired",
        payload={
            "rule_id": ctx.cached("rule_id", lambda: 0),
            "rule": ctx.cached("rule_name", lambda: ""),
            "conversation_id": c.id,
            "number": c.number,
            "status": c.status.value,
            "priority": c.priority.value,
            "queue_id": c.queue_id,
            "assignee_id": c.assignee_id,
            "trigger": ctx.event,
        },
    )
    return f"webhook → {subscription.name}"


register_action("assign_queue", _queue, label="Move to queue", kind="queue")
register_action("assign_agent", _agent, label="Assign to agent", kind="agent")
register_action("add_tag", lambda c, v: _tags(c, v, add=True), label="Add tag")
register_action("remove_tag", lambda c, v: _tags(c, v, add=False), label="Remove tag")
register_action("set_priority", _priority, label="Set priority", kind="priority")
register_action("set_status", _status, label="Set status", kind="status")
register_action("reply", _reply, label="Reply with a canned reply", kind="reply")
register_action("note", _note, label="Add an internal note")
register_action("notify", _notify, label="Notify (assignee, or a user id; empty: supervisors)")
register_action("webhook", _webhook, label="Call a webhook", kind="webhook")


# --- saving rules --------------------------------------------------------------------------


def check_rule(
    *,
    name: str,
    kind: str,
    events: Sequence[str],
    conditions: Sequence[dict[str, Any]],
    actions: Sequence[dict[str, Any]],
) -> tuple[str, list[str], list[dict[str, str]], list[dict[str, str]]]:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("give the rule a name", field="name")
    if len(name) > 200:
        raise InvalidInput("the name is too long", field="name")
    if kind not in {k.value for k in RuleKind}:
        raise InvalidInput("choose from the list", field="kind")
    chosen = list(dict.fromkeys(e for e in events if e))
    if kind == RuleKind.EVENT and not chosen:
        raise InvalidInput("choose at least one event", field="events")
    if any(e not in TRIGGER_EVENTS for e in chosen):
        raise InvalidInput("unknown event", field="events")
    if len(conditions) > 30:
        raise InvalidInput("at most 30 conditions", field="conditions")
    checked: list[dict[str, str]] = []
    for item in conditions:
        try:
            checked.append(engine.check_condition(item))
        except engine.ConditionError as exc:
            raise InvalidInput(str(exc), field="conditions") from None
    if kind == RuleKind.TIME and not checked:
        raise InvalidInput("a time-based rule needs at least one condition", field="conditions")
    if not actions:
        raise InvalidInput("add at least one action", field="actions")
    if len(actions) > 20:
        raise InvalidInput("at most 20 actions", field="actions")
    done: list[dict[str, str]] = []
    for item in actions:
        action = str(item.get("action", ""))
        value = str(item.get("value", "") or "")[:5000]
        if action not in ACTIONS:
            raise InvalidInput("unknown action", field="actions")
        if action == "set_priority" and value not in {p.value for p in Priority}:
            raise InvalidInput("choose a priority", field="actions")
        if action == "set_status" and value not in {s.value for s in Status}:
            raise InvalidInput("choose a status", field="actions")
        if action in ("assign_queue", "assign_agent", "reply", "webhook") and not value.isdigit():
            raise InvalidInput("choose from the list", field="actions")
        if action in ("add_tag", "remove_tag", "note") and not value.strip():
            raise InvalidInput("this action needs a value", field="actions")
        done.append({"action": action, "value": value})
    return name, chosen, checked, done


def do_save_rule(
    session: Session,
    *,
    brand_id: int,
    rule: Rule | None,
    name: str,
    kind: str,
    events: Sequence[str],
    conditions: Sequence[dict[str, Any]],
    actions: Sequence[dict[str, Any]],
    match_all: bool = True,
    is_active: bool = True,
    stop_after: bool = False,
    position: int | None = None,
) -> Rule:
    name, chosen, checked, done = check_rule(
        name=name, kind=kind, events=events, conditions=conditions, actions=actions
    )
    if rule is None:
        last = session.scalar(select(func.max(Rule.position))) or 0
        rule = Rule(brand_id=brand_id, name=name, position=last + 10)
        session.add(rule)
    rule.name = name
    rule.kind = kind
    rule.events = chosen if kind == RuleKind.EVENT else []
    rule.conditions = checked
    rule.actions = done
    rule.match_all = match_all
    rule.is_active = is_active
    rule.stop_after = stop_after
    if position is not None:
        rule.position = position
    rule.updated_at = utcnow()
    session.flush()
    return rule


def do_move_rule(session: Session, *, rule: Rule, up: bool) -> None:
    """Swap a rule with its neighbour in the order."""
    rules = list(session.scalars(select(Rule).order_by(Rule.position, Rule.id)))
    for i, r in enumerate(rules):
        r.position = (i + 1) * 10
    index = rules.index(rule)
    other = index - 1 if up else index + 1
    if 0 <= other < len(rules):
        rules[index].position, rules[other].position = rules[other].position, rules[index].position


def do_delete_rule(session: Session, *, rule: Rule) -> None:
    session.delete(rule)


# --- running rules -------------------------------------------------------------------------


def _recent_runs(
    session: Session, conversation_id: int, now: datetime
) -> list[tuple[int, datetime]]:
    return [
        (int(r), t)
        for r, t in session.execute(
            select(RuleRun.rule_id, RuleRun.created_at).where(
                RuleRun.conversation_id == conversation_id,
                RuleRun.created_at >= now - LOOP_WINDOW,
            )
        )
    ]


def _apply(ctx: Context, rule: Rule) -> RuleRun:
    ctx._cache["rule_id"] = rule.id
    ctx._cache["rule_name"] = rule.name
    done: list[str] = []
    errors: list[str] = []
    for item in rule.actions:
        spec = ACTIONS.get(str(item.get("action")))
        if spec is None:
            errors.append(f"unknown action {item.get('action')}")
            continue
        try:
            with ctx.session.begin_nested():
                result = spec.run(ctx, str(item.get("value", "")))
        except ActionSkipped as exc:
            errors.append(f"{spec.name}: {exc}")
            continue
        except (SportelloError, ValueError) as exc:
            errors.append(f"{spec.name}: {exc}")
            continue
        if result:
            done.append(result)
    run = RuleRun(
        rule_id=rule.id,
        conversation_id=ctx.conversation.id,
        trigger=ctx.event or "time",
        done=done,
        error="; ".join(errors)[:1000] or None,
        created_at=ctx.now,
    )
    ctx.session.add(run)
    ctx.session.flush()
    return run


def run_rules(
    session: Session,
    *,
    conversation: Conversation,
    rules: Sequence[Rule],
    event: str,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> list[RuleRun]:
    """Evaluate ``rules`` (in order) on one conversation and apply those that match."""
    now = now or utcnow()
    recent = _recent_runs(session, conversation.id, now)
    ran: list[RuleRun] = []
    ctx = Context(session, conversation, now, event, dict(payload or {}))
    for rule in rules:
        if conversation.status == Status.CLOSED and event != "conversation.updated":
            break
        if ran:  # an earlier rule acted: read the conversation afresh
            ctx = Context(session, conversation, now, event, dict(payload or {}))
        if not engine.matches(ctx, rule.conditions, match_all=rule.match_all):
            continue
        if any(rule_id == rule.id for rule_id, _ in recent):
            continue  # loop protection: this rule acted on this conversation a moment ago
        if len(recent) >= MAX_RUNS:
            ran.append(_log_stop(session, rule, conversation, event, now))
            break
        if rule.kind == RuleKind.TIME and _fired_since_customer(session, rule, conversation):
            continue
        run = _apply(ctx, rule)
        ran.append(run)
        recent.append((rule.id, now))
        if rule.stop_after:
            break
    return ran


def _log_stop(
    session: Session, rule: Rule, conversation: Conversation, event: str, now: datetime
) -> RuleRun:
    run = RuleRun(
        rule_id=rule.id,
        conversation_id=conversation.id,
        trigger=event or "time",
        done=[],
        error="stopped: too many rule runs on this conversation (a loop?)",
        created_at=now,
    )
    session.add(run)
    return run


def _fired_since_customer(session: Session, rule: Rule, conversation: Conversation) -> bool:
    """A time-based rule acts once per conversation until the customer writes again."""
    since = conversation.last_inbound_at or conversation.created_at
    return (
        session.scalar(
            select(RuleRun.id)
            .where(
                RuleRun.rule_id == rule.id,
                RuleRun.conversation_id == conversation.id,
                RuleRun.created_at >= since,
            )
            .limit(1)
        )
        is not None
    )


def active_rules(session: Session, kind: RuleKind) -> list[Rule]:
    return list(
        session.scalars(
            select(Rule)
            .where(Rule.is_active, Rule.kind == kind.value)
            .order_by(Rule.position, Rule.id)
        )
    )


def do_run_event(
    session: Session, *, name: str, payload: dict[str, Any], rules: Sequence[Rule] | None = None
) -> list[RuleRun]:
    conversation_id = payload.get("conversation_id")
    if conversation_id is None:
        return []
    wanted = [
        r
        for r in (rules if rules is not None else active_rules(session, RuleKind.EVENT))
        if name in r.events
    ]
    if not wanted:
        return []
    conversation = session.get(Conversation, int(conversation_id))
    if conversation is None:
        return []
    return run_rules(session, conversation=conversation, rules=wanted, event=name, payload=payload)


def sweep_candidates(session: Session, *, now: datetime | None = None) -> list[int]:
    """The active conversations some time-based rule matches now (a read: the sweep evaluates
    here, outside the write lock, and writes only for these)."""
    now = now or utcnow()
    rules = active_rules(session, RuleKind.TIME)
    if not rules:
        return []
    found: list[int] = []
    for conversation in session.scalars(
        select(Conversation)
        .where(Conversation.status.in_(ACTIVE_STATUSES))
        .order_by(Conversation.updated_at)
        .limit(SWEEP_BATCH)
    ):
        ctx = Context(session, conversation, now)
        if any(engine.matches(ctx, r.conditions, match_all=r.match_all) for r in rules):
            found.append(conversation.id)
    return found


def do_sweep(
    session: Session, *, conversation_ids: Sequence[int] | None = None, now: datetime | None = None
) -> list[RuleRun]:
    """The time-based rules over the active conversations (or those of ``conversation_ids``,
    found by ``sweep_candidates``): the periodic job's work."""
    now = now or utcnow()
    rules = active_rules(session, RuleKind.TIME)
    if not rules:
        return []
    query = select(Conversation).where(Conversation.status.in_(ACTIVE_STATUSES))
    if conversation_ids is not None:
        if not conversation_ids:
            return []
        query = query.where(Conversation.id.in_(list(conversation_ids)))
    ran: list[RuleRun] = []
    for conversation in session.scalars(query.order_by(Conversation.updated_at).limit(SWEEP_BATCH)):
        ran.extend(run_rules(session, conversation=conversation, rules=rules, event="", now=now))
    return ran


def dry_run(
    session: Session, *, rule: Rule, limit: int = 50, scan: int = 1000
) -> list[Conversation]:
    """Which active conversations the rule's conditions match now (nothing is changed)."""
    now = utcnow()
    found: list[Conversation] = []
    for conversation in session.scalars(
        select(Conversation)
        .where(Conversation.status.in_(ACTIVE_STATUSES))
        .order_by(Conversation.last_message_at.desc())
        .limit(scan)
    ):
        if engine.matches(
            Context(session, conversation, now), rule.conditions, match_all=rule.match_all
        ):
            found.append(conversation)
            if len(found) >= limit:
                break
    return found


__all__ = ["CONDITIONS", "TRIGGER_EVENTS"]
