"""The surveys' demo loader: runs after the core demo, writes realistic history silently."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from sportello.core.db import utcnow
from sportello.core.jobs import Job
from sportello.core.outbox import OutboxEvent
from sportello.surveys import demo, service
from sportello.surveys.models import FollowupStatus, ResponseStatus, SurveyFollowup, SurveyResponse
from tests.demo_snapshot import load_demo


def test_demo_surveys_answers_and_follow_ups(db):
    load_demo(db, seed=7)
    now = utcnow()
    with db.session() as s:
        jobs_before = s.scalar(select(func.count()).select_from(Job))
        events_before = s.scalar(select(func.count()).select_from(OutboxEvent))
    demo.load(db, now=now, seed=42)
    demo.load(db, now=now, seed=42)  # a second run adds nothing
    with db.session() as s:
        configs = service.configs(s)
        assert {c.kind for c in configs} == {"csat", "nps", "ces"}
        answered = s.scalars(
            select(SurveyResponse).where(SurveyResponse.status == ResponseStatus.ANSWERED)
        ).all()
        assert len(answered) >= 150
        csat = Counter(r.score for r in answered if r.kind == "csat")
        assert csat[5] + csat[4] > 3 * (csat[1] + csat[2]) > 0  # mostly happy, some not
        assert all(r.answered_at <= now for r in answered)
        statuses = Counter(f.status for f in s.scalars(select(SurveyFollowup)))
        assert statuses[FollowupStatus.DONE] >= 5
        assert statuses[FollowupStatus.OPEN] + statuses[FollowupStatus.IN_PROGRESS] >= 1
        assert all(
            f.outcome for f in s.scalars(select(SurveyFollowup)) if f.status == FollowupStatus.DONE
        )
        assert len(service.recovered(s)) >= 1
        # Nothing announced, nothing scheduled: the demo's past sends nobody anything.
        assert s.scalar(select(func.count()).select_from(Job)) == jobs_before
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == events_before
