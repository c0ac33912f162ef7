"""Helpers shared by the survey tests: set up through the real actions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select

from sportello.accounts.models import User
from sportello.channels.base import InboundMessage
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Message, Status
from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from sportello.surveys import actions
from sportello.surveys.models import SurveyFollowup, SurveyResponse
from sportello.surveys.schemas import SurveyConfigData
from tests.factories import receive


def configure(db: Database, personas: Any, **fields: Any) -> int:
    data = {"name": "Soddisfazione", "kind": "csat", "delay_minutes": 0, **fields}
    with db.transaction() as s:
        config = actions.do_save_config(
            s, brand_id=personas.brand_id, data=SurveyConfigData(**data)
        )
        return config.id


def conversation_from(db: Database, channel: Channel, inbound: InboundMessage) -> int:
    result = receive(db, channel, inbound)
    return int(result.conversation.id)


def resolve(db: Database, conversation_id: int, by: User) -> None:
    with db.transaction() as s:
        conversation = s.get(Conversation, conversation_id)
        assert conversation is not None
        agent = s.get(User, by.id)
        conversation_actions_reply(s, conversation, agent)
        conversations_actions.do_change_status(
            s, conversation=conversation, status=Status.RESOLVED, by=agent
        )


def conversation_actions_reply(s: Any, conversation: Conversation, agent: Any) -> None:
    """An agent's answer first, as in real life (it also assigns the conversation)."""
    conversations_actions.do_send_reply(
        s, conversation=conversation, author=agent, text="Ecco la soluzione, buona giornata!"
    )


def drain(db: Database) -> None:
    Dispatcher(db, name="test").drain()


def responses(db: Database) -> list[SurveyResponse]:
    with db.session() as s:
        found = list(s.scalars(select(SurveyResponse).order_by(SurveyResponse.id)))
        s.expunge_all()
        return found


def followups(db: Database) -> list[SurveyFollowup]:
    with db.session() as s:
        found = list(s.scalars(select(SurveyFollowup).order_by(SurveyFollowup.id)))
        s.expunge_all()
        return found


def survey_message(db: Database, response_id: int) -> Message:
    with db.session() as s:
        response = s.get(SurveyResponse, response_id)
        assert response is not None and response.message_id is not None
        message = s.get(Message, response.message_id)
        assert message is not None
        s.expunge_all()
        return message


def link_in(text: str) -> str:
    match = re.search(r"https?://\S+/s/([A-Za-z0-9_.\-]+)(?=\s|$)", text)
    assert match, f"no survey link in {text!r}"
    return match.group(1)


def at(response: SurveyResponse) -> datetime:
    assert response.sent_at is not None
    return response.sent_at
