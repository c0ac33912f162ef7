"""Routing in the console: the agent's state, offers and load; the supervisors' live view.

HTML/htmx routes under ``/routing``, JSON under ``/api/v1/routing``. Views are thin: they parse,
check access and call one action from presence.py / router.py. Live: the panels carry
``data-live-url``, which the console's socket refreshes on conversation events; routing.js also
refreshes them on routing events and ticks the offer countdowns. Importing this module registers
the routing handlers and jobs (router.py, sla.py); the app's lifespan schedules the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core import access
from sportello.core.db import Database, SessionDep, utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.routing import capacity, presence, sla
from sportello.routing import router as engine
from sportello.routing.models import Queue
from sportello.web.auth import ApiCallerDep, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import back_to, is_htmx
from sportello.web.render import render

__all__ = ["lifespan", "router"]

pages = APIRouter(dependencies=[CsrfChecked])
api = APIRouter(prefix="/api/v1/routing", tags=["routing"])


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Where this process dispatches, make sure the periodic routing / SLA sweep is scheduled."""
    if getattr(app.state, "dispatcher", None) is not None:
        db: Database = app.state.db
        await asyncio.to_thread(engine.ensure_sweep, db)
    yield


# ----------------------------------------------------------------------------- reads


def _agent_context(session: SessionDep, user: User) -> dict[str, Any]:
    state = presence.get_state(session, user.id)
    lines = engine.agent_overview(session, user_ids=[user.id])
    offers = engine.offers_for(session, user.id)
    return {
        "state": state,
        "presence_values": [p.value for p in presence.Presence],
        "reasons": presence.pause_reasons(session),
        "line": lines[0] if lines else None,
        "classes": capacity.CLASSES,
        "offers": offers,
        "now": utcnow(),
    }


def _live_context(session: SessionDep) -> dict[str, Any]:
    return {
        "queues": engine.queue_overview(session),
        "agents": engine.agent_overview(session),
        "classes": capacity.CLASSES,
        "now": utcnow(),
    }


# ----------------------------------------------------------------------------- agent (HTML)


@pages.get("/routing/agent", response_class=HTMLResponse, include_in_schema=False)
def agent_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "routing/agent.html", _agent_context(session, user))


@pages.get("/routing/agent/panel", response_class=HTMLResponse, include_in_schema=False)
def agent_panel(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "routing/_agent_panel.html", _agent_context(session, user))


@pages.post("/routing/presence", response_class=HTMLResponse, include_in_schema=False)
def set_presence(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    presence_value: Annotated[str, Form(alias="presence", max_length=20)],
    reason_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    reason = int(reason_id) if reason_id.isdigit() else None
    presence.do_set_presence(session, user=user, presence=presence_value, reason_id=reason)
    presence.record_activity(session, user_id=user.id)
    if is_htmx(request):
        session.flush()
        return render(request, "routing/_agent_panel.html", _agent_context(session, user))
    return back_to(request, "/routing/agent")


@pages.post(
    "/routing/offers/{offer_id}/accept", response_class=HTMLResponse, include_in_schema=False
)
def accept_offer(
    request: Request, session: SessionDep, user: CurrentUser, offer_id: int
) -> Response:
    conversation = engine.do_accept_offer(session, offer_id=offer_id, user=user)
    return back_to(request, f"/c/{conversation.number}")


@pages.post(
    "/routing/offers/{offer_id}/decline", response_class=HTMLResponse, include_in_schema=False
)
def decline_offer(
    request: Request, session: SessionDep, user: CurrentUser, offer_id: int
) -> Response:
    engine.do_decline_offer(session, offer_id=offer_id, user=user)
    if is_htmx(request):
        session.flush()
        return render(request, "routing/_agent_panel.html", _agent_context(session, user))
    return back_to(request, "/routing/agent")


# ----------------------------------------------------------------------------- supervisor (HTML)


@pages.get("/routing/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return render(request, "routing/live.html", _live_context(session))


@pages.get("/routing/live/panel", response_class=HTMLResponse, include_in_schema=False)
def live_panel(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return render(request, "routing/_live_panel.html", _live_context(session))


def _conversation(session: SessionDep, user: User, conversation_id: int) -> Conversation:
    return access.access_conversation_by_id(session, user, conversation_id)


def _user(session: SessionDep, raw: str, field: str) -> User | None:
    if not raw:
        return None
    found = session.get(User, int(raw)) if raw.isdigit() else None
    if found is None:
        raise InvalidInput("choose an agent", field=field)
    return found


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
) -> Response:
    conversation = _conversation(session, user, conversation_id)
    engine.do_pin(
        session, conversation=conversation, agent=_user(session, agent_id, "agent_id"), by=user
    )
    return back_to(request, f"/c/{conversation.number}")


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
) -> Response:
    conversation = _conversation(session, user, conversation_id)
    engine.do_reassign(
        session, conversation=conversation, assignee=_user(session, agent_id, "agent_id"), by=user
    )
    return back_to(request, f"/c/{conversation.number}")


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
    queue_id: Annotated[int, Form()],
) -> Response:
    conversation = _conversation(session, user, conversation_id)
    queue = session.get(Queue, queue_id)
    if queue is None:
        raise InvalidInput("choose a queue", field="queue_id")
    engine.do_move_conversation(session, conversation=conversation, queue=queue, by=user)
    return back_to(request, f"/c/{conversation.number}")


# ----------------------------------------------------------------------------- JSON


class PresenceIn(BaseModel):
    presence: str
    reason_id: int | None = None


class OfferOut(BaseModel):
    offer_id: int
    conversation_id: int
    number: int
    subject: str
    queue_id: int | None
    expires_at: datetime


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
    lines = engine.agent_overview(session, user_ids=[user.id])
    return MeOut(
        agent=AgentOut(**vars(lines[0])) if lines else None,
        offers=[
            OfferOut(
                offer_id=o.id,
                conversation_id=c.id,
                number=c.number,
                subject=c.subject,
                queue_id=o.queue_id,
                expires_at=o.expires_at,
            )
            for o, c in engine.offers_for(session, user.id)
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
    engine.do_accept_offer(session, offer_id=offer_id, user=caller.user)
    session.flush()
    return _me(session, caller.user)


@api.post("/offers/{offer_id}/decline", response_model=MeOut)
def api_decline(offer_id: int, session: SessionDep, caller: ApiCallerDep) -> MeOut:
    caller.require("write")
    engine.do_decline_offer(session, offer_id=offer_id, user=caller.user)
    session.flush()
    return _me(session, caller.user)


@api.get("/live", response_model=LiveOut)
def api_live(session: SessionDep, caller: ApiCallerDep) -> LiveOut:
    """Supervisors: every queue (waiting, longest wait, agents available) and every agent."""
    caller.require("read")
    access.require_supervisor(caller.user)
    return LiveOut(
        queues=[QueueOut(**vars(q)) for q in engine.queue_overview(session)],
        agents=[AgentOut(**vars(a)) for a in engine.agent_overview(session)],
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
