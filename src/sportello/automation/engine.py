"""The rule engine: a registry of conditions and one of actions, evaluation and execution.

Conditions and actions are looked up by name, so another package adds its own without touching
this one: ``register_condition("sentiment_score", getter, ops=("lt", "gt"), label=...)`` (the nlp
package's sentiment), ``register_action(...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import regex
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.conversations.models import (
    PRIORITY_RANK,
    Conversation,
    Direction,
    Message,
    Priority,
)
from sportello.core.db import utcnow

OPS_LABELS = {
    "is": "is",
    "is_not": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "matches": "matches (regular expression)",
    "has": "has",
    "has_not": "has not",
    "gt": "more than",
    "lt": "less than",
    "at_least": "at least",
    "is_set": "is set",
    "is_empty": "is empty",
}

log = logging.getLogger(__name__)


@dataclass
class Context:
    session: Session
    conversation: Conversation
    now: datetime
    event: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


@dataclass(frozen=True)
class ConditionSpec:
    name: str
    label: str
    ops: tuple[str, ...]
    get: Callable[[Context], Any]
    kind: str = "text"  # text | number | choice | tags


CONDITIONS: dict[str, ConditionSpec] = {}


def register_condition(
    name: str, get: Callable[[Context], Any], *, ops: Sequence[str], label: str, kind: str = "text"
) -> None:
    unknown = [op for op in ops if op not in OPS_LABELS]
    if unknown:
        raise ValueError(f"unknown operators {unknown}")
    CONDITIONS[name] = ConditionSpec(name, label, tuple(ops), get, kind)


class ConditionError(ValueError):
    pass


# A rule's regular expression gets this long on one text: a pattern that backtracks
# catastrophically (``(a+)+$`` on a long line) gives up instead of holding the worker.
REGEX_TIMEOUT = 0.05
# Tried when a pattern is saved: one that cannot answer on it in time is refused.
_PROBE = "a" * 3000 + "!"


@lru_cache(maxsize=512)
def _regex(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)


def regex_search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` occurs in ``text``; False (and a log line) when it takes too long."""
    try:
        return _regex(pattern).search(text, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        log.warning("rule regular expression %r gave up after %ss", pattern[:200], REGEX_TIMEOUT)
        return False
    except regex.error:
        return False


def _hours(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else (now - since).total_seconds() / 3600


def test(op: str, actual: Any, expected: str) -> bool:
    """One comparison. ``actual`` is what the getter returned; ``expected`` the rule's text."""
    if op == "is_set":
        return bool(actual)
    if op == "is_empty":
        return not actual
    if op in ("gt", "lt"):
        if actual is None:
            return False
        try:
            limit = float(expected)
        except ValueError:
            return False
        return float(actual) > limit if op == "gt" else float(actual) < limit
    if op == "at_least":
        try:
            return PRIORITY_RANK[Priority(str(actual))] >= PRIORITY_RANK[Priority(expected)]
        except ValueError:
            return False
    if op in ("has", "has_not"):
        values = {str(v).lower() for v in (actual or ())}
        found = expected.strip().lower() in values
        return found if op == "has" else not found
    text = "" if actual is None else str(actual)
    if op == "is":
        return text.lower() == expected.strip().lower()
    if op == "is_not":
        return text.lower() != expected.strip().lower()
    if op == "contains":
        return expected.strip().lower() in text.lower()
    if op == "not_contains":
        return expected.strip().lower() not in text.lower()
    if op == "matches":
        return regex_search(expected, text[:20_000])
    return False


def check_condition(item: dict[str, Any]) -> dict[str, str]:
    name = str(item.get("field", ""))
    op = str(item.get("op", ""))
    value = str(item.get("value", "") or "")
    spec = CONDITIONS.get(name)
    if spec is None:
        raise ConditionError("unknown condition")
    if op not in spec.ops:
        raise ConditionError("this comparison does not fit the condition")
    if op == "matches":
        if len(value) > 200:
            raise ConditionError("the regular expression is too long")
        try:
            compiled = _regex(value)
        except regex.error:
            raise ConditionError("the regular expression is not valid") from None
        try:
            compiled.search(_PROBE, timeout=REGEX_TIMEOUT)
        except TimeoutError:
            raise ConditionError(
                "the regular expression is too slow on long texts: simplify it"
            ) from None
    if op in ("gt", "lt"):
        try:
            float(value)
        except ValueError:
            raise ConditionError("give a number") from None
    if len(value) > 500:
        raise ConditionError("the value is too long")
    return {"field": name, "op": op, "value": value}


def matches(ctx: Context, conditions: Sequence[dict[str, Any]], *, match_all: bool = True) -> bool:
    if not conditions:
        return True
    results = (
        test(str(c["op"]), CONDITIONS[c["field"]].get(ctx), str(c.get("value", "")))
        if c.get("field") in CONDITIONS
        else False
        for c in conditions
    )
    return all(results) if match_all else any(results)


# --- the built-in conditions ---------------------------------------------------------------


def _last_inbound_text(ctx: Context) -> str:
    def load() -> str:
        if ctx.payload.get("message_id") and ctx.event == "message.received":
            text = ctx.session.scalar(
                select(Message.text).where(Message.id == int(ctx.payload["message_id"]))
            )
            if text is not None:
                return str(text)
        return str(
            ctx.session.scalar(
                select(Message.text)
                .where(
                    Message.conversation_id == ctx.conversation.id,
                    Message.direction == Direction.INBOUND,
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
            or ""
        )

    return str(ctx.cached("text", load))


def _customer_email(ctx: Context) -> str:
    return " ".join(i.value for i in ctx.conversation.customer.identities if i.kind == "email")


def _business_hours(ctx: Context) -> str:
    def load() -> str:
        from sportello.routing import sla

        calendar = sla.calendar_for(ctx.session, ctx.conversation.queue_id)
        return "open" if calendar.is_open(ctx.now) else "closed"

    return str(ctx.cached("hours", load))


def _sla_minutes_left(ctx: Context) -> float | None:
    def load() -> float | None:
        from sportello.routing.models import SlaClockRow

        due = ctx.session.scalar(
            select(func.min(SlaClockRow.due_at)).where(
                SlaClockRow.conversation_id == ctx.conversation.id,
                SlaClockRow.stopped_at.is_(None),
            )
        )
        return None if due is None else (due - ctx.now).total_seconds() / 60

    value = ctx.cached("sla", load)
    return None if value is None else float(value)


def _register_builtins() -> None:
    c = register_condition
    c(
        "channel",
        lambda x: x.conversation.channel.kind if x.conversation.channel else "",
        ops=("is", "is_not"),
        label="Channel type",
        kind="channel",
    )
    c(
        "queue",
        lambda x: str(x.conversation.queue_id or ""),
        ops=("is", "is_not", "is_set", "is_empty"),
        label="Queue",
        kind="queue",
    )
    c("tags", lambda x: [t.name for t in x.conversation.tags], ops=("has", "has_not"), label="Tags")
    c(
        "text",
        _last_inbound_text,
        ops=("contains", "not_contains", "matches"),
        label="Customer's last message",
    )
    c(
        "subject",
        lambda x: x.conversation.subject,
        ops=("contains", "not_contains", "matches"),
        label="Subject",
    )
    c(
        "priority",
        lambda x: x.conversation.priority.value,
        ops=("is", "is_not", "at_least"),
        label="Priority",
        kind="priority",
    )
    c(
        "status",
        lambda x: x.conversation.status.value,
        ops=("is", "is_not"),
        label="Status",
        kind="status",
    )
    c(
        "assignee",
        lambda x: str(x.conversation.assignee_id or ""),
        ops=("is", "is_set", "is_empty"),
        label="Assignee",
        kind="agent",
    )
    c(
        "customer_name",
        lambda x: x.conversation.customer.name,
        ops=("is", "contains", "not_contains", "matches"),
        label="Customer name",
    )
    c(
        "customer_email",
        _customer_email,
        ops=("contains", "not_contains", "matches"),
        label="Customer e-mail",
    )
    c(
        "customer_notes",
        lambda x: x.conversation.customer.notes,
        ops=("contains", "not_contains"),
        label="Customer notes",
    )
    c(
        "business_hours",
        _business_hours,
        ops=("is",),
        label="Business hours (open / closed)",
        kind="hours",
    )
    c(
        "hours_since_created",
        lambda x: _hours(x.conversation.created_at, x.now),
        ops=("gt", "lt"),
        label="Hours since created",
        kind="number",
    )
    c(
        "hours_since_update",
        lambda x: _hours(x.conversation.updated_at, x.now),
        ops=("gt", "lt"),
        label="Hours since last change",
        kind="number",
    )
    c(
        "hours_since_customer",
        lambda x: _hours(x.conversation.last_inbound_at, x.now),
        ops=("gt", "lt"),
        label="Hours since the customer wrote",
        kind="number",
    )
    c(
        "sla_minutes_left",
        _sla_minutes_left,
        ops=("lt", "gt"),
        label="Minutes left on the SLA",
        kind="number",
    )


_register_builtins()


# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    name: str
    label: str
    run: Callable[[Context, str], str | None]  # returns what it did (for the log), or None
    kind: str = "text"


ACTIONS: dict[str, ActionSpec] = {}


def register_action(
    name: str, run: Callable[[Context, str], str | None], *, label: str, kind: str = "text"
) -> None:
    ACTIONS[name] = ActionSpec(name, label, run, kind)


def since(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)


def now() -> datetime:
    return utcnow()
