"""The reports' demo loader over the demo shop's history."""

from __future__ import annotations

from sqlalchemy import func, select

from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.reports import demo as reports_demo
from sportello.reports import service
from sportello.reports.models import ReportFact, ReportSurveyAnswer
from tests.demo_snapshot import DEMO_NOW, load_demo

NOW = DEMO_NOW


def test_the_demo_history_has_reports(db):
    load_demo(db, seed=7, now=NOW)
    reports_demo.load(db, now=NOW, seed=7)
    reports_demo.load(db, now=NOW, seed=7)  # again: the same answers, no double count
    with db.session() as s:
        conversations = s.scalar(select(func.count()).select_from(Conversation))
        assert s.scalar(select(func.count()).select_from(ReportFact)) == conversations
        answers = s.scalar(select(func.count()).select_from(ReportSurveyAnswer))
        assert answers > conversations // 5
        admin = s.scalar(select(User).where(User.email.like("elena@%")))
        f = service.parse_filters({"start": "2026-09-08", "end": "2026-12-07"}, today=NOW.date())
        rep = service.report(s, admin, f)
        k = rep.totals.kpis
        assert k["volume"] > 0.9 * conversations
        assert 0 < k["service_level"] <= 1 and k["asa"] > 0 and k["aht"] > 0
        assert k["csat_n"] > 0 and -100 <= k["nps"] <= 100
        assert sum(map(sum, service.heatmap(s, admin, f))) == rep.totals.kpis["volume"]
        assert len(service.league(s, admin, f)) >= 3
