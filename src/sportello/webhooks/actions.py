"""Writes for outgoing webhooks: subscriptions, queueing deliveries, recording attempts, replay,
and the automatic disabling after repeated failures (with a ``webhook.disabled`` notice)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Role, User
from sportello.config import get_settings
from sportello.core import events, jobs
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.core.events import EventPayload, emit, register_event
from sportello.core.security import decrypt_secret, encrypt_secret, new_token
from sportello.webhooks import ssrf
from sportello.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

DELIVER_JOB = "webhooks.deliver"
MAX_ATTEMPTS = 8  # 1 + 7 retries, backoff 10 s, 20 s, 40 s ... (core.jobs.backoff), at most 1 h
ALL_EVENTS = "*"
# Internal plumbing nobody outside needs (and that would flood a receiver).
INTERNAL_PREFIXES = ("routing.", "message.outbound_queued", "message.delivery_updated", "webhook.")
# Declared by packages that may not be installed yet; offered once they register.
PREFERRED = (
    "conversation.created",
    "message.received",
    "message.created",
    "conversation.updated",
    "conversation.assigned",
    "survey.answered",
    "voice.call_changed",  # a call rang, was answered, held, ended (state, outcome)
    "sla.warning",
    "sla.breached",
    "customer.created",
    "customer.merged",
    "order.created",
    "order.cancelled",
    "handoff.changed",
)


class WebhookDisabled(EventPayload):
    subscription_id: int
    name: str
    reason: str
    failures: int


register_event("webhook.disabled", WebhookDisabled)


def subscribable_events() -> list[str]:
    """Every registered event a receiver may want, the common ones first."""
    known = [n for n in PREFERRED if n in events.EVENTS]
    rest = sorted(
        n for n in events.EVENTS if n not in known and not n.startswith(INTERNAL_PREFIXES)
    )
    return known + rest


def secret_of(subscription: WebhookSubscription) -> str:
    return decrypt_secret(subscription.secret, get_settings().effective_secret_key())


def check_subscription(
    *, name: str, url: str, event_names: Sequence[str], allow_private: bool, max_failures: int
) -> tuple[str, str, list[str]]:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("give the webhook a name", field="name")
    if len(name) > 200:
        raise InvalidInput("the name is too long", field="name")
    url = ssrf.check_url(url)
    ssrf.guard(url, allow_private=allow_private)
    allowed = set(subscribable_events()) | {ALL_EVENTS}
    chosen = list(dict.fromkeys(n.strip() for n in event_names if n.strip()))
    if not chosen:
        raise InvalidInput("choose at least one event", field="events")
    unknown = [n for n in chosen if n not in allowed]
    if unknown:
        raise InvalidInput("unknown event", field="events")
    if not 1 <= max_failures <= 1000:
        raise InvalidInput("between 1 and 1000 failures", field="max_failures")
    return name, url, chosen


def do_create_subscription(
    session: Session,
    *,
    brand_id: int,
    name: str,
    url: str,
    event_names: Sequence[str],
    allow_private: bool = False,
    max_failures: int = 10,
    is_active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """The new subscription and its signing secret in clear (shown once, stored encrypted)."""
    name, url, chosen = check_subscription(
        name=name,
        url=url,
        event_names=event_names,
        allow_private=allow_private,
        max_failures=max_failures,
    )
    secret = new_token("whsec_")
    subscription = WebhookSubscription(
        brand_id=brand_id,
        name=name,
        url=url,
        events=chosen,
        secret=encrypt_secret(secret, get_settings().effective_secret_key()),
        allow_private=allow_private,
        max_failures=max_failures,
        is_active=is_active,
    )
    if not is_active:
        subscription.disabled_reason = "disabled by an administrator"
        subscription.disabled_at = utcnow()
    session.add(subscription)
    session.flush()
    return subscription, secret


def do_update_subscription(
    session: Session,
    *,
    subscription: WebhookSubscription,
    name: str,
    url: str,
    event_names: Sequence[str],
    allow_private: bool,
    max_failures: int,
    is_active: bool,
) -> WebhookSubscription:
    name, url, chosen = check_subscription(
        name=name,
        url=url,
        event_names=event_names,
        allow_private=allow_private,
        max_failures=max_failures,
    )
    subscription.name = name
    subscription.url = url
    subscription.events = chosen
    subscription.allow_private = allow_private
    subscription.max_failures = max_failures
    if is_active and not subscription.is_active:
        subscription.consecutive_failures = 0
        subscription.disabled_reason = None
        subscription.disabled_at = None
    elif not is_active and subscription.is_active:
        subscription.disabled_reason = "disabled by an administrator"
        subscription.disabled_at = utcnow()
    subscription.is_active = is_active
    subscription.updated_at = utcnow()
    return subscription


def do_rotate_secret(session: Session, *, subscription: WebhookSubscription) -> str:
    secret = new_token("whsec_")
    subscription.secret = encrypt_secret(secret, get_settings().effective_secret_key())
    subscription.updated_at = utcnow()
    return secret


def do_delete_subscription(session: Session, *, subscription: WebhookSubscription) -> None:
    session.delete(subscription)


def _wants(subscription: WebhookSubscription, name: str) -> bool:
    return ALL_EVENTS in subscription.events or name in subscription.events


def do_queue_events(
    session: Session, *, batch: Iterable[tuple[str, dict[str, Any]]], at: datetime | None = None
) -> list[WebhookDelivery]:
    """One delivery (and one durable job) per active subscription that wants each event."""
    subscriptions = list(
        session.scalars(select(WebhookSubscription).where(WebhookSubscription.is_active))
    )
    if not subscriptions:
        return []
    at = at or utcnow()
    made: list[WebhookDelivery] = []
    for name, payload in batch:
        for subscription in subscriptions:
            if _wants(subscription, name):
                made.append(
                    WebhookDelivery(
                        subscription_id=subscription.id,
                        event_name=name,
                        event_id=f"evt_{uuid.uuid4().hex}",
                        payload=payload,
                        created_at=at,
                    )
                )
    if made:
        session.add_all(made)
        session.flush()
        for delivery in made:
            _enqueue(session, delivery)
    return made


def _enqueue(session: Session, delivery: WebhookDelivery) -> None:
    jobs.enqueue(
        session,
        DELIVER_JOB,
        {"delivery_id": delivery.id},
        unique_key=f"{DELIVER_JOB}:{delivery.id}",
        max_attempts=MAX_ATTEMPTS,
    )


def do_send_to(
    session: Session, *, subscription: WebhookSubscription, name: str, payload: dict[str, Any]
) -> WebhookDelivery:
    """Deliver one event to one subscription (a rule's "call a webhook", a test ping)."""
    delivery = WebhookDelivery(
        subscription_id=subscription.id,
        event_name=name,
        event_id=f"evt_{uuid.uuid4().hex}",
        payload=payload,
    )
    session.add(delivery)
    session.flush()
    _enqueue(session, delivery)
    return delivery


def do_replay(session: Session, *, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a logged event again, as a new delivery with the same event id (receivers dedupe)."""
    copy = WebhookDelivery(
        subscription_id=delivery.subscription_id,
        event_name=delivery.event_name,
        event_id=delivery.event_id,
        payload=delivery.payload,
        replay_of_id=delivery.id,
    )
    session.add(copy)
    session.flush()
    _enqueue(session, copy)
    return copy


def do_record_attempt(
    session: Session,
    *,
    delivery: WebhookDelivery,
    ok: bool,
    response_code: int | None,
    latency_ms: int | None,
    error: str | None,
    body: str | None,
) -> None:
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = response_code
    delivery.latency_ms = latency_ms
    delivery.error = error[:2000] if error else None
    delivery.response_body = body[:1000] if body else None
    if ok:
        delivery.status = DeliveryStatus.SUCCEEDED.value
        delivery.delivered_at = now
        subscription = session.get(WebhookSubscription, delivery.subscription_id)
        if subscription is not None:
            subscription.consecutive_failures = 0
    else:
        delivery.status = DeliveryStatus.RETRYING.value


def do_fail_delivery(session: Session, *, delivery: WebhookDelivery, error: str) -> None:
    """A delivery that used up its retries: count it, and disable the subscription after
    ``max_failures`` such deliveries in a row (emitting ``webhook.disabled`` for the consoles)."""
    delivery.status = DeliveryStatus.FAILED.value
    delivery.error = error[:2000]
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    if subscription is None:
        return
    subscription.consecutive_failures += 1
    if subscription.is_active and subscription.consecutive_failures >= subscription.max_failures:
        subscription.is_active = False
        subscription.disabled_at = utcnow()
        subscription.disabled_reason = (
            f"disabled after {subscription.consecutive_failures} failed deliveries in a row"
        )
        emit(
            session,
            "webhook.disabled",
            WebhookDisabled(
                subscription_id=subscription.id,
                name=subscription.name,
                reason=subscription.disabled_reason,
                failures=subscription.consecutive_failures,
            ),
        )
        _tell_admins(session, subscription)


def _tell_admins(session: Session, subscription: WebhookSubscription) -> None:
    """A line in every administrator's bell (e-mailed to those not in the console): deliveries
    to this address have stopped until somebody switches it back on."""
    from sportello.frontline import notify

    admins = session.scalars(
        select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True))
    ).all()
    for admin_id in admins:
        title = notify.in_language(
            session,
            admin_id,
            "Webhook “%(name)s” switched off after %(num)s failed deliveries in a row",
            name=subscription.name,
            num=subscription.consecutive_failures,
        )
        notify.notify(
            session, admin_id, "webhook_disabled", title, f"/admin/webhooks?edit={subscription.id}"
        )


def do_skip_delivery(session: Session, *, delivery: WebhookDelivery, reason: str) -> None:
    delivery.status = DeliveryStatus.SKIPPED.value
    delivery.error = reason
