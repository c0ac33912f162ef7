"""Event registry and emit().

Every event is declared here once, with a Pydantic payload. Only actions call ``emit``; it writes an
outbox row in the caller's transaction, so nothing is announced that was not committed and nothing
committed is left unannounced. The dispatcher (core/dispatcher.py) delivers events to handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session

from sportello.core.db import utcnow
from sportello.core.outbox import OutboxEvent
from sportello.core.prepared import Prepared


class EventPayload(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


class ConversationRef(EventPayload):
    conversation_id: int
    number: int
    queue_id: int | None
    assignee_id: int | None
    status: str
    priority: str


class ConversationCreated(ConversationRef):
    customer_id: int
    channel_id: int | None


class ConversationUpdated(ConversationRef):
    changes: dict[str, Any]
    by_user_id: int | None


class ConversationAssigned(ConversationRef):
    previous_assignee_id: int | None
    by_user_id: int | None


class MessageEvent(EventPayload):
    message_id: int
    conversation_id: int
    queue_id: int | None
    assignee_id: int | None
    direction: str
    channel_id: int | None


class MessageDeliveryUpdated(EventPayload):
    message_id: int
    conversation_id: int
    queue_id: int | None
    assignee_id: int | None
    delivery_state: str
    error: str | None


class CustomerMerged(EventPayload):
    source_id: int
    target_id: int
    by_user_id: int | None


class CustomerCreated(EventPayload):
    customer_id: int


EVENTS: dict[str, type[EventPayload]] = {
    "conversation.created": ConversationCreated,
    "conversation.updated": ConversationUpdated,
    "conversation.assigned": ConversationAssigned,
    "message.received": MessageEvent,
    "message.created": MessageEvent,
    "message.outbound_queued": MessageEvent,
    "message.delivery_updated": MessageDeliveryUpdated,
    "customer.created": CustomerCreated,
    "customer.merged": CustomerMerged,
}


class UnknownEvent(KeyError):
    pass


def register_event(name: str, payload: type[EventPayload]) -> None:
    """Plug-ins (channels, routing) declare their own events through here."""
    if name in EVENTS and EVENTS[name] is not payload:
        raise ValueError(f"event {name!r} already registered")
    EVENTS[name] = payload


_OUTBOX_INSERT = Prepared(insert(OutboxEvent))
# Set in a session's info to write history that must not be announced (the demo loader):
# routing, the live consoles and outgoing webhooks must not react to weeks-old messages.
SILENCE_EVENTS = "silence_events"


def emit(session: Session, name: str, payload: EventPayload) -> None:
    """Write the event's outbox row now, in the caller's transaction (a Core insert: no unit
    of work, so it is cheap on the hot paths)."""
    schema = EVENTS.get(name)
    if schema is None:
        raise UnknownEvent(name)
    if not isinstance(payload, schema):
        raise TypeError(f"event {name!r} takes {schema.__name__}, not {type(payload).__name__}")
    if session.info.get(SILENCE_EVENTS):
        return
    _OUTBOX_INSERT.execute(
        session,
        name=name,
        payload=payload.model_dump(mode="json"),
        created_at=utcnow(),
        attempts=0,
    )
    session.info["outbox_pending"] = True


#: From this many rows, ``emit_many`` writes through PostgreSQL's ``COPY`` (about 2.5x the rows/s
#: of a multi-row insert; below it the statement set-up costs more than it saves).
COPY_THRESHOLD = 20


def emit_many(session: Session, name: str, payloads: Sequence[EventPayload]) -> None:
    """``emit`` for a batch of events of one kind, in the caller's transaction: one multi-row
    insert, or on PostgreSQL for a large batch a ``COPY`` into the outbox on the session's own
    connection. The one outbox writer: nothing else writes outbox rows."""
    schema = EVENTS.get(name)
    if schema is None:
        raise UnknownEvent(name)
    for payload in payloads:
        if not isinstance(payload, schema):
            raise TypeError(f"event {name!r} takes {schema.__name__}, not {type(payload).__name__}")
    if not payloads or session.info.get(SILENCE_EVENTS):
        return
    now = utcnow()
    bind = session.connection()
    if bind.dialect.name == "postgresql" and len(payloads) >= COPY_THRESHOLD:
        raw = bind.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY outbox_event (name, payload, created_at, attempts) FROM STDIN"
            ) as copy,
        ):
            for payload in payloads:
                copy.write_row((name, payload.model_dump_json(), now, 0))
    else:
        session.execute(
            insert(OutboxEvent),
            [
                {
                    "name": name,
                    "payload": payload.model_dump(mode="json"),
                    "created_at": now,
                    "attempts": 0,
                }
                for payload in payloads
            ],
        )
    session.info["outbox_pending"] = True


_commit_listeners: list[Callable[[], None]] = []


def on_outbox_commit(callback: Callable[[], None]) -> None:
    """Called after any commit that wrote outbox rows (wakes the in-process dispatcher)."""
    _commit_listeners.append(callback)


def remove_outbox_listener(callback: Callable[[], None]) -> None:
    if callback in _commit_listeners:
        _commit_listeners.remove(callback)


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("outbox_pending", False):
        for callback in list(_commit_listeners):
            callback()


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("outbox_pending", None)
