"""Routing's writes: queues (create, rename, their routing settings as one form), the engine's
commit of planned decisions (``route``: snapshot, plan, commit in batches under locks), offers
(accept, decline, expire) and supervisors' moves (move, reassign, pin, release, delete a queue).
Skills, capacity, presence and SLA writes live in their own modules (skills.py, capacity.py,
presence.py, sla.py).

Two phases. **Plan** (pure, in memory: planner.py on a snapshot.py snapshot). **Commit**
(:func:`commit_batch`): one transaction a batch that locks the agents' ``agent_state`` rows
(``FOR UPDATE``, in id order, so routers never deadlock) and the conversations (``FOR UPDATE SKIP
LOCKED``; on SQLite ``BEGIN IMMEDIATE`` serialises writers), then re-reads presence, load and
ownership under those locks and applies only the decisions that are still valid. So whatever runs
concurrently, no agent is routed beyond capacity and no conversation gets two owners; a decision
dropped at commit is retried by the next run.

Push mode: the decision becomes an :class:`~sportello.routing.models.Offer` (which reserves the
capacity) and a durable ``routing.offer_timeout`` job; accept assigns through
``conversations.actions.do_assign``, decline or timeout re-offers to the next agent, and a timeout
marks the agent ``away``. Auto mode: assigned at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sportello.accounts.models import Team, User, team_member
from sportello.audit import actions as audit
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.actions import Assignment
from sportello.conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    Status,
)
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sportello.core.events import emit
from sportello.routing import capacity, presence, skills, statements
from sportello.routing.events import ConversationRouted, OfferEvent
from sportello.routing.messages import _, conflict, invalid
from sportello.routing.models import (
    AgentState,
    BusinessCalendarRow,
    Offer,
    PresenceLog,
    Queue,
    QueueRouting,
    RoutingState,
    Skill,
)
from sportello.routing.planner import Decision, Planner
from sportello.routing.snapshot import load_snapshot

log = logging.getLogger(__name__)

MODES: Final = ("push", "auto")
DEFAULT_BATCH: Final = 500
MIN_OFFER_TIMEOUT: Final = 5
MAX_OFFER_TIMEOUT: Final = 600


def check_queue_name(session: Session, *, brand_id: int, name: str, queue_id: int | None) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a queue needs a name", field="name")
    clash = session.scalar(
        select(Queue.id).where(Queue.brand_id == brand_id, Queue.name == name[:200])
    )
    if clash is not None and clash != queue_id:
        raise Conflict(f"a queue named {name!r} already exists")
    return name[:200]


def do_create_queue(
    session: Session, *, brand_id: int, name: str, team: Team | None, priority: int = 0
) -> Queue:
    name = check_queue_name(session, brand_id=brand_id, name=name, queue_id=None)
    queue = Queue(
        brand_id=brand_id, name=name, team_id=team.id if team else None, priority=priority
    )
    session.add(queue)
    session.flush()
    return queue


def do_update_queue(
    session: Session,
    *,
    queue: Queue,
    name: str | None = None,
    team: Team | bool | None = False,
    priority: int | None = None,
) -> Queue:
    """Rename, move to another team (``None`` removes it; ``False`` leaves it), reprioritise."""
    if name is not None:
        queue.name = check_queue_name(
            session, brand_id=queue.brand_id, name=name, queue_id=queue.id
        )
    if team is not False:
        queue.team_id = team.id if isinstance(team, Team) else None
        queue.team = team if isinstance(team, Team) else None
    if priority is not None:
        queue.priority = priority
    audit.record(
        session,
        "routing.queue_updated",
        target=queue,
        team_id=queue.team_id,
        priority=queue.priority,
    )
    return queue


# ----------------------------------------------------------------------------- queue settings


def check_queue_settings(
    session: Session,
    *,
    queue: Queue,
    mode: str,
    members: Sequence[User],
    calendar_id: int | None,
) -> None:
    """What would leave a queue unable to route: a push queue nobody serves, a foreign calendar."""
    if mode == "push" and not members:
        team_agents = 0
        if queue.team_id is not None:
            team_agents = int(
                session.scalar(
                    select(func.count())
                    .select_from(team_member)
                    .join(User, User.id == team_member.c.user_id)
                    .where(team_member.c.team_id == queue.team_id, User.is_active.is_(True))
                )
                or 0
            )
        if not team_agents:
            raise invalid(
                _(
                    "a push queue offers conversations to its members: add at least one member "
                    "(or give the queue a team with agents)"
                ),
                field="member_ids",
            )
    if calendar_id is not None:
        calendar = session.get(BusinessCalendarRow, calendar_id)
        if calendar is None or calendar.brand_id != queue.brand_id:
            raise InvalidInput("unknown calendar", field="calendar_id")


def do_configure_queue(
    session: Session,
    *,
    queue: Queue,
    mode: str,
    offer_timeout_seconds: int,
    overflow_queue_id: int | None,
    overflow_after_seconds: int | None,
    calendar_id: int | None,
    members: Sequence[User],
    requirements: Mapping[int, int | None],
) -> None:
    """Everything about how a queue routes, in one go (the settings page and the API):
    mode, offer timeout, overflow, calendar, explicit members, required skills (skill id ->
    minimum level, ``None`` for not required; skills left out keep their requirement)."""
    check_queue_settings(session, queue=queue, mode=mode, members=members, calendar_id=calendar_id)
    wanted = {}
    for skill_id, level in requirements.items():
        skill = session.get(Skill, skill_id)
        if skill is None or skill.brand_id != queue.brand_id:
            raise InvalidInput("unknown skill", field="skills")
        if level is not None:
            skills.check_level(level, "min_level")
        wanted[skill_id] = (skill, level)
    do_set_queue_routing(
        session,
        queue=queue,
        mode=mode,
        offer_timeout_seconds=offer_timeout_seconds,
        overflow_queue_id=overflow_queue_id,
        overflow_after_seconds=overflow_after_seconds,
        calendar_id=calendar_id,
    )
    skills.do_set_queue_members(session, queue=queue, users=members)
    for skill, level in wanted.values():
        skills.do_set_queue_skill(session, queue=queue, skill=skill, min_level=level)
    audit.record(
        session,
        "routing.queue_configured",
        target=queue,
        mode=mode,
        offer_timeout_seconds=offer_timeout_seconds,
        overflow_queue_id=overflow_queue_id,
        overflow_after_seconds=overflow_after_seconds,
        calendar_id=calendar_id,
        members=sorted(u.email for u in members),
        skills={str(k): v for k, v in requirements.items()},
    )


# ----------------------------------------------------------------------------- the engine: commit


@dataclass
class RouteStats:
    planned: int = 0
    assigned: int = 0
    offered: int = 0
    dropped: int = 0
    waiting: int = 0
    agents: int = 0
    decision_seconds: list[float] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return self.assigned + self.offered


def commit_batch(
    session: Session, decisions: Sequence[Decision], *, now: datetime | None = None
) -> tuple[int, int]:
    """Apply planned decisions that are still valid, under locks; returns (assigned, offered).

    The caller owns the transaction (begun as a writer: ``Database.transaction()``)."""
    if not decisions:
        return (0, 0)
    now = now or utcnow()
    agent_ids = sorted({d.user_id for d in decisions})
    conv_ids = sorted({d.conversation_id for d in decisions})
    # 1. The agents' capacity rows, in id order (no deadlock between routers).
    own = {
        uid: cap
        for uid, (state, cap) in statements.lock_agents(session, agent_ids).items()
        if state == presence.Presence.AVAILABLE.value
    }
    if not own:
        return (0, 0)
    # 2. The conversations still waiting (those another router holds are skipped).
    current = statements.lock_waiting(session, conv_ids)
    if not current:
        return (0, 0)
    # 3. Offers, users and loads in fresh statements (READ COMMITTED sees every commit made by
    # whoever held these locks before us).
    offered_already = statements.offered(session, current)
    names = statements.active_names(session, own)
    limits = capacity.limits_for(session, sorted(names), own=own)
    loads = capacity.loads_for(session, sorted(names))
    accepted: list[Decision] = []
    for d in decisions:
        state = current.get(d.conversation_id)
        if (
            state is None
            or state.queue_id != d.queue_id
            or d.conversation_id in offered_already
            or d.user_id not in names
        ):
            continue
        load = loads[d.user_id]
        if not limits[d.user_id].has_room(load, d.cls):
            continue
        load[d.cls] = load.get(d.cls, 0) + 1
        offered_already.add(d.conversation_id)
        accepted.append(d)
    if not accepted:
        return (0, 0)
    assigned = offered = 0
    auto = [d for d in accepted if d.mode == "auto"]
    push = [d for d in accepted if d.mode != "auto"]
    if auto:  # one statement each for the batch, however small (a batch of one too)
        conversations_actions.do_assign_many(
            session,
            [
                Assignment(
                    conversation_id=d.conversation_id,
                    number=current[d.conversation_id].number,
                    queue_id=current[d.conversation_id].queue_id,
                    status=current[d.conversation_id].status,
                    priority=current[d.conversation_id].priority,
                    previous_assignee_id=None,
                    assignee_id=d.user_id,
                    assignee_name=names[d.user_id],
                )
                for d in auto
            ],
            by=None,
            now=now,
        )
        assigned += len(auto)
    if push:
        numbers = {cid: row.number for cid, row in current.items()}
        offers = [
            Offer(
                conversation_id=d.conversation_id,
                user_id=d.user_id,
                queue_id=d.queue_id,
                channel_class=d.cls,
                offered_at=now,
                expires_at=now + timedelta(seconds=d.offer_timeout),
            )
            for d in push
        ]
        session.add_all(offers)
        session.flush()
        for offer in offers:
            jobs.enqueue(
                session,
                "routing.offer_timeout",
                {"offer_id": offer.id, "conversation_id": offer.conversation_id},
                run_at=offer.expires_at,
                max_attempts=5,
            )
            emit(
                session, "routing.offered", _offer_event(offer, numbers.get(offer.conversation_id))
            )
            offered += 1
    statements.mark_busy(session, sorted({d.user_id for d in accepted}), now)
    return (assigned, offered)


def _offer_event(offer: Offer, number: int | None) -> OfferEvent:
    return OfferEvent(
        offer_id=offer.id,
        conversation_id=offer.conversation_id,
        number=number,
        user_id=offer.user_id,
        queue_id=offer.queue_id,
        expires_at=offer.expires_at,
    )


def _chunks(items: Sequence[Decision], size: int) -> Iterator[Sequence[Decision]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def route(
    db: Database,
    *,
    queue_ids: Iterable[int] | None = None,
    agent_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> RouteStats:
    """One routing run: snapshot, plan in memory, commit in batches under locks."""
    now = now or utcnow()
    with db.session() as session:
        snapshot = load_snapshot(session, queue_ids=queue_ids, agent_ids=agent_ids, now=now)
        session.rollback()
    stats = RouteStats(waiting=len(snapshot.waiting), agents=len(snapshot.agents))
    if not snapshot.waiting or not snapshot.agents:
        return stats
    planner = Planner(snapshot.queues, snapshot.agents)
    decisions = planner.plan(snapshot.waiting, now)
    stats.planned = len(decisions)
    for batch in _chunks(decisions, batch_size):
        try:
            with db.transaction() as session:
                assigned, offered = commit_batch(session, batch, now=now)
        except IntegrityError:  # a racing writer made the same offer first: next run re-plans
            log.info("routing batch lost a race; it will be re-planned")
            continue
        stats.assigned += assigned
        stats.offered += offered
    stats.dropped = stats.planned - stats.applied
    return stats


# ----------------------------------------------------------------------------- offers


# ----------------------------------------------------------------------------- offers


def _routing_state(session: Session, conversation_id: int) -> RoutingState:
    state = session.get(RoutingState, conversation_id)
    if state is None:
        state = RoutingState(conversation_id=conversation_id, declined=[])
        session.add(state)
    return state


def _remember_decline(session: Session, conversation_id: int, user_id: int, now: datetime) -> None:
    state = _routing_state(session, conversation_id)
    kept = [
        item
        for item in (state.declined or [])
        if isinstance(item, list) and len(item) == 2 and item[0] != user_id
    ]
    state.declined = [*kept[-19:], [user_id, now.isoformat()]]


def _offer_for_update(session: Session, offer_id: int) -> Offer | None:
    return session.scalar(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def do_accept_offer(
    session: Session, *, offer_id: int, user: User, now: datetime | None = None
) -> Conversation:
    """The agent takes the offered conversation: assigned through ``do_assign``."""
    now = now or utcnow()
    offer = _offer_for_update(session, offer_id)
    if offer is None or offer.user_id != user.id:
        raise NotFound("this offer is no longer available")
    if offer.expires_at <= now:
        raise Conflict("this offer has expired")
    conversation = session.scalar(
        select(Conversation)
        .where(Conversation.id == offer.conversation_id)
        .with_for_update(of=Conversation)
        .execution_options(populate_existing=True)
    )
    event = _offer_event(offer, conversation.number if conversation else None)
    session.delete(offer)
    if conversation is None or conversation.assignee_id not in (None, user.id):
        session.flush()
        raise Conflict("someone else has taken this conversation")
    conversations_actions.do_assign(session, conversation=conversation, assignee=user, by=user)
    session.execute(
        update(AgentState).where(AgentState.user_id == user.id).values(last_activity_at=now)
    )
    emit(session, "routing.offer_accepted", event)
    return conversation


def do_decline_offer(
    session: Session, *, offer_id: int, user: User, now: datetime | None = None
) -> None:
    """The agent passes; the conversation is offered to the next agent."""
    now = now or utcnow()
    offer = _offer_for_update(session, offer_id)
    if offer is None or offer.user_id != user.id:
        raise NotFound("this offer is no longer available")
    _remember_decline(session, offer.conversation_id, user.id, now)
    event = _offer_event(offer, None)
    session.delete(offer)
    session.execute(
        update(AgentState).where(AgentState.user_id == user.id).values(last_activity_at=now)
    )
    emit(session, "routing.offer_declined", event)


def expire_offer(session: Session, *, offer_id: int, now: datetime | None = None) -> bool:
    """An unanswered offer: withdrawn, the agent marked away, the conversation re-offered."""
    now = now or utcnow()
    offer = _offer_for_update(session, offer_id)
    if offer is None or offer.expires_at > now:
        return False
    _remember_decline(session, offer.conversation_id, offer.user_id, now)
    event = _offer_event(offer, None)
    user = session.get(User, offer.user_id)
    session.delete(offer)
    session.flush()
    if user is not None:
        state = presence.state_for_update(session, user.id)
        if state.presence == presence.Presence.AVAILABLE.value:
            presence.do_set_presence(
                session, user=user, presence=presence.Presence.AWAY, cause="offer_timeout", now=now
            )
    emit(session, "routing.offer_expired", event)
    return True


def expire_overdue_offers(db: Database, *, now: datetime | None = None) -> int:
    """Safety net for timeout jobs that could not run (the sweep calls it)."""
    now = now or utcnow()
    with db.session() as session:
        ids = list(session.scalars(select(Offer.id).where(Offer.expires_at <= now)))
    count = 0
    for offer_id in ids:
        with db.transaction() as session:
            count += expire_offer(session, offer_id=offer_id, now=now)
    return count


# ----------------------------------------------------------------------------- supervisors


def check_queue_routing(
    session: Session,
    *,
    queue: Queue,
    mode: str,
    offer_timeout_seconds: int,
    overflow_queue_id: int | None,
    overflow_after_seconds: int | None,
) -> None:
    if mode not in MODES:
        raise InvalidInput("mode is push or auto", field="mode")
    if not MIN_OFFER_TIMEOUT <= offer_timeout_seconds <= MAX_OFFER_TIMEOUT:
        raise invalid(
            _("the offer timeout is from %(min)s to %(max)s seconds"),
            field="offer_timeout_seconds",
            min=MIN_OFFER_TIMEOUT,
            max=MAX_OFFER_TIMEOUT,
        )
    if overflow_queue_id is not None:
        if overflow_queue_id == queue.id:
            raise InvalidInput("a queue cannot overflow into itself", field="overflow_queue_id")
        other = session.get(Queue, overflow_queue_id)
        if other is None or other.brand_id != queue.brand_id:
            raise InvalidInput("unknown overflow queue", field="overflow_queue_id")
        if overflow_after_seconds is None or overflow_after_seconds < 0:
            raise InvalidInput(
                "say after how many seconds the queue overflows", field="overflow_after_seconds"
            )


def do_set_queue_routing(
    session: Session,
    *,
    queue: Queue,
    mode: str = "push",
    offer_timeout_seconds: int = 30,
    overflow_queue_id: int | None = None,
    overflow_after_seconds: int | None = None,
    calendar_id: int | None = None,
) -> QueueRouting:
    check_queue_routing(
        session,
        queue=queue,
        mode=mode,
        offer_timeout_seconds=offer_timeout_seconds,
        overflow_queue_id=overflow_queue_id,
        overflow_after_seconds=overflow_after_seconds,
    )
    row = session.get(QueueRouting, queue.id)
    if row is None:
        row = QueueRouting(queue_id=queue.id)
        session.add(row)
    row.mode = mode
    row.offer_timeout_seconds = offer_timeout_seconds
    row.overflow_queue_id = overflow_queue_id
    row.overflow_after_seconds = overflow_after_seconds if overflow_queue_id is not None else None
    row.calendar_id = calendar_id
    session.flush()
    skills.request_routing(session, queue_ids=[queue.id], reason="queue_routing_changed")
    return row


def _withdraw_offer(session: Session, conversation_id: int) -> None:
    session.execute(delete(Offer).where(Offer.conversation_id == conversation_id))


def do_move_conversation(
    session: Session, *, conversation: Conversation, queue: Queue, by: User
) -> Conversation:
    """Supervisor: move to another queue (the waiting time restarts there; the pin is kept)."""
    _require_supervisor(by)
    if conversation.status == Status.CLOSED:
        raise Conflict("a closed conversation cannot be moved")
    previous = conversation.queue_id
    _withdraw_offer(session, conversation.id)
    conversations_actions.do_update_conversation(
        session, conversation=conversation, by=by, queue=queue
    )
    _routing_state(session, conversation.id).queued_at = utcnow()
    emit(
        session,
        "routing.supervised",
        ConversationRouted(
            conversation_id=conversation.id,
            queue_id=queue.id,
            from_queue_id=previous,
            assignee_id=conversation.assignee_id,
            pinned_user_id=None,
            by_user_id=by.id,
            action="move",
        ),
    )
    return conversation


def do_reassign(
    session: Session, *, conversation: Conversation, assignee: User | None, by: User
) -> Conversation:
    """Supervisor: assign now to an agent (an override: capacity is not checked), or unassign
    (the conversation waits in its queue again)."""
    _require_supervisor(by)
    _withdraw_offer(session, conversation.id)
    conversations_actions.do_assign(session, conversation=conversation, assignee=assignee, by=by)
    if assignee is None:
        _routing_state(session, conversation.id).queued_at = utcnow()
    emit(
        session,
        "routing.supervised",
        ConversationRouted(
            conversation_id=conversation.id,
            queue_id=conversation.queue_id,
            from_queue_id=conversation.queue_id,
            assignee_id=conversation.assignee_id,
            pinned_user_id=None,
            by_user_id=by.id,
            action="reassign",
        ),
    )
    return conversation


def do_pin(
    session: Session, *, conversation: Conversation, agent: User | None, by: User
) -> Conversation:
    """Supervisor: route this conversation only to ``agent`` (when they are available and have
    room); ``None`` removes the pin."""
    _require_supervisor(by)
    if agent is not None and not agent.is_active:
        raise InvalidInput("that user is not active", field="agent_id")
    if conversation.status == Status.CLOSED:
        raise Conflict("a closed conversation cannot be pinned")
    state = _routing_state(session, conversation.id)
    state.pinned_user_id = agent.id if agent else None
    offer = session.scalar(select(Offer).where(Offer.conversation_id == conversation.id))
    if offer is not None and (agent is None or offer.user_id != agent.id):
        session.delete(offer)
    emit(
        session,
        "routing.supervised",
        ConversationRouted(
            conversation_id=conversation.id,
            queue_id=conversation.queue_id,
            from_queue_id=conversation.queue_id,
            assignee_id=conversation.assignee_id,
            pinned_user_id=state.pinned_user_id,
            by_user_id=by.id,
            action="pin",
        ),
    )
    return conversation


def _require_supervisor(user: User) -> None:
    if not user.is_supervisor:
        raise PermissionDenied("supervisors and admins only")


def do_release_agent(session: Session, *, user: User, by: User | None) -> int:
    """An agent leaves (deactivated or about to be deleted): their active conversations and offers
    go back to their queues, the agent goes offline. Returns how many conversations were released.
    (A user row deleted outright has the same outcome: the foreign key unassigns the conversations
    and the sweep routes them again.)"""
    convs = list(
        session.scalars(
            select(Conversation).where(
                Conversation.assignee_id == user.id, Conversation.status.in_(ACTIVE_STATUSES)
            )
        )
    )
    now = utcnow()
    for conversation in convs:
        conversations_actions.do_assign(session, conversation=conversation, assignee=None, by=by)
        _routing_state(session, conversation.id).queued_at = now
    session.execute(delete(Offer).where(Offer.user_id == user.id))
    state = presence.state_for_update(session, user.id)
    if state.presence != presence.Presence.OFFLINE.value:
        state.presence = presence.Presence.OFFLINE.value
        state.presence_since = now
        session.add(
            PresenceLog(
                user_id=user.id,
                presence="offline",
                previous=None,
                reason=None,
                cause="released",
                by_user_id=by.id if by else None,
                at=now,
            )
        )
    return len(convs)


def do_delete_queue(
    session: Session, *, queue: Queue, move_to: Queue | None, by: User | None
) -> int:
    """Delete a queue in use: its active conversations and its channels move to ``move_to``.
    Without ``move_to`` a queue that still holds active conversations or receives from a channel
    is refused (``Conflict``): no conversation is ever left without a queue."""
    if move_to is not None and move_to.id == queue.id:
        raise InvalidInput("move the conversations to another queue", field="move_to")
    convs = list(
        session.scalars(
            select(Conversation).where(
                Conversation.queue_id == queue.id, Conversation.status.in_(ACTIVE_STATUSES)
            )
        )
    )
    channels = list(session.scalars(select(Channel).where(Channel.queue_id == queue.id)))
    if move_to is None and (convs or channels):
        exc = conflict(
            _(
                "the queue %(name)s holds %(conversations)s open conversation(s) and receives "
                "from %(channels)s channel(s): choose a queue to move them to"
            ),
            field="move_to",
            name=queue.name,
            conversations=len(convs),
            channels=len(channels),
        )
        exc.extra.update(conversations=len(convs), channels=len(channels))
        raise exc
    now = utcnow()
    for conversation in convs:
        _withdraw_offer(session, conversation.id)
        conversations_actions.do_update_conversation(
            session, conversation=conversation, by=by, queue=move_to
        )
        _routing_state(session, conversation.id).queued_at = now
    for channel in channels:
        channel.queue_id = move_to.id if move_to else None
    session.flush()
    session.execute(
        update(QueueRouting)
        .where(QueueRouting.overflow_queue_id == queue.id)
        .values(overflow_queue_id=None, overflow_after_seconds=None)
    )
    session.delete(queue)
    session.flush()
    if move_to is not None and convs:
        skills.request_routing(session, queue_ids=[move_to.id], reason="queue_deleted")
    return len(convs)


# ----------------------------------------------------------------------------- triggers


def sweep(db: Database, *, now: datetime | None = None) -> RouteStats:
    """The periodic safety net: expire overdue offers, auto-away idle agents, route everything."""
    now = now or utcnow()
    expire_overdue_offers(db, now=now)
    presence.sweep_inactive(db, now=now)
    return route(db, now=now)
