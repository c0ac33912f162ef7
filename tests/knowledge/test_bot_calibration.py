"""The bot's threshold calibrated on its own evidence: the answers customers judged, replayed at
each candidate threshold (a hand-made dataset with hand-counted results), the table on the
channel's page, and a row picked to set the threshold (CSRF, audited)."""

from __future__ import annotations

from typing import Any

from sportello.audit.models import AuditEntry
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.knowledge import service
from sportello.knowledge.models import BotLog
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
    rows = {r.threshold: (r.right, r.wrong, r.handed_over) for r in calibration.rows}
    assert list(rows) == [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]
    assert rows[0.3] == (2, 2, 0)
    assert rows[0.35] == (2, 2, 0)  # at the threshold the bot answers
    assert rows[0.4] == (2, 1, 1)
    assert rows[0.5] == (2, 0, 2)
    assert rows[0.65] == (1, 0, 3)
    assert rows[0.8] == (1, 0, 3)


def test_the_table_on_the_channel_page_and_picking_a_row(
    client: Any, db: Database, personas: Any
) -> None:
    channel = personas.api_channel
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{channel.id}")
    assert "Non ci sono ancora abbastanza dati" in page.text  # nothing judged yet
    for n in range(20):  # 20 judged answers: half right at 0.8, half wrong at 0.4
        conv = _conversation(db, channel, n)
        if n % 2:
            _log(db, conv, ("answer", "", 0.8), ("feedback_yes", "", 0.0))
        else:
            _log(db, conv, ("answer", "", 0.4), ("feedback_no", "", 0.0))
    page = client.get(f"/admin/channels/{channel.id}")
    assert 'id="bot-calibration"' in page.text and "<table" in page.text
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
    rows = {r["threshold"]: (r["right"], r["wrong"], r["handed_over"]) for r in data["rows"]}
    assert rows[55.0] == (0, 1, 0) and rows[60.0] == (0, 0, 1)
    agent = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    assert client.get(url, headers=agent).status_code == 403
    assert client.get("/api/v1/channels/99999/bot/calibration", headers=admin).status_code == 404
