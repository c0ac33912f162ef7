"""Demo data for the reports: settings that suit Casa Lavanda, survey answers when no surveys
package is installed (so the CSAT/NPS charts are not empty), and the aggregates rebuilt over the
demo's history (its loaders write rows with events silenced, so nothing was kept current): in
``load`` for the demos after it that read the facts (quality's sampling), and again in
``after_all``, once every domain demo ran (the phone calls of the voice demo, conversations of
later demos)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from sportello.accounts.models import Brand
from sportello.conversations.models import Conversation
from sportello.core import events
from sportello.core.db import Database
from sportello.reports import actions

#: Response ids of the answers made here (far above any real survey response id).
DEMO_RESPONSE_BASE = 900_000_000


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed + 13)
    with db.transaction() as session:
        brand_id = session.scalar(select(Brand.id).order_by(Brand.id).limit(1))
        if brand_id is None:
            return
        actions.do_update_settings(
            session,
            brand_id=brand_id,
            values={"sl_seconds": 3600, "short_abandon_seconds": 10, "fcr_days": 7},
            by=None,  # the installer, not a person
        )
        if "survey.answered" not in events.EVENTS:
            answers = _survey_answers(session, rng, now)
        else:
            # The surveys demo writes its answers with events silenced: count them here, as
            # the survey.answered handler would have.
            answers = _answered_surveys(session)
        actions.do_record_survey_answers(session, answers=answers)
    actions.do_rebuild_in_chunks(db)


def after_all(db: Database, *, now: datetime, seed: int) -> None:
    """Every domain demo ran: the aggregates over all of their history."""
    actions.do_rebuild_in_chunks(db)


def _answered_surveys(session: Any) -> list[dict[str, Any]]:
    from sportello.surveys.models import SurveyResponse  # demo glue: only when installed

    rows = session.scalars(select(SurveyResponse).where(SurveyResponse.score.is_not(None)))
    return [
        {
            "response_id": r.id,
            "survey_kind": getattr(r.kind, "value", r.kind),
            "score": r.score,
            "conversation_id": r.conversation_id,
            "customer_id": r.customer_id,
            "agent_id": r.agent_id,
            "queue_id": r.queue_id,
            "channel_id": r.channel_id,
            "brand_id": r.brand_id,
            "answered_at": r.answered_at,
        }
        for r in rows
    ]


def _survey_answers(session: Any, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """About a third of the resolved conversations get a CSAT answer, one in six an NPS one, one
    in ten a CES one: mostly happy customers, as a well-run shop has."""
    rows = session.execute(
        select(
            Conversation.id,
            Conversation.customer_id,
            Conversation.assignee_id,
            Conversation.queue_id,
            Conversation.channel_id,
            Conversation.brand_id,
            Conversation.resolved_at,
        ).where(Conversation.resolved_at.is_not(None))
    ).all()
    out: list[dict[str, Any]] = []
    for r in rows:
        answered = min(r.resolved_at + timedelta(hours=rng.uniform(0.2, 30)), now)
        base = {
            "conversation_id": r.id,
            "customer_id": r.customer_id,
            "agent_id": r.assignee_id,
            "queue_id": r.queue_id,
            "channel_id": r.channel_id,
            "brand_id": r.brand_id,
            "answered_at": answered,
        }
        draw = rng.random()
        if draw < 0.33:
            score = rng.choices([1, 2, 3, 4, 5], weights=[3, 4, 10, 33, 50])[0]
            out.append(
                {
                    **base,
                    "response_id": DEMO_RESPONSE_BASE + r.id,
                    "survey_kind": "csat",
                    "score": score,
                }
            )
        elif draw < 0.5:
            score = rng.choices(range(11), weights=[1, 1, 1, 2, 2, 3, 4, 8, 18, 28, 32])[0]
            out.append(
                {
                    **base,
                    "response_id": DEMO_RESPONSE_BASE + r.id,
                    "survey_kind": "nps",
                    "score": score,
                }
            )
        elif draw < 0.6:
            score = rng.choices(range(1, 8), weights=[1, 2, 4, 8, 18, 30, 37])[0]
            out.append(
                {
                    **base,
                    "response_id": DEMO_RESPONSE_BASE + r.id,
                    "survey_kind": "ces",
                    "score": score,
                }
            )
    return out
