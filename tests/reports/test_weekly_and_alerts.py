"""The weekly report e-mail (to the aiosmtpd server the e-mail tests use) and the wallboard
alerts that reach supervisors."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import pytest
from sqlalchemy import select

from sportello.channels import actions as channels_actions
from sportello.conversations.models import Status
from sportello.core.jobs import Job
from sportello.core.outbox import OutboxEvent
from sportello.reports import actions, handlers, upkeep, weekly
from sportello.reports.models import ReportAlert
from tests.channels.email.conftest import SMTP_PASSWORD, SMTP_USER, SmtpRecorder, free_port
from tests.reports.world import assign, contact, drain, reply, retime, status


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpRecorder]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    recorder = SmtpRecorder(port=free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data.password.decode() == SMTP_PASSWORD
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=recorder.port,
        authenticator=authenticator,
        auth_required=False,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


def _mailbox(db, personas, smtp: SmtpRecorder):
    data = {
        "address": "assistenza@negozio.it",
        "display_name": "Negozio Assistenza",
        "imap_host": "127.0.0.1",
        "imap_port": "1",
        "imap_security": "none",
        "imap_user": "box",
        "imap_password": "x",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "smtp_security": "none",
        "smtp_user": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "poll_seconds": "60",
    }
    with db.transaction() as s:
        channels_actions.do_create_channel(
            s, brand_id=personas.brand_id, kind="email", name="Assistenza", queue=None, data=data
        )


def test_next_monday_seven_in_rome():
    sunday = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # DST starts that night
    assert weekly.next_run(sunday) == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)  # 07:00 CEST
    monday_late = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert weekly.next_run(monday_late) == datetime(2026, 12, 14, 6, 0, tzinfo=UTC)  # CET
    assert weekly.last_week(monday_late)[0].isoformat() == "2026-11-30"


def test_weekly_email_reaches_supervisors_with_charts(db, personas, smtp_server):
    smtp_server.messages.clear()
    _mailbox(db, personas, smtp_server)
    now = datetime.now(UTC)
    start, _end = weekly.last_week(now)
    cid = contact(db, personas.api_channel, "mario@example.it")
    assign(db, cid, personas.sara)
    reply(db, cid, personas.sara)
    status(db, cid, Status.RESOLVED)
    at = datetime(start.year, start.month, start.day, 9, 0, tzinfo=UTC) + timedelta(days=2)
    retime(
        db,
        cid,
        [at, at + timedelta(minutes=1), at + timedelta(minutes=2), at + timedelta(minutes=3)],
        created_at=at,
        resolved_at=at + timedelta(minutes=3),
    )
    with db.transaction() as s:
        upkeep.rebuild(s)
    weekly.ensure_scheduled(db, now=now)
    weekly.ensure_scheduled(db, now=now)  # idempotent
    with db.session() as s:
        jobs = list(s.scalars(select(Job).where(Job.kind == weekly.JOB)))
    assert len(jobs) == 1 and jobs[0].run_at > now

    sent = actions.do_send_weekly_report(db, now=now)
    assert sent == 2  # Giulia (admin) and Marco (supervisor); agents get none
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == [
        "giulia@negozio.it",
        "marco@negozio.it",
    ]
    by_to = {
        m.rcpt_tos[0]: email.message_from_bytes(m.data, policy=policy.default)
        for m in smtp_server.messages
    }
    marco = by_to["marco@negozio.it"]  # English
    giulia = by_to["giulia@negozio.it"]  # Italian
    assert marco["Subject"].startswith("Weekly report")
    assert giulia["Subject"].startswith("Report settimanale")
    html = marco.get_body(("html",)).get_content()
    images = [p for p in marco.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 3
    for image in images:
        assert image.get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"cid:{image['Content-ID'].strip('<>')}" in html
    assert "Sara Conti" in html and "100.0%" in html  # she answered within the target


def test_weekly_email_without_a_mailbox_is_a_clear_permanent_error(db, personas):
    from sportello.channels.base import ChannelError

    with pytest.raises(ChannelError) as info:
        actions.do_send_weekly_report(db)
    assert info.value.permanent


def test_alerts_rise_and_clear_and_are_announced(db, personas):
    cid = contact(db, personas.api_channel, "mario@example.it")  # waiting, nobody available
    drain(db)
    with db.transaction() as s:
        raised = actions.do_check_alerts(s)
    assert [(a.queue_id, a.kind) for a in raised] == [(personas.queue_assistenza.id, "no_agent")]
    with db.transaction() as s:
        assert actions.do_check_alerts(s) == []  # still true: no second alert
    with db.session() as s:
        events = [
            e.payload
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == "reports.alert"))
        ]
    assert events[-1]["state"] == "raised" and events[-1]["queue_name"] == "Assistenza clienti"
    assign(db, cid, personas.sara)  # no longer waiting
    with db.transaction() as s:
        cleared = actions.do_check_alerts(s)
    assert [a.kind for a in cleared] == ["no_agent"]
    with db.session() as s:
        assert s.scalars(select(ReportAlert).where(ReportAlert.cleared_at.is_(None))).all() == []
    # the periodic job reschedules itself
    handlers.ensure_jobs(db)
    with db.session() as s:
        assert s.scalar(select(Job).where(Job.kind == "reports.alerts")) is not None
