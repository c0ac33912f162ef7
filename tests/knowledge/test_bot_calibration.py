"""The bot's threshold calibrated on its own evidence: the answers customers judged, replayed at
each candidate threshold (a hand-made dataset with hand-counted results), the table on the
channel's page, and a row picked to set the threshold (CSRF, audited). Under 20 judged answers
the table falls back to the bundled evaluation set, and says so; that set's cases are checked
against what the search engine gives for its questions today."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sportello.accounts.models import User
from sportello.audit.models import AuditEntry
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.knowledge import actions, service
from sportello.knowledge.models import Article, ArticleStatus, BotLog
from tests.factories import csrf_from, inbound, login, receive


def _log(db: Database, conversation_id: int, *turns: tuple[str, str, float]) -> None:
    with db.transaction() as s:
        for action, reason, confidence in turns:
            s.add(
                BotLog(
                    conversation_id=conversation_id,
                    action=action,
                    reason=reason,
                    confidence=confidence,
                )
            )


def _conversation(db: Database, channel: Channel, n: int) -> int:
    return receive(db, channel, inbound(f"domanda {n}", email=f"c{n}@example.it")).conversation.id


def test_judged_answers_replayed_at_each_threshold(db: Database, personas: Any) -> None:
    channel = personas.api_channel
    a, b, c, d = (_conversation(db, channel, n) for n in range(4))
    _log(db, a, ("answer", "", 0.9), ("feedback_yes", "", 0.0))
    _log(db, b, ("answer", "", 0.45), ("feedback_no", "", 0.0))
    _log(db, b, ("answer", "", 0.6), ("feedback_yes", "", 0.0))
    _log(db, c, ("answer", "", 0.35), ("handover", "repeated_failure", 0.0))
    # Not judged: an answer with no reply, a low-confidence handover, a greeting.
    _log(db, d, ("handover", "low_confidence", 0.2), ("answer", "", 0.7))
    other = _conversation(db, personas.webform, 9)  # another channel: not this one's evidence
    _log(db, other, ("answer", "", 0.99), ("feedback_no", "", 0.0))

    with db.session() as s:
        cases = service.bot_feedback_cases(s, channel_id=channel.id)
        assert sorted(cases) == [(0.35, False), (0.45, False), (0.6, True), (0.9, True)]
        calibration = service.bot_calibration(s, channel_id=channel.id)
    assert calibration.cases == 4 and not calibration.enough
    assert calibration.source == "evaluation"  # too few of its own: the bundled set's table
    own = service.calibrate(cases)
    assert own.cases == 4
    rows = {r.threshold: (r.right, r.wrong, r.handed_over) for r in own.rows}
    assert list(rows) == [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]
    assert rows[0.3] == (2, 2, 0)
    assert rows[0.35] == (2, 2, 0)  # at the threshold the bot answers
    assert rows[0.4] == (2, 1, 1)
    assert rows[0.5] == (2, 0, 2)
    assert rows[0.65] == (1, 0, 3)
    assert rows[0.8] == (1, 0, 3)


def test_too_few_judged_answers_fall_back_to_the_bundled_evaluation_set(
    db: Database, personas: Any
) -> None:
    channel = personas.api_channel
    with db.session() as s:
        empty = service.bot_calibration(s, channel_id=channel.id)
    bundled, articles = service.evaluation_cases()
    assert empty.source == "evaluation" and empty.cases == 0
    assert empty.source_cases == len(bundled) == 200 and empty.source_articles == articles == 40
    for row in empty.rows:  # every question is answered right, wrong or handed over
        assert row.right + row.wrong + row.handed_over == 200
        answered = [right for confidence, right in bundled if confidence >= row.threshold]
        assert (row.right, row.wrong) == (sum(answered), len(answered) - sum(answered))
    lowest, highest = empty.rows[0], empty.rows[-1]
    assert lowest.handed_over < highest.handed_over and lowest.right >= highest.right
    for n in range(20):  # 20 judged answers of its own: the channel's table
        conv = _conversation(db, channel, n)
        _log(db, conv, ("answer", "", 0.9), ("feedback_yes" if n % 4 else "feedback_no", "", 0))
    with db.session() as s:
        own = service.bot_calibration(s, channel_id=channel.id)
    assert own.source == "channel" and own.cases == own.source_cases == 20 and own.enough
    assert (own.rows[0].right, own.rows[0].wrong, own.rows[0].handed_over) == (15, 5, 0)


BENCH_DATA = Path(__file__).resolve().parents[2] / "bench" / "data"


def test_the_bundled_cases_are_what_the_engine_gives_today(db: Database, personas: Any) -> None:
    """The lexical engine's cases for the first 40 dev questions, measured again here on the
    same 40 articles and synonyms; if ranking changes, bench/kb_search.py --write-evaluation
    must be run again (and this test says so)."""
    articles = json.loads((BENCH_DATA / "kb_it_articles.json").read_text())
    with db.transaction() as s:
        editor = s.get_one(User, personas.admin.id)
        slugs: dict[int, str] = {}
        categories: dict[str, Any] = {}
        for item in articles:
            if item["category"] not in categories:
                categories[item["category"]] = actions.do_create_category(
                    s, brand_id=personas.brand_id, by=editor, name=item["category"]
                )
            article = actions.do_create_article(
                s,
                brand_id=personas.brand_id,
                by=editor,
                title=item["title"],
                body_md=item["body"],
                tags=item.get("tags", []),
                category=categories[item["category"]],
                status=ArticleStatus.PUBLISHED,
            )
            slugs[article.id] = item["id"]
        for group in json.loads((BENCH_DATA / "kb_it_synonyms.json").read_text()):
            actions.do_add_synonyms(s, brand_id=personas.brand_id, by=editor, words=group)
    with db.session() as s:
        assert s.scalar(select(Article.id).where(Article.id.not_in(list(slugs)))) is None
        measured = []
        for item in json.loads((BENCH_DATA / "kb_it_colloquial_dev.json").read_text())[:40]:
            hits = service.search_articles(s, item["q"], brand_id=personas.brand_id).hits
            measured.append(
                (round(hits[0].confidence, 4), slugs[hits[0].article.id] == item["a"])
                if hits
                else (0.0, False)
            )
    bundled, _ = service.evaluation_cases()  # lexical: the tests run without the model
    assert measured == bundled[:40], "run bench/kb_search.py --write-evaluation again"


def test_the_table_on_the_channel_page_and_picking_a_row(
    client: Any, db: Database, personas: Any
) -> None:
    channel = personas.api_channel
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{channel.id}")
    # nothing judged yet: the bundled evaluation set's table, said so (in Italian)
    assert 'data-source="evaluation"' in page.text and "<table" in page.text
    # (the Italian catalogue gains the new msgid when the lead re-extracts it)
    assert any(
        said in page.text
        for said in ("Fonte: il set di valutazione incluso", "Source: the bundled evaluation set")
    )
    for n in range(20):  # 20 judged answers: half right at 0.8, half wrong at 0.4
        conv = _conversation(db, channel, n)
        if n % 2:
            _log(db, conv, ("answer", "", 0.8), ("feedback_yes", "", 0.0))
        else:
            _log(db, conv, ("answer", "", 0.4), ("feedback_no", "", 0.0))
    page = client.get(f"/admin/channels/{channel.id}")
    assert 'id="bot-calibration"' in page.text and "<table" in page.text
    assert 'data-source="channel"' in page.text
    assert 'aria-current="true"' in page.text  # the current threshold (50%) is marked
    url = f"/admin/channels/{channel.id}/bot/threshold"
    assert client.post(url, data={"threshold": "45"}, follow_redirects=False).status_code == 403
    token = csrf_from(page.text)
    bad = client.post(url, data={"csrf_token": token, "threshold": "abc"})
    assert bad.status_code == 422
    done = client.post(url, data={"csrf_token": token, "threshold": "45"}, follow_redirects=False)
    assert done.status_code == 303
    with db.session() as s:
        bot = s.get(Channel, channel.id).settings["bot"]
        assert bot["threshold"] == 0.45
        assert (
            s.query(AuditEntry)
            .filter_by(action="channel.settings_changed", target_id=str(channel.id))
            .count()
            == 1
        )
    shown = client.get(f"/admin/channels/{channel.id}").text
    assert '<input type="hidden" name="threshold" value="45">' not in shown  # now the current


def test_the_api_reads_the_same_table(client: Any, db: Database, personas: Any) -> None:
    from tests.api.helpers import make_token

    channel = personas.api_channel
    conv = _conversation(db, channel, 1)
    _log(db, conv, ("answer", "", 0.55), ("feedback_no", "", 0.0))
    url = f"/api/v1/channels/{channel.id}/bot/calibration"
    token = make_token(db, personas.admin, ("read", "write", "admin"))
    admin = {"Authorization": f"Bearer {token}"}
    data = client.get(url, headers=admin).json()
    assert data["cases"] == 1 and data["enough"] is False
    assert data["source"] == "evaluation" and data["source_cases"] == 200
    with db.session() as s:
        table = service.bot_calibration(s, channel_id=channel.id)
    rows = {r["threshold"]: (r["right"], r["wrong"], r["handed_over"]) for r in data["rows"]}
    assert rows == {
        round(r.threshold * 100, 1): (r.right, r.wrong, r.handed_over) for r in table.rows
    }
    for n in range(2, 21):  # 20 of its own now
        _log(db, _conversation(db, channel, n), ("answer", "", 0.7), ("feedback_yes", "", 0.0))
    data = client.get(url, headers=admin).json()
    assert data["source"] == "channel" and data["cases"] == data["source_cases"] == 20
    rows = {r["threshold"]: (r["right"], r["wrong"], r["handed_over"]) for r in data["rows"]}
    assert rows[55.0] == (19, 1, 0) and rows[60.0] == (19, 0, 1) and rows[75.0] == (0, 0, 20)
    agent = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    assert client.get(url, headers=agent).status_code == 403
    assert client.get("/api/v1/channels/99999/bot/calibration", headers=admin).status_code == 404
