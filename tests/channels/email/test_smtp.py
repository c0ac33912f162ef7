"""Outbound mail to a recording aiosmtpd server: headers, multipart, attachments, retries on 4xx
and connection errors, failure on 5xx, the acknowledgement."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select, update

from sportello.channels.base import InboundAttachment
from sportello.channels.email.acknowledge import acknowledgement_text
from sportello.channels.email.imap import poll_mailbox
from sportello.channels.email.mailbox import DEFAULT_HOURS
from sportello.channels.email.smtp import reply_subject, thread_headers
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.jobs import Job
from tests.channels.email.conftest import SMTP_PASSWORD, eml, mailbox_data, make_mailbox


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Ordine 4521", "Re: Ordine 4521 [#1042]"),
        ("Re: Ordine 4521", "Re: Ordine 4521 [#1042]"),
        ("R: RE: Fwd: Ordine 4521 [#1042]", "Re: Ordine 4521 [#1042]"),
        ("", "Re: … [#1042]"),
    ],
)
def test_reply_subject(subject, expected):
    assert reply_subject(subject, 1042) == expected


def test_thread_headers_keep_the_root_and_the_latest():
    assert thread_headers([]) == (None, None)
    assert thread_headers(["api-7", "<a@x>"]) == ("<a@x>", "<a@x>")
    ids = [f"<m{i}@x>" for i in range(30)]
    in_reply_to, references = thread_headers(ids)
    assert in_reply_to == "<m29@x>"
    refs = references.split()
    assert refs[0] == "<m0@x>" and refs[-1] == "<m29@x>" and len(refs) == 20


def start_conversation(db, mailbox, dovecot, mail_user, **kwargs) -> int:
    dovecot.append(mail_user, eml(**kwargs))
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        return s.scalars(select(Conversation.id).order_by(Conversation.id.desc())).first()


def send_reply(db, personas, conversation_id, text="Ecco la risposta.", **kwargs) -> int:
    with db.transaction() as s:
        return conversations_actions.do_send_reply(
            s,
            conversation=s.get(Conversation, conversation_id),
            author=personas.sara,
            text=text,
            **kwargs,
        ).id


def state_of(db, message_id):
    with db.session() as s:
        message = s.get(Message, message_id)
        return message.delivery_state, message.error


def make_due(db):
    with db.transaction() as s:
        s.execute(update(Job).values(run_at=utcnow()))


def test_html_and_attachments_go_out_as_multipart(db, personas, mailbox, dovecot, smtp, mail_user):
    conversation_id = start_conversation(db, mailbox, dovecot, mail_user)
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    send_reply(
        db,
        personas,
        conversation_id,
        text="In allegato la fattura.",
        html="<p>In allegato la <b>fattura</b>.</p><script>x()</script>",
        attachments=[InboundAttachment("fattura 12.pdf", "application/pdf", pdf)],
    )
    Dispatcher(db).drain()
    sent = message_from_bytes(smtp.messages[0].data, policy=policy.default)
    assert sent.get_content_type() == "multipart/mixed"
    assert "<b>fattura</b>" in sent.get_body(("html",)).get_content()
    assert "script" not in sent.get_body(("html",)).get_content()
    (attachment,) = list(sent.iter_attachments())
    assert attachment.get_filename() == "fattura 12.pdf"
    assert attachment.get_content() == pdf


def test_a_temporary_smtp_error_is_retried_with_backoff(
    db, personas, mailbox, dovecot, smtp, mail_user
):
    conversation_id = start_conversation(db, mailbox, dovecot, mail_user)
    message_id = send_reply(db, personas, conversation_id)
    smtp.reply = "451 4.3.0 Mailbox busy, try again later"
    Dispatcher(db).drain()

    assert state_of(db, message_id)[0] == DeliveryState.QUEUED
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.kind == "deliver_message")).one()
        assert job.attempts == 1 and job.failed_at is None and job.run_at > utcnow()
        assert "451" in job.error and "try again later" in job.error

    smtp.reply = None
    make_due(db)
    Dispatcher(db).drain()
    assert state_of(db, message_id) == (DeliveryState.SENT, None)
    assert len(smtp.messages) == 1


def test_an_unreachable_server_is_retried(db, personas, dovecot, smtp, mail_user):
    channel = make_mailbox(db, personas, mailbox_data(dovecot, smtp, mail_user, smtp_port="1"))
    conversation_id = start_conversation(db, channel, dovecot, mail_user)
    message_id = send_reply(db, personas, conversation_id)
    Dispatcher(db).drain()
    assert state_of(db, message_id)[0] == DeliveryState.QUEUED
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.kind == "deliver_message")).one()
        assert "refused the connection" in job.error and job.failed_at is None


def test_a_permanent_smtp_error_fails_the_message(db, personas, mailbox, dovecot, smtp, mail_user):
    conversation_id = start_conversation(db, mailbox, dovecot, mail_user)
    message_id = send_reply(db, personas, conversation_id)
    smtp.reply = "554 5.7.1 Message rejected as spam"
    Dispatcher(db).drain()
    state, error = state_of(db, message_id)
    assert state == DeliveryState.FAILED
    assert "554" in error and "rejected as spam" in error


def test_a_wrong_smtp_password_fails_in_plain_words_and_is_not_logged(
    db, personas, dovecot, smtp, mail_user, caplog
):
    caplog.set_level(logging.DEBUG)
    channel = make_mailbox(
        db, personas, mailbox_data(dovecot, smtp, mail_user, smtp_password="Sbagliata-991")
    )
    conversation_id = start_conversation(db, channel, dovecot, mail_user)
    message_id = send_reply(db, personas, conversation_id)
    Dispatcher(db).drain()
    state, error = state_of(db, message_id)
    assert state == DeliveryState.FAILED
    assert "refused the user name or password" in error
    assert "Sbagliata-991" not in caplog.text and SMTP_PASSWORD not in caplog.text


def test_acknowledgement_is_sent_once_threaded_and_marked_automatic(
    db, personas, dovecot, smtp, mail_user
):
    channel = make_mailbox(
        db, personas, mailbox_data(dovecot, smtp, mail_user, acknowledge="on", language="en")
    )
    conversation_id = start_conversation(
        db, channel, dovecot, mail_user, message_id="<first@example.it>", subject="Help"
    )
    Dispatcher(db).drain()
    Dispatcher(db).drain()
    assert len(smtp.messages) == 1
    ack = message_from_bytes(smtp.messages[0].data, policy=policy.default)
    with db.session() as s:
        conversation = s.get(Conversation, conversation_id)
        inbound = s.scalars(select(Message).where(Message.conversation_id == conversation_id)).one()
        assert inbound.meta["email"]["ack_message_id"] == ack["Message-ID"]
        assert conversation.first_response_at is None  # an acknowledgement is no answer
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<first@example.it>"
    assert ack["Subject"] == f"Re: Help [#{conversation.number}]"
    assert f"#{conversation.number}" in ack.get_body(("plain",)).get_content()

    # The customer answers the acknowledgement: same conversation, no second acknowledgement.
    dovecot.append(
        mail_user,
        eml(
            message_id="<second@example.it>",
            subject=f"Re: Help [#{conversation.number}]",
            headers={
                "In-Reply-To": ack["Message-ID"],
                "References": f"<first@example.it> {ack['Message-ID']}",
            },
        ),
    )
    poll_mailbox(db, channel.id)
    Dispatcher(db).drain()
    assert len(smtp.messages) == 1
    with db.session() as s:
        assert len(s.scalars(select(Conversation)).all()) == 1


def test_no_acknowledgement_for_auto_replies_lists_or_noreply(
    db, personas, dovecot, smtp, mail_user
):
    channel = make_mailbox(db, personas, mailbox_data(dovecot, smtp, mail_user, acknowledge="on"))
    dovecot.append(
        mail_user,
        eml(
            sender="a@example.it",
            subject="Fuori ufficio",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    dovecot.append(
        mail_user,
        eml(sender="b@example.it", headers={"List-Id": "<news.example.it>", "Precedence": "list"}),
    )
    dovecot.append(mail_user, eml(sender="noreply@shop.example.it"))
    dovecot.append(mail_user, eml(sender="assistenza@negozio.it"))  # ourselves: a loop
    poll_mailbox(db, channel.id)
    Dispatcher(db).drain()
    assert smtp.messages == []
    with db.session() as s:
        automated = [
            m.meta.get("automated", False) for m in s.scalars(select(Message).order_by(Message.id))
        ]
    assert automated == [True, True, False, False]


def test_the_sender_rate_guard_stops_acknowledging_a_loop(db, personas, dovecot, smtp, mail_user):
    channel = make_mailbox(
        db,
        personas,
        mailbox_data(
            dovecot, smtp, mail_user, acknowledge="on", rate_limit="3", rate_window_minutes="10"
        ),
    )
    # A robot answering every message with a new subject (so each is a new conversation).
    for n in range(6):
        dovecot.append(mail_user, eml(sender="robot@example.it", subject=f"Ticket {n}"))
    poll_mailbox(db, channel.id)
    with db.session() as s:
        jobs = s.scalars(select(Job).where(Job.kind == "email_acknowledge")).all()
        limited = [
            m.meta["email"].get("rate_limited", False)
            for m in s.scalars(select(Message).order_by(Message.id))
        ]
    assert len(jobs) <= 3
    assert limited == [False, False, False, True, True, True]


def test_acknowledgement_wording_follows_business_hours():
    monday_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Rome
    saturday = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    open_text = acknowledgement_text(
        language="it", name="Mario", number=1042, team="Negozio", hours=DEFAULT_HOURS, now=monday_10
    )
    closed_text = acknowledgement_text(
        language="en", name="", number=1042, team="Negozio", hours=DEFAULT_HOURS, now=saturday
    )
    assert "Gentile Mario" in open_text and "#1042" in open_text and "al più presto" in open_text
    assert "closed" in closed_text and "Monday" in closed_text and "09:00" in closed_text


def test_starttls_on_a_server_without_it_is_a_plain_error(db, personas, dovecot, smtp, mail_user):
    from sportello.channels.email.adapter import EmailAdapter
    from sportello.channels.models import Channel
    from sportello.channels.service import config_for

    channel = make_mailbox(
        db,
        personas,
        mailbox_data(dovecot, smtp, mail_user, imap_security="starttls", smtp_security="starttls"),
    )
    with db.session() as s:
        imap_check, smtp_check = EmailAdapter().test_connection(
            config_for(s.get(Channel, channel.id))
        )
    assert not imap_check.ok and "STARTTLS" in imap_check.detail.upper()
    assert not smtp_check.ok and "STARTTLS" in smtp_check.detail.upper()
