"""The quality events (registered on import; actions.py imports this module). The front line's
notifications may listen to them: an agent told of a new review, a reviewer of a dispute."""

from __future__ import annotations

from sportello.core.events import EventPayload, register_event


class ReviewChanged(EventPayload):
    review_id: int
    conversation_id: int
    agent_id: int | None
    reviewer_id: int | None
    status: str
    score: float | None
    dispute_status: str


class CalibrationRevealed(EventPayload):
    calibration_id: int
    reviewer_ids: list[int]


register_event("quality.review_assigned", ReviewChanged)
register_event("quality.review_completed", ReviewChanged)
register_event("quality.review_acknowledged", ReviewChanged)
register_event("quality.review_disputed", ReviewChanged)
register_event("quality.dispute_answered", ReviewChanged)
register_event("quality.calibration_revealed", CalibrationRevealed)
