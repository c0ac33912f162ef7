"""The agent tools' demo loader runs after the core demo, adds what it promises, and only once."""

from __future__ import annotations

from sqlalchemy import func, select

from sportello.core.db import utcnow
from sportello.replies import demo as replies_demo
from sportello.replies import service
from sportello.replies.models import CannedReply, Macro, SavedView
from tests.demo_snapshot import load_demo


def test_demo_loader_adds_replies_macros_and_views_once(db):
    load_demo(db, seed=7)
    replies_demo.load(db, now=utcnow(), seed=7)
    replies_demo.load(db, now=utcnow(), seed=7)  # a second run adds nothing
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CannedReply)) == 15
        assert s.scalar(select(func.count()).select_from(Macro)) == 4
        views = list(s.scalars(select(SavedView)))
        assert len(views) == 3 and all(v.is_shared for v in views)
        from sportello.accounts.models import User

        chiara = s.scalar(select(User).where(User.email == "chiara@casalavanda.example"))
        titles = {r.title for r in service.replies_for(s, chiara)}
        assert "Reso: come avviarlo" in titles and "Garanzia: tessili e lavaggio" in titles
        assert "Preventivo per aziende" not in titles  # Francesca's own
