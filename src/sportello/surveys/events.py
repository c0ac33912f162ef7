"""The surveys' events, registered with core.events (see handlers.register)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sportello.core.events import EventPayload, register_event


class SurveyAnswered(EventPayload):
    """A customer answered a survey. The reports count CSAT, NPS and CES from this event:
    keep the names."""

    response_id: int
    survey_kind: Literal["csat", "nps", "ces"]
    score: int
    conversation_id: int
    customer_id: int
    agent_id: int | None
    queue_id: int | None
    channel_id: int | None
    brand_id: int
    answered_at: datetime


class FollowupChanged(EventPayload):
    followup_id: int
    response_id: int
    customer_id: int
    status: str
    assignee_id: int | None
    team_id: int | None


register_event("survey.answered", SurveyAnswered)
register_event("survey.followup_changed", FollowupChanged)
