"""The quality demo loader on a small world shaped like the demo's (its staff, by e-mail, and
conversations each agent resolved over the last weeks): the Italian scorecard, weeks of reviews
with coaching notes (the newest still to acknowledge), a dispute, today's sampled reviews and the
calibration sessions. (tests/test_demo.py loads it on the full demo shop.)"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select, update

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Role, User
from sportello.conversations.models import Conversation
from sportello.core.db import utcnow
from sportello.quality import demo, service
from sportello.quality.models import Calibration, Review, ReviewStatus, SampleRule, Scorecard
from sportello.reports.models import ReportFact
from tests.quality.world import resolved_by

STAFF = (
    ("elena", Role.ADMIN),
    ("paolo", Role.SUPERVISOR),
    ("chiara", Role.AGENT),
    ("davide", Role.AGENT),
    ("francesca", Role.AGENT),
)


def _world(db, personas, now):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        users = {
            name: accounts_actions.do_create_user(
                s, email=f"{name}@casalavanda.example", name=name.title(), role=role, password=None
            )
            for name, role in STAFF
        }
        s.flush()
        s.expunge_all()
    for name in ("chiara", "davide", "francesca"):
        for week in range(0, 10):
            for _ in range(3 if week else 2):
                cid = resolved_by(db, personas, users[name])
                at = now - timedelta(weeks=week, days=1 if week == 0 else 2)
                with db.transaction() as s:
                    s.execute(
                        update(Conversation).where(Conversation.id == cid).values(resolved_at=at)
                    )
                    s.execute(
                        update(ReportFact)
                        .where(ReportFact.conversation_id == cid)
                        .values(resolved_at=at)
                    )


def test_demo_quality(db, personas):
    now = utcnow()
    _world(db, personas, now)
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
        assert min(per_agent[a] for a in ("chiara", "davide", "francesca")) >= 10
        assert all(r.coaching_note for r in done)
        assert any(r.acknowledged_at is None for r in done)
        assert sum(r.acknowledged_at is not None for r in done) > len(done) // 2
        assert any(r.dispute_status == "rejected" for r in done)
        assigned = s.scalars(select(Review).where(Review.status == ReviewStatus.ASSIGNED)).all()
        assert {agents[r.agent_id] for r in assigned if r.rule_id} == {
            "chiara",
            "davide",
            "francesca",
        }  # today's sampling for the reviewer's desk
        calibrations = s.scalars(select(Calibration)).all()
        assert sorted(c.status for c in calibrations) == ["open", "revealed"]
        trend = service.trends(s, by="agent", weeks=12, today=now.date())
        assert len({p.week for p in trend}) >= 8
