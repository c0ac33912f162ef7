"""The campaigns' wiring: the durable sending job of a message campaign (at the campaign's rate,
held when the provider says slow down or fails for a while, resumed after), and the customers'
replies (counted on the campaign; STOP puts them on the do-not-contact list at once).

Importing this module registers them (pages.py imports it for ``serve``; the worker imports it).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sportello.campaigns import actions
from sportello.campaigns.models import Campaign, CampaignContact, CampaignStatus
from sportello.channels import service as channels_service
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe

log = logging.getLogger(__name__)


def send_round(db: Database, payload: dict[str, Any]) -> None:
    """One round of a message campaign: claim what the rate allows, send one message at a
    time, stop at the first temporary error (the provider's rate limit is one) and hold the
    campaign; then schedule the next round."""
    campaign_id = int(payload["campaign_id"])
    now = utcnow()
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            return
        if campaign.held_until is not None and campaign.held_until > now:
            actions._schedule_send(session, campaign, campaign.held_until)
            return
        message_ids, left = actions.prepare_batch(session, campaign, now)
        rate = campaign.rate_per_minute
    held: str | None = None
    for message_id in message_ids:
        failed = channels_service.deliver_messages(db, [message_id])
        if not failed:
            with db.transaction() as session:
                actions.after_sent(session, message_id=message_id, now=utcnow())
            continue
        error = failed[0][1]
        if getattr(error, "permanent", False):
            with db.transaction() as session:
                actions.after_failed(session, message_id=message_id, error=str(error), now=utcnow())
            continue
        held = str(error) or type(error).__name__
        break
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            return
        now = utcnow()
        if held is not None:
            actions.do_hold(session, campaign=campaign, reason=held, now=now)
            assert campaign.held_until is not None
            actions._schedule_send(session, campaign, campaign.held_until)
            return
        campaign.held_until = None
        campaign.held_reason = None
        if not left:
            campaign.status = CampaignStatus.FINISHED
            campaign.finished_at = now
            return
        tick = timedelta(seconds=60 * actions.batch_size(rate) / max(rate, 1))
        actions._schedule_send(session, campaign, now + tick)


jobs.register_job(actions.SEND_JOB, jobs.JobKind(run=send_round, base_delay=10.0, max_delay=900))


@subscribe("message.received")
def customer_replied(db: Database, name: str, payload: dict[str, Any]) -> None:
    """A reply in a campaign's conversation is counted; STOP (or ARRESTA...) on any channel is an
    opt-out, honoured at once for every campaign of the brand."""
    if payload.get("direction") != Direction.INBOUND.value:
        return
    with db.transaction() as session:
        message = session.get(Message, int(payload["message_id"]))
        conversation = session.get(Conversation, int(payload["conversation_id"]))
        if message is None or conversation is None:
            return
        now = utcnow()
        actions.do_note_reply(session, conversation_id=conversation.id, now=now)
        if actions.is_opt_out_text(message.text or ""):
            actions.do_opt_out_customer(
                session,
                customer_id=conversation.customer_id,
                brand_id=conversation.brand_id,
                source="stop",
                channel=conversation.channel.kind if conversation.channel else None,
            )


@subscribe("customer.merged")
def customer_merged(db: Database, name: str, payload: dict[str, Any]) -> None:
    from sqlalchemy import update

    with db.transaction() as session:
        session.execute(
            update(CampaignContact)
            .where(CampaignContact.customer_id == int(payload["source_id"]))
            .values(customer_id=int(payload["target_id"]))
        )
