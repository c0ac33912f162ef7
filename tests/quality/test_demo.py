"""The quality demo: the Italian scorecard, weeks of reviews of the demo agents with coaching
notes (the newest still to acknowledge), today's sampled reviews, and calibration sessions."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from sportello import demo as core_demo
from sportello.accounts.models import User
from sportello.core.db import utcnow
from sportello.quality import demo, service
from sportello.quality.models import Calibration, Review, ReviewStatus, SampleRule, Scorecard
from sportello.reports import demo as reports_demo


def test_demo_quality(db):
    now = utcnow()
    core_demo.load(db, seed=42, now=now)
    reports_demo.load(db, now=now, seed=42)
    demo.load(db, now=now, seed=42)
    demo.load(db, now=now, seed=42)  # a second run adds nothing
    with db.session() as s:
        cards = s.scalars(select(Scorecard)).all()
        assert [c.name for c in cards] == ["Scheda qualità standard"]
        names = [c.name for c in cards[0].criteria]
        assert "Empatia ed emozioni" in names and any(c.critical for c in cards[0].criteria)
        assert s.scalar(select(func.count()).select_from(SampleRule)) == 3
        done = s.scalars(
            select(Review).where(
                Review.status == ReviewStatus.DONE, Review.calibration_id.is_(None)
            )
        ).all()
        agents = {u.id: u.email.split("@")[0] for u in s.scalars(select(User))}
        per_agent = Counter(agents[r.agent_id] for r in done if r.agent_id)
        assert set(per_agent) >= {"chiara", "davide", "francesca"}
        assert min(per_agent[a] for a in ("chiara", "davide", "francesca")) >= 10
        assert all(r.coaching_note for r in done)
        assert any(r.acknowledged_at is None for r in done)
        assert sum(r.acknowledged_at is not None for r in done) > len(done) // 2
        assert any(r.dispute_status == "rejected" for r in done)
        assigned = s.scalars(select(Review).where(Review.status == ReviewStatus.ASSIGNED)).all()
        assert any(r.rule_id for r in assigned)  # today's sampling for the desk
        calibrations = s.scalars(select(Calibration)).all()
        assert {c.status for c in calibrations} == {"revealed", "open"}
        trend = service.trends(s, by="agent", weeks=12, today=now.date())
        assert len({p.week for p in trend}) >= 8
