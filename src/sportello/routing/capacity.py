"""Capacity per channel class: how many conversations of each class an agent holds at once.

Channel kinds are grouped in four classes (``voice``, ``chat``, ``messaging``, ``email``); an
adapter may declare its own with a ``capacity_class`` attribute, otherwise
:data:`DEFAULT_CLASS_OF_KIND` applies and unknown kinds count as ``messaging``.
A capacity config is a JSON object::

    {"voice": 1, "chat": 3, "messaging": 8, "email": 10, "blocks": {"voice": ["chat"]}}

``blocks`` is the combined rule: while an agent holds any conversation of the key's class, no new
conversation of the listed classes is routed to them ("no chat while on a call"). The effective
config of an agent is: the agent's own override, key by key, else the largest value among the
agent's teams' defaults, else :data:`DEFAULT_CAPACITY`.

Load is the number of active (new, open, pending) conversations assigned to the agent, by the class
of the conversation's channel, plus the live offers made to them (an offer reserves capacity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, Integer, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from sportello.accounts.models import User, team_member
from sportello.channels.models import Channel
from sportello.conversations.models import ACTIVE_STATUSES, Conversation
from sportello.core.errors import InvalidInput
from sportello.routing.messages import _, invalid
from sportello.routing.models import AgentState, Offer, TeamRouting

CLASSES: Final = ("voice", "chat", "messaging", "email")
DEFAULT_CAPACITY: Final[Mapping[str, int]] = {"voice": 1, "chat": 3, "messaging": 8, "email": 10}
DEFAULT_BLOCKS: Final[Mapping[str, frozenset[str]]] = {"voice": frozenset({"chat"})}
DEFAULT_CLASS_OF_KIND: Final[Mapping[str, str]] = {
    "voice": "voice",
    "chat": "chat",
    "whatsapp": "messaging",
    "telegram": "messaging",
    "sms": "messaging",
    "api": "messaging",
    "email": "email",
    "webform": "email",
}
MAX_PER_CLASS: Final = 1000


def ids_in(session: Session, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``column = ANY(:array)``: one bound parameter instead of
    one per id, so large batches neither bloat the SQL nor pay for compiling it."""
    values = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        result: ColumnElement[bool] = column == any_(
            bindparam(None, value=values, type_=ARRAY(Integer))
        )
        return result
    in_list: ColumnElement[bool] = column.in_(values)
    return in_list


def class_of_kind(kind: str | None) -> str:
    """The capacity class of a channel kind (a conversation without channel counts as email)."""
    if kind is None:
        return "email"
    from sportello.channels import registry

    try:
        declared = getattr(registry.get_adapter(kind), "capacity_class", None)
    except LookupError:
        declared = None
    if isinstance(declared, str) and declared in CLASSES:
        return declared
    return DEFAULT_CLASS_OF_KIND.get(kind, "messaging")


_kind_cache: dict[str | None, str] = {}


def cached_class_of_kind(kind: str | None) -> str:
    cls = _kind_cache.get(kind)
    if cls is None:
        cls = _kind_cache[kind] = class_of_kind(kind)
    return cls


@dataclass(frozen=True)
class Limits:
    """Effective limits of one agent."""

    per_class: Mapping[str, int]
    blocks: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def has_room(self, load: Mapping[str, int], cls: str) -> bool:
        """Whether one more conversation of class ``cls`` fits."""
        if load.get(cls, 0) >= self.per_class.get(cls, 0):
            return False
        for busy, blocked in self.blocks.items():
            if cls in blocked and load.get(busy, 0) > 0:
                return False
        return True


def check_capacity_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a capacity config; returns the normalised form (raises InvalidInput)."""
    if not isinstance(data, Mapping):
        raise InvalidInput("capacity must be an object", field="capacity")
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key == "blocks":
            if not isinstance(value, Mapping):
                raise InvalidInput("blocks must map a class to a list of classes", field="blocks")
            blocks: dict[str, list[str]] = {}
            for busy, blocked in value.items():
                if (
                    busy not in CLASSES
                    or isinstance(blocked, str)
                    or not isinstance(blocked, Sequence)
                ):
                    raise InvalidInput(f"invalid block rule for {busy!r}", field="blocks")
                bad = [b for b in blocked if b not in CLASSES]
                if bad:
                    raise InvalidInput(f"unknown channel class {bad[0]!r}", field="blocks")
                blocks[busy] = sorted(set(blocked) - {busy})
            clean["blocks"] = blocks
            continue
        if key not in CLASSES:
            raise invalid(
                _("unknown channel class %(name)s: use one of %(classes)s"),
                field=key,
                name=key,
                classes=", ".join(CLASSES),
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PER_CLASS:
            raise invalid(
                _("a capacity is a whole number from 0 to %(max)s"), field=key, max=MAX_PER_CLASS
            )
        clean[key] = value
    return clean


def effective_limits(own: Mapping[str, Any], team_defaults: Iterable[Mapping[str, Any]]) -> Limits:
    teams = list(team_defaults)
    per_class: dict[str, int] = {}
    for cls in CLASSES:
        if isinstance(own.get(cls), int):
            per_class[cls] = int(own[cls])
            continue
        values = [int(t[cls]) for t in teams if isinstance(t.get(cls), int)]
        per_class[cls] = max(values) if values else DEFAULT_CAPACITY[cls]
    raw_blocks: Mapping[str, Any] | None = None
    if isinstance(own.get("blocks"), Mapping):
        raw_blocks = own["blocks"]
    else:
        for t in teams:
            if isinstance(t.get("blocks"), Mapping):
                raw_blocks = t["blocks"]
                break
    blocks = (
        {k: frozenset(v) for k, v in raw_blocks.items()}
        if raw_blocks is not None
        else dict(DEFAULT_BLOCKS)
    )
    return Limits(per_class, blocks)


def limits_for(
    session: Session, user_ids: Sequence[int], *, own: Mapping[int, Any] | None = None
) -> dict[int, Limits]:
    """Effective limits of several agents (``own``: their ``agent_state.capacity``, if read)."""
    if own is None:
        own = dict(
            session.execute(
                select(AgentState.user_id, AgentState.capacity).where(
                    ids_in(session, AgentState.user_id, user_ids)
                )
            ).all()
        )
    team_caps: dict[int, list[Mapping[str, Any]]] = {}
    rows = session.execute(
        select(team_member.c.user_id, TeamRouting.capacity)
        .join(TeamRouting, TeamRouting.team_id == team_member.c.team_id)
        .where(ids_in(session, team_member.c.user_id, user_ids))
    )
    for uid, cap in rows:
        team_caps.setdefault(uid, []).append(cap or {})
    return {uid: effective_limits(own.get(uid) or {}, team_caps.get(uid, [])) for uid in user_ids}


def channel_classes(session: Session, channel_ids: Iterable[int | None]) -> dict[int | None, str]:
    """Capacity class by channel id (one small query; a channel without a row counts as email)."""
    wanted = {c for c in channel_ids if c is not None}
    out: dict[int | None, str] = {None: cached_class_of_kind(None)}
    if wanted:
        for cid, kind in session.execute(
            select(Channel.id, Channel.kind).where(ids_in(session, Channel.id, wanted))
        ):
            out[cid] = cached_class_of_kind(kind)
    for cid in wanted - out.keys():
        out[cid] = cached_class_of_kind(None)
    return out


def loads_for(session: Session, user_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Current load by class of each agent: active assigned conversations plus live offers."""
    loads: dict[int, dict[str, int]] = {uid: {} for uid in user_ids}
    if not user_ids:
        return loads
    rows = session.execute(
        select(Conversation.assignee_id, Conversation.channel_id, func.count())
        .where(
            ids_in(session, Conversation.assignee_id, user_ids),
            Conversation.status.in_(ACTIVE_STATUSES),
        )
        .group_by(Conversation.assignee_id, Conversation.channel_id)
    ).all()
    classes = channel_classes(session, [r[1] for r in rows])
    for uid, channel_id, count in rows:
        assert uid is not None
        cls = classes[channel_id]
        loads[uid][cls] = loads[uid].get(cls, 0) + int(count)
    offers = session.execute(
        select(Offer.user_id, Offer.channel_class, func.count())
        .where(ids_in(session, Offer.user_id, user_ids))
        .group_by(Offer.user_id, Offer.channel_class)
    )
    for uid, cls, count in offers:
        loads[uid][cls] = loads[uid].get(cls, 0) + int(count)
    return loads


def do_set_agent_capacity(session: Session, *, user: User, capacity: Mapping[str, Any]) -> None:
    """Set an agent's own capacity override (``{}`` falls back to the team defaults)."""
    from sportello.routing import presence

    clean = check_capacity_config(capacity)
    state = presence.state_for_update(session, user.id)
    state.capacity = clean


def do_set_team_capacity(session: Session, *, team_id: int, capacity: Mapping[str, Any]) -> None:
    clean = check_capacity_config(capacity)
    row = session.get(TeamRouting, team_id)
    if row is None:
        row = TeamRouting(team_id=team_id, capacity=clean)
        session.add(row)
    else:
        row.capacity = clean
    session.flush()
