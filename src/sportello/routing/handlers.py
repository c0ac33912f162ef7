"""Routing's event handlers and jobs: a routing run for every event that can change who gets
what (new conversation or message, agent freed, presence change, offer declined or expired,
configuration change), the offer timeout job and the periodic sweep (``ensure_sweep`` is listed
in ``wiring.PERIODIC``). Browsers never trigger a run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from sportello.conversations.models import (
    Status,
)
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe, subscribe_batch
from sportello.routing import presence, sla
from sportello.routing.actions import (
    RouteStats,
    _withdraw_offer,
    expire_offer,
    expire_overdue_offers,
    route,
)
from sportello.routing.models import (
    Offer,
)

SWEEP_EVERY: Final = timedelta(seconds=15)


def _offer_timeout_job(db: Database, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        expire_offer(session, offer_id=int(payload["offer_id"]))


jobs.register_job("routing.offer_timeout", jobs.JobKind(run=_offer_timeout_job, base_delay=2.0))


def _route_safely(db: Database, **kwargs: Any) -> None:
    route(db, **kwargs)


@subscribe_batch("conversation.created", "message.received")
def on_new_work(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """One routing run for every queue that got unassigned work in this round (a busy chat
    queue gets hundreds of messages a second; one run places them all)."""
    queue_ids: set[int] = set()
    for name, payload in batch:
        if payload.get("assignee_id") is not None or payload.get("queue_id") is None:
            continue
        if name == "message.received" and payload.get("direction") != "inbound":
            continue
        queue_ids.add(int(payload["queue_id"]))
    if queue_ids:
        _route_safely(db, queue_ids=sorted(queue_ids))


@subscribe("conversation.assigned")
def on_assigned(db: Database, _name: str, payload: dict[str, Any]) -> None:
    conversation_id = int(payload["conversation_id"])
    assignee = payload.get("assignee_id")
    if assignee is not None:
        # Assigned by hand while offered to someone else: withdraw that offer.
        with db.transaction() as session:
            session.execute(
                delete(Offer).where(
                    Offer.conversation_id == conversation_id, Offer.user_id != assignee
                )
            )
    previous = payload.get("previous_assignee_id")
    if previous is not None:
        _route_safely(db, agent_ids=[int(previous)])
    if assignee is None and payload.get("queue_id") is not None:
        _route_safely(db, queue_ids=[int(payload["queue_id"])])


@subscribe("conversation.updated")
def on_updated(db: Database, _name: str, payload: dict[str, Any]) -> None:
    changes = payload.get("changes") or {}
    status = payload.get("status")
    assignee = payload.get("assignee_id")
    finished = "status" in changes and status in (Status.RESOLVED.value, Status.CLOSED.value)
    if finished:
        with db.transaction() as session:
            _withdraw_offer(session, int(payload["conversation_id"]))
        if assignee is not None:
            _route_safely(db, agent_ids=[int(assignee)])
    requeued = "queue_id" in changes or (
        "status" in changes and status in (Status.NEW.value, Status.OPEN.value)
    )
    if requeued and assignee is None and payload.get("queue_id") is not None:
        _route_safely(db, queue_ids=[int(payload["queue_id"])])


@subscribe("agent.presence_changed")
def on_presence(db: Database, _name: str, payload: dict[str, Any]) -> None:
    if payload.get("presence") == presence.Presence.AVAILABLE.value:
        _route_safely(db, agent_ids=[int(payload["user_id"])])


@subscribe("routing.offer_declined", "routing.offer_expired", "routing.supervised")
def on_offer_returned(db: Database, _name: str, payload: dict[str, Any]) -> None:
    if payload.get("queue_id") is not None:
        _route_safely(db, queue_ids=[int(payload["queue_id"])])
    if _name == "routing.offer_declined":  # the capacity the offer held is free again
        _route_safely(db, agent_ids=[int(payload["user_id"])])


@subscribe("routing.requested")
def on_requested(db: Database, _name: str, payload: dict[str, Any]) -> None:
    _route_safely(db, queue_ids=[int(q) for q in payload.get("queue_ids", [])])


# ----------------------------------------------------------------------------- sweep


def sweep(db: Database, *, now: datetime | None = None) -> RouteStats:
    """The periodic safety net: expire overdue offers, auto-away idle agents, route everything."""
    now = now or utcnow()
    expire_overdue_offers(db, now=now)
    presence.sweep_inactive(db, now=now)
    return route(db, now=now)


def _sweep_key(at: datetime) -> str:
    return f"routing.sweep:{int(at.timestamp() // SWEEP_EVERY.total_seconds())}"


def ensure_sweep(db: Database, *, at: datetime | None = None) -> None:
    """Schedule the next sweep (idempotent: one job a period, whoever asks)."""
    at = at or utcnow()
    try:
        with db.transaction() as session:
            jobs.enqueue(
                session, "routing.sweep", {}, run_at=at, unique_key=_sweep_key(at), max_attempts=3
            )
    except IntegrityError:
        pass  # another process scheduled it first


def _sweep_job(db: Database, _payload: dict[str, Any]) -> None:
    try:
        sweep(db)
        sla.sweep(db)
    finally:
        ensure_sweep(db, at=utcnow() + SWEEP_EVERY)


jobs.register_job("routing.sweep", jobs.JobKind(run=_sweep_job, base_delay=5.0))
