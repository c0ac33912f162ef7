"""The surveys' wiring: a resolved conversation schedules its survey, a durable job sends it
when the delay is over, and a survey button tapped on a channel is taken as the answer.

Importing this module registers them (pages.py imports it for ``serve``; the worker imports it).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from sportello.channels import service as channels_service
from sportello.channels.base import InboundMessage
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Status
from sportello.core import jobs
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe
from sportello.customers.identities import matching_kinds, normalize_identity
from sportello.customers.models import CustomerIdentity
from sportello.surveys import actions
from sportello.surveys.models import SurveyResponse

log = logging.getLogger(__name__)


@subscribe("conversation.updated")
def conversation_resolved(db: Database, name: str, payload: dict[str, Any]) -> None:
    """Schedule the survey of a conversation that became resolved. Idempotent: one survey per
    resolution (the conversation's ``resolved_at``)."""
    change = (payload.get("changes") or {}).get("status")
    if not change or change[-1] != Status.RESOLVED.value:
        return
    with db.transaction() as session:
        conversation = session.get(Conversation, int(payload["conversation_id"]))
        if conversation is None or conversation.status != Status.RESOLVED:
            return
        resolved_at = conversation.resolved_at
        already = session.scalar(
            select(SurveyResponse.id).where(
                SurveyResponse.conversation_id == conversation.id,
                SurveyResponse.after_followup_id.is_(None),
                SurveyResponse.created_at >= resolved_at,
            )
            if resolved_at is not None
            else select(SurveyResponse.id).where(SurveyResponse.id.is_(None))
        )
        if already is None:
            actions.do_schedule_survey(session, conversation=conversation, now=resolved_at)


@subscribe("customer.merged")
def customer_merged(db: Database, name: str, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        actions.do_move_customer(
            session, source_id=int(payload["source_id"]), target_id=int(payload["target_id"])
        )


def send_survey(db: Database, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        response = session.get(SurveyResponse, int(payload["response_id"]))
        if response is not None:
            actions.do_send_survey(session, response=response)


jobs.register_job(actions.SEND_JOB, jobs.JobKind(run=send_survey, base_delay=30.0))


def survey_button(session: Any, channel: Channel, inbound: InboundMessage) -> bool:
    """A tapped survey button (``sv:<code>:<score>``) from the customer it was sent to."""
    try:
        kind, value = normalize_identity(inbound.identity.kind, inbound.identity.value)
    except Exception:
        return False
    customer_id = session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind.in_(matching_kinds(kind)), CustomerIdentity.value == value
        )
    )
    if customer_id is None:
        return False
    return actions.do_answer_by_choice(
        session, channel_id=channel.id, customer_id=customer_id, choice=inbound.meta["choice"]
    )


channels_service.on_choice(actions.CHOICE_PREFIX, survey_button)
