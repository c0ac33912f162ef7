"""The demo shop's language tools: triage trained on Casa Lavanda's history (its tags), every
customer message's sentiment and language, frustrated customers' conversations raised, and
language tags for routing. Agent assist stays off (it needs a model server)."""

from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from sportello.accounts.models import Brand
from sportello.conversations.models import Conversation, Direction, Message, Priority
from sportello.core.db import Database, utcnow
from sportello.core.errors import InvalidInput
from sportello.core.events import SILENCE_EVENTS
from sportello.nlp import actions
from sportello.nlp.models import IntentModel, TriageField, TriageMode
from sportello.nlp.schemas import NlpSettingsData

BATCH = 500
Earlier = aliased(Message)


def load(db: Database, *, now: datetime, seed: int) -> None:
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(IntentModel.id).limit(1)) is not None:
            return  # no brand, or loaded already
        actions.do_save_settings(
            session,
            brand_id=brand.id,
            data=NlpSettingsData(
                triage_field=TriageField.TAGS,
                triage_mode=TriageMode.SUGGEST,
                triage_threshold=0.5,
                raise_enabled=True,
                raise_to=Priority.HIGH,
                language_tags=True,
            ),
            now=now,
        )
        # A demo without tagged history: triage waits for the nightly run.
        with contextlib.suppress(InvalidInput):
            actions.do_train_intents(session, brand_id=brand.id, now=now)
        ids = list(
            session.scalars(
                select(Message.id)
                .where(Message.direction == Direction.INBOUND)
                .order_by(Message.id)
            )
        )
    cutoff = utcnow()
    for start in range(0, len(ids), BATCH):
        with db.transaction() as session:
            session.info[SILENCE_EVENTS] = True
            actions.do_analyse_messages(session, message_ids=ids[start : start + BATCH], now=now)
            session.flush()
            _redate(session, cutoff)


def _redate(session: Session, cutoff: datetime) -> None:
    """What the analysis changed (a raised priority, a language tag: their timeline lines, the
    conversation's ``updated_at``) is dated at the conversation's last message, not at the
    moment the demo loads, so the history stays history."""
    last_inbound = (  # the conversation's last row of its history (the timeline is by id)
        select(func.max(Earlier.created_at))
        .where(Earlier.conversation_id == Message.conversation_id, Earlier.created_at < cutoff)
        .scalar_subquery()
    )
    session.execute(
        update(Message)
        .where(Message.direction == Direction.SYSTEM, Message.created_at >= cutoff)
        .values(created_at=last_inbound, updated_at=last_inbound)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Conversation)
        .where(Conversation.updated_at >= cutoff)
        .values(updated_at=Conversation.last_message_at)
        .execution_options(synchronize_session=False)
    )
