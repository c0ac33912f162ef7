"""Routing's events: offers made, accepted, declined or expired, and supervisors' moves."""

from __future__ import annotations

from datetime import datetime

from sportello.core.events import EventPayload, register_event


class OfferEvent(EventPayload):
    offer_id: int
    conversation_id: int
    number: int | None
    user_id: int
    queue_id: int | None
    expires_at: datetime | None


class ConversationRouted(EventPayload):
    conversation_id: int
    queue_id: int | None
    from_queue_id: int | None
    assignee_id: int | None
    pinned_user_id: int | None
    by_user_id: int | None
    action: str


register_event("routing.offered", OfferEvent)
register_event("routing.offer_accepted", OfferEvent)
register_event("routing.offer_declined", OfferEvent)
register_event("routing.offer_expired", OfferEvent)
register_event("routing.supervised", ConversationRouted)
