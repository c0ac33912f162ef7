"""Routing in the console: the agent's state, offers and load; the supervisors' live view.

HTML/htmx routes under ``/routing``, JSON under ``/api/v1/routing``. Views are thin: they parse,
check access and call one action from presence.py / actions.py. Live: the agent panel carries
``data-live-url``, which the console's socket refreshes on conversation events; routing.js also
refreshes it on routing events and ticks its offer countdowns. The supervisors' live panel
carries ``data-cl-live-url``: console-live.js refreshes it on routing, presence, SLA and
conversation events, at most once a second, and never under an open routing menu. The routing
handlers and jobs live in handlers.py and sla.py (``wiring.HANDLERS``), the sweep is scheduled
by ``wiring.schedule_periodic``.

On every console page (``layout.html``) the top bar loads ``/routing/me/bar``: the agent's status
menu, plus (out of band) the offer toasts and the "an offer timed out" notice. console-live.js
reloads it when the socket says something changed for this agent (an offer made, accepted,
declined or expired; a presence change), ticks the clocks and countdowns, plays the offer sound
and keeps the tab title's counter. The inbox rows and the conversation head show the SLA clock
through the ``sla_status`` template global registered here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, lazyload, object_session

from sportello.accounts.models import Role, User
from sportello.conversations.models import ACTIVE_STATUSES, Conversation
from sportello.core import access, i18n
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
from sportello.routing import actions, capacity, presence, service, sla, snapshot
from sportello.routing.capacity import ids_in
from sportello.routing.models import AgentState, PresenceLog, Queue, RoutingState
from sportello.routing.presence import Presence
from sportello.web.auth import ApiCallerDep, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import back_to, is_htmx, local_path, translating, user_errors
from sportello.web.render import env, render

__all__ = ["router"]

pages = APIRouter(dependencies=[CsrfChecked])
api = APIRouter(prefix="/api/v1/routing", tags=["routing"])


# ----------------------------------------------------------------------------- reads


def _(message: str) -> str:
    """Marks the errors these views raise for the catalogues (``user_errors`` translates)."""
    return message


MESSAGES = [
    _("this offer is no longer available"),
    _("this offer has expired"),
    _("someone else has taken this conversation"),
    _("a deactivated user cannot take conversations"),
    _("a pause reason goes with the break state"),
    _("unknown pause reason"),
    _("a closed conversation cannot be pinned"),
    _("choose a state"),
]

#: The states an agent picks in the status menu, in menu order (``break`` comes with reasons).
MENU_STATES = ("available", "busy", "break", "away", "offline")
#: How many current conversations the live page lists per agent, and waiting ones in all.
LIVE_CONVERSATIONS_PER_AGENT = 8
LIVE_WAITING = 30


@dataclass
class OfferCard:
    """One live offer, as the toast shows it."""

    offer_id: int
    conversation_id: int
    number: int
    subject: str
    customer: str
    channel_kind: str | None
    channel_name: str | None
    queue_id: int | None
    queue: str | None
    waiting_since: datetime
    offered_at: datetime
    expires_at: datetime


def offer_cards(session: Session, user_id: int) -> list[OfferCard]:
    pairs = service.offers_for(session, user_id)
    if not pairs:
        return []
    queued = dict(
        session.execute(
            select(RoutingState.conversation_id, RoutingState.queued_at).where(
                RoutingState.conversation_id.in_([c.id for _o, c in pairs])
            )
        ).all()
    )
    return [
        OfferCard(
            offer_id=o.id,
            conversation_id=c.id,
            number=c.number,
            subject=c.subject,
            customer=c.customer.display_name if c.customer else "",
            channel_kind=c.channel.kind if c.channel else None,
            channel_name=c.channel.name if c.channel else None,
            queue_id=o.queue_id,
            queue=c.queue.name if c.queue else None,
            waiting_since=queued.get(c.id) or c.created_at,
            offered_at=o.offered_at,
            expires_at=o.expires_at,
        )
        for o, c in pairs
    ]


def timed_out(session: Session, state: AgentState | None) -> bool:
    """The agent is away because an offer went unanswered (and has not changed state since)."""
    if state is None or state.presence != presence.Presence.AWAY.value:
        return False
    cause = session.scalar(
        select(PresenceLog.cause)
        .where(PresenceLog.user_id == state.user_id)
        .order_by(PresenceLog.at.desc(), PresenceLog.id.desc())
        .limit(1)
    )
    return cause == "offer_timeout"


def _bar_context(session: Session, user: User) -> dict[str, Any]:
    state = presence.get_state(session, user.id)
    reasons = presence.pause_reasons(session)
    reason = next((r for r in reasons if state and r.id == state.pause_reason_id), None)
    return {
        "state": state,
        "current": state.presence if state else presence.Presence.OFFLINE.value,
        "reason": reason,
        "menu_states": MENU_STATES,
        "reasons": reasons,
        "offers": offer_cards(session, user.id),
        "timed_out": timed_out(session, state),
        "now": utcnow(),
    }


def _agent_context(session: SessionDep, user: User) -> dict[str, Any]:
    state = presence.get_state(session, user.id)
    lines = service.agent_overview(session, user_ids=[user.id])
    offers = service.offers_for(session, user.id)
    return {
        "state": state,
        "presence_values": [p.value for p in presence.Presence],
        "reasons": presence.pause_reasons(session),
        "line": lines[0] if lines else None,
        "classes": capacity.CLASSES,
        "offers": offers,
        "now": utcnow(),
    }


@dataclass
class LiveAgent:
    """An agent on the live page: state (offline when never set), load, current conversations."""

    user_id: int
    name: str
    initials: str
    presence: str
    reason: str | None
    since: datetime | None
    load: dict[str, int]
    limits: dict[str, int]
    offers: int
    conversations: list[ConversationLine] = field(default_factory=list)
    more: int = 0


@dataclass
class ConversationLine:
    """What the live page shows of a conversation (read as columns: a Conversation entity
    would eager-load its customer's identities, assignee, teams and tags)."""

    id: int
    number: int
    subject: str
    customer: str
    queue: str | None
    assignee_id: int | None


def conversation_lines(session: Session, ids: Iterable[int]) -> dict[int, ConversationLine]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Conversation.id,
            Conversation.number,
            Conversation.subject,
            Conversation.customer_id,
            Customer.name,
            Queue.name,
            Conversation.assignee_id,
        )
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(Queue, Queue.id == Conversation.queue_id)
        .where(ids_in(session, Conversation.id, wanted))
    ).all()
    nameless = [r[3] for r in rows if not r[4]]
    first_identity: dict[int, str] = {}
    if nameless:
        for customer_id, kind, value in session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.kind, CustomerIdentity.value)
            .where(ids_in(session, CustomerIdentity.customer_id, nameless))
            .order_by(CustomerIdentity.id.desc())
        ):
            if kind == IdentityKind.VISITOR:  # a random id is no name: "Visitor #<id>"
                first_identity.setdefault(
                    customer_id, i18n.gettext("Visitor #%(number)s", number=customer_id)
                )
            else:
                first_identity[customer_id] = value  # the last written is the lowest id
    return {
        cid: ConversationLine(
            id=cid,
            number=number,
            subject=subject,
            customer=name or first_identity.get(customer_id) or f"#{customer_id}",
            queue=queue,
            assignee_id=assignee_id,
        )
        for cid, number, subject, customer_id, name, queue, assignee_id in rows
    }


def live_agents(session: Session, *, with_conversations: bool = True) -> list[LiveAgent]:
    """Every active agent (and any supervisor or admin who has set a state), with their
    active conversations: those a supervisor may reassign from here."""
    lines = {a.user_id: a for a in service.agent_overview(session)}
    users = list(
        session.scalars(
            select(User)
            .options(lazyload("*"))
            .where(User.is_active.is_(True))
            .where((User.role == Role.AGENT) | User.id.in_(list(lines) or [0]))
            .order_by(User.name)
        )
    )
    ids = [u.id for u in users]
    missing = [uid for uid in ids if uid not in lines]
    limits = capacity.limits_for(session, missing) if missing else {}
    convs: dict[int, list[ConversationLine]] = {uid: [] for uid in ids}
    counts: dict[int, int] = {}
    if ids and with_conversations:
        for uid, count in session.execute(
            select(Conversation.assignee_id, func.count())
            .where(
                ids_in(session, Conversation.assignee_id, ids),
                Conversation.status.in_(ACTIVE_STATUSES),
            )
            .group_by(Conversation.assignee_id)
        ).all():
            if uid is not None:
                counts[int(uid)] = int(count)
        busy = [uid for uid in ids if counts.get(uid)]
        if busy:
            ranked = (
                select(
                    Conversation.id,
                    func.row_number()
                    .over(
                        partition_by=Conversation.assignee_id,
                        order_by=Conversation.last_message_at.desc(),
                    )
                    .label("n"),
                )
                .where(
                    ids_in(session, Conversation.assignee_id, busy),
                    Conversation.status.in_(ACTIVE_STATUSES),
                )
                .subquery()
            )
            wanted = list(
                session.scalars(
                    select(ranked.c.id)
                    .where(ranked.c.n <= LIVE_CONVERSATIONS_PER_AGENT)
                    .order_by(ranked.c.n)
                )
            )
            found = conversation_lines(session, wanted)
            for cid in wanted:
                conv = found.get(cid)
                if conv is not None and conv.assignee_id is not None:
                    convs[conv.assignee_id].append(conv)
    out = []
    for u in users:
        line = lines.get(u.id)
        shown = convs.get(u.id, [])
        out.append(
            LiveAgent(
                user_id=u.id,
                name=u.name,
                initials=u.initials,
                presence=line.presence if line else presence.Presence.OFFLINE.value,
                reason=line.reason if line else None,
                since=line.since if line else None,
                load=line.load if line else {},
                limits=line.limits if line else dict(limits[u.id].per_class),
                offers=line.offers if line else 0,
                conversations=shown,
                more=max(0, counts.get(u.id, 0) - len(shown)),
            )
        )
    order = {p: i for i, p in enumerate(MENU_STATES)}
    return sorted(out, key=lambda a: (order.get(a.presence, 9), a.name))


@dataclass
class WaitingLine:
    conversation: ConversationLine
    waiting_since: datetime
    pinned_to: str | None


def live_waiting(session: Session, *, now: datetime) -> list[WaitingLine]:
    """The longest-waiting conversations (no agent, no offer), oldest first."""
    waiting = sorted(snapshot.load_waiting(session, None, now), key=lambda w: w.waiting_since)
    top = waiting[:LIVE_WAITING]
    if not top:
        return []
    convs = conversation_lines(session, [w.id for w in top])
    pinned_ids = {w.pinned_user_id for w in top if w.pinned_user_id}
    names = (
        dict(session.execute(select(User.id, User.name).where(User.id.in_(pinned_ids))).all())
        if pinned_ids
        else {}
    )
    return [
        WaitingLine(
            conversation=convs[w.id],
            waiting_since=w.waiting_since,
            pinned_to=names.get(w.pinned_user_id) if w.pinned_user_id else None,
        )
        for w in top
        if w.id in convs
    ]


def _live_context(session: SessionDep) -> dict[str, Any]:
    now = utcnow()
    queues = service.queue_overview(session, now=now)
    waiting = live_waiting(session, now=now)
    return {
        "queues": queues,
        "unstaffed": [q for q in queues if q.waiting and not q.agents_available],
        "agents": live_agents(session),
        "waiting": waiting,
        "sla_map": sla.status_for(session, [w.conversation.id for w in waiting], now=now),
        "classes": capacity.CLASSES,
        "now": now,
    }


def sla_status(conversations: Iterable[Any]) -> dict[int, dict[str, Any]]:
    """Template global: the most urgent running SLA clock of each conversation shown
    (``sla.status_for``), read in the session the conversations were loaded in."""
    items = [c for c in conversations if getattr(c, "id", None) is not None]
    if not items:
        return {}
    session = object_session(items[0])
    if session is None:
        return {}
    return sla.status_for(session, [c.id for c in items])


env.globals["sla_status"] = sla_status


def _pgettext(context: str, message: str) -> str:
    """A message with a context, for words that mean something else elsewhere ("Away": an agent
    state here, a chat visitor who left in the conversation's side panel)."""
    return str(i18n.translations(i18n.current_language.get()).pgettext(context, message))


if env.globals.get("pgettext") is None:  # the i18n extension leaves it unset
    env.globals["pgettext"] = _pgettext


def clock(seconds: float) -> str:
    """Time in state as the top bar shows it: ``4:05``, ``1:02:09``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


env.filters["clock"] = clock


# ----------------------------------------------------------------------------- agent (HTML)


@pages.get("/routing/agent", response_class=HTMLResponse, include_in_schema=False)
def agent_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "routing/agent.html", _agent_context(session, user))


@pages.get("/routing/agent/panel", response_class=HTMLResponse, include_in_schema=False)
def agent_panel(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "routing/_agent_panel.html", _agent_context(session, user))


@pages.get("/routing/me/bar", response_class=HTMLResponse, include_in_schema=False)
def my_bar(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The top bar's status menu, with the offer toasts and the timeout notice out of band."""
    with translating(request):  # the customer's name of an offer may be words ("Visitor #7")
        context = _bar_context(session, user)
    return render(request, "routing/_bar.html", context)


def _agent_fragment(request: Request, session: SessionDep, user: User, panel: str) -> Response:
    session.flush()
    if panel == "bar":
        with translating(request):
            context = _bar_context(session, user)
        return render(request, "routing/_bar.html", context)
    return render(request, "routing/_agent_panel.html", _agent_context(session, user))


@pages.post("/routing/presence", response_class=HTMLResponse, include_in_schema=False)
def set_presence(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    presence_value: Annotated[str, Form(alias="presence", max_length=20)] = "",
    reason_id: Annotated[str, Form(max_length=20)] = "",
    panel: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    reason = int(reason_id) if reason_id.isdigit() else None
    with user_errors(request):
        if not presence_value:
            raise InvalidInput("choose a state", field="presence")
        presence.do_set_presence(session, user=user, presence=presence_value, reason_id=reason)
    presence.record_activity(session, user_id=user.id)
    if is_htmx(request):
        return _agent_fragment(request, session, user, panel)
    return back_to(request, "/routing/agent")


@pages.post(
    "/routing/offers/{offer_id}/accept", response_class=HTMLResponse, include_in_schema=False
)
def accept_offer(
    request: Request, session: SessionDep, user: CurrentUser, offer_id: int
) -> Response:
    with user_errors(request):
        conversation = actions.do_accept_offer(session, offer_id=offer_id, user=user)
    return back_to(request, f"/c/{conversation.number}")


@pages.post(
    "/routing/offers/{offer_id}/decline", response_class=HTMLResponse, include_in_schema=False
)
def decline_offer(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    offer_id: int,
    panel: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    with user_errors(request):
        actions.do_decline_offer(session, offer_id=offer_id, user=user)
    if is_htmx(request):
        return _agent_fragment(request, session, user, panel)
    return back_to(request, "/routing/agent")


# ----------------------------------------------------------------------------- supervisor (HTML)


@pages.get("/routing/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    with translating(request):  # a visitor's name is words ("Visitor #7")
        context = _live_context(session)
    return render(request, "routing/live.html", context)


@pages.get("/routing/live/panel", response_class=HTMLResponse, include_in_schema=False)
def live_panel(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    with translating(request):
        context = _live_context(session)
    return render(request, "routing/_live_panel.html", context)


def _conversation(session: SessionDep, user: User, conversation_id: int) -> Conversation:
    return access.access_conversation_by_id(session, user, conversation_id)


def _user(session: SessionDep, raw: str, field: str) -> User | None:
    if not raw:
        return None
    found = session.get(User, int(raw)) if raw.isdigit() else None
    if found is None:
        raise InvalidInput("choose an agent", field=field)
    return found


def _choosable_agents(session: Session) -> list[LiveAgent]:
    return sorted(live_agents(session, with_conversations=False), key=lambda a: a.name)


@pages.get(
    "/routing/conversations/{conversation_id}/supervise",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def supervise(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    conversation_id: int,
    next_url: Annotated[str, Query(alias="next", max_length=500)] = "",
) -> Response:
    """The supervisor's routing actions on one conversation (loaded when the menu opens)."""
    with user_errors(request):
        conversation = _conversation(session, user, conversation_id)
    pinned = session.scalar(
        select(RoutingState.pinned_user_id).where(RoutingState.conversation_id == conversation.id)
    )
    return render(
        request,
        "routing/_supervise.html",
        {
            "c": conversation,
            "agents": _choosable_agents(session),
            "queues": list(session.scalars(select(Queue).order_by(Queue.name))),
            "pinned_user_id": pinned,
            "next": local_path(next_url, f"/c/{conversation.number}"),
        },
    )


def _after_supervising(request: Request, conversation: Conversation, next_url: str) -> Response:
    return back_to(request, local_path(next_url, f"/c/{conversation.number}"))


@pages.post(
    "/routing/conversations/{conversation_id}/pin",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def pin(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    conversation_id: int,
    agent_id: Annotated[str, Form(max_length=20)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    with user_errors(request):
        conversation = _conversation(session, user, conversation_id)
        actions.do_pin(
            session, conversation=conversation, agent=_user(session, agent_id, "agent_id"), by=user
        )
    return _after_supervising(request, conversation, next_url)


@pages.post(
    "/routing/conversations/{conversation_id}/reassign",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def reassign(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    conversation_id: int,
    agent_id: Annotated[str, Form(max_length=20)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    with user_errors(request):
        conversation = _conversation(session, user, conversation_id)
        actions.do_reassign(
            session,
            conversation=conversation,
            assignee=_user(session, agent_id, "agent_id"),
            by=user,
        )
    return _after_supervising(request, conversation, next_url)


@pages.post(
    "/routing/conversations/{conversation_id}/move",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def move(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    conversation_id: int,
    queue_id: Annotated[str, Form(max_length=20)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    with user_errors(request):
        conversation = _conversation(session, user, conversation_id)
        queue = session.get(Queue, int(queue_id)) if queue_id.isdigit() else None
        if queue is None:
            raise InvalidInput("choose a queue", field="queue_id")
        actions.do_move_conversation(session, conversation=conversation, queue=queue, by=user)
    return _after_supervising(request, conversation, next_url)


# ----------------------------------------------------------------------------- JSON


class PresenceIn(BaseModel):
    presence: Presence
    reason_id: int | None = None


class OfferOut(BaseModel):
    offer_id: int
    conversation_id: int
    number: int
    subject: str
    queue_id: int | None
    expires_at: datetime
    offered_at: datetime | None = None
    customer: str = ""
    channel_kind: str | None = None
    queue: str | None = None
    waiting_since: datetime | None = None


class AgentOut(BaseModel):
    user_id: int
    name: str
    presence: str
    reason: str | None
    since: datetime
    load: dict[str, int]
    limits: dict[str, int]
    offers: int


class MeOut(BaseModel):
    agent: AgentOut | None
    offers: list[OfferOut]


class QueueOut(BaseModel):
    queue_id: int
    name: str
    priority: int
    mode: str
    waiting: int
    offered: int
    longest_wait_seconds: int | None
    agents_available: int


class LiveOut(BaseModel):
    queues: list[QueueOut]
    agents: list[AgentOut]


def _me(session: SessionDep, user: User) -> MeOut:
    lines = service.agent_overview(session, user_ids=[user.id])
    return MeOut(
        agent=AgentOut(**vars(lines[0])) if lines else None,
        offers=[
            OfferOut(
                offer_id=o.offer_id,
                conversation_id=o.conversation_id,
                number=o.number,
                subject=o.subject,
                queue_id=o.queue_id,
                expires_at=o.expires_at,
                offered_at=o.offered_at,
                customer=o.customer,
                channel_kind=o.channel_kind,
                queue=o.queue,
                waiting_since=o.waiting_since,
            )
            for o in offer_cards(session, user.id)
        ],
    )


@api.get("/me", response_model=MeOut)
def api_me(session: SessionDep, caller: ApiCallerDep) -> MeOut:
    """The caller's presence, load against capacity and live offers."""
    caller.require("read")
    return _me(session, caller.user)


@api.post("/presence", response_model=MeOut)
def api_presence(body: PresenceIn, session: SessionDep, caller: ApiCallerDep) -> MeOut:
    """Set the caller's presence (available, busy, break with a reason, away, offline)."""
    caller.require("write")
    presence.do_set_presence(
        session, user=caller.user, presence=body.presence, reason_id=body.reason_id
    )
    session.flush()
    return _me(session, caller.user)


@api.post("/offers/{offer_id}/accept", response_model=MeOut)
def api_accept(offer_id: int, session: SessionDep, caller: ApiCallerDep) -> MeOut:
    caller.require("write")
    actions.do_accept_offer(session, offer_id=offer_id, user=caller.user)
    session.flush()
    return _me(session, caller.user)


@api.post("/offers/{offer_id}/decline", response_model=MeOut)
def api_decline(offer_id: int, session: SessionDep, caller: ApiCallerDep) -> MeOut:
    caller.require("write")
    actions.do_decline_offer(session, offer_id=offer_id, user=caller.user)
    session.flush()
    return _me(session, caller.user)


@api.get("/live", response_model=LiveOut)
def api_live(session: SessionDep, caller: ApiCallerDep) -> LiveOut:
    """Supervisors: every queue (waiting, longest wait, agents available) and every agent."""
    caller.require("read")
    access.require_supervisor(caller.user)
    return LiveOut(
        queues=[QueueOut(**vars(q)) for q in service.queue_overview(session)],
        agents=[AgentOut(**vars(a)) for a in service.agent_overview(session)],
    )


@api.get("/sla/{conversation_id}")
def api_sla(conversation_id: int, session: SessionDep, caller: ApiCallerDep) -> dict[str, Any]:
    """The most urgent running SLA clock of a conversation (ok, warning, breached)."""
    caller.require("read")
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    status = sla.status_for(session, [conversation.id]).get(conversation.id)
    if status is None:
        raise NotFound("no running SLA clock")
    return {k: v for k, v in status.items() if k != "rank"}


router = APIRouter()
router.include_router(pages)
router.include_router(api)
