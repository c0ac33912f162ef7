"""The issue's "done when": a customer's mail arrives from the IMAP server, an agent replies, the
reply reaches the SMTP server correctly threaded, and the customer's answer (new subject) lands
in the same conversation. Then a bounce of a later reply marks it failed. Real servers only."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy

from sqlalchemy import select

from sportello.channels.email.imap import poll_mailbox
from sportello.channels.email.models import EmailRaw
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Direction, Message
from sportello.core.dispatcher import Dispatcher
from tests.channels.email.conftest import IMAP_PASSWORD, SMTP_PASSWORD, eml


def reply(db, personas, conversation_id: int, text: str) -> int:
    with db.transaction() as s:
        conversation = s.get(Conversation, conversation_id)
        message = conversations_actions.do_send_reply(
            s, conversation=conversation, author=personas.sara, text=text
        )
        return message.id


def dsn_for(original_id: str, recipient: str = "mario.rossi@example.it") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.it>\r\n"
        "To: assistenza@negozio.it\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example.it>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.it\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <mario.rossi@example.it>: mailbox unavailable\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: assistenza@negozio.it\r\n"
        f"To: {recipient}\r\n"
        f"Message-ID: {original_id}\r\n"
        "Subject: Re: Ordine\r\n"
        "--B--\r\n"
    ).encode()


def test_mail_in_reply_out_answer_threads_back(
    db, personas, mailbox, dovecot, smtp, mail_user, caplog
):
    caplog.set_level(logging.DEBUG)
    customer_id = "<cliente-1@example.it>"
    dovecot.append(mail_user, eml(message_id=customer_id, subject="Ordine 4521 non arrivato"))
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        conversation = s.scalars(select(Conversation)).one()
        number = conversation.number

    # The agent replies in the console; the dispatcher delivers it over SMTP.
    reply_id = reply(db, personas, conversation.id, "Buongiorno Mario,\nl'ordine è partito oggi.")
    Dispatcher(db).drain()

    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.authenticated
    assert received.rcpt_tos == ["mario.rossi@example.it"]
    assert received.mail_from == "assistenza@negozio.it"
    sent = message_from_bytes(received.data, policy=policy.default)
    assert sent["In-Reply-To"] == customer_id
    assert customer_id in sent["References"]
    assert sent["Subject"] == f"Re: Ordine 4521 non arrivato [#{number}]"
    assert sent["Reply-To"] == "assistenza@negozio.it"
    assert "Negozio Assistenza" in sent["From"]
    assert sent.get_body(("plain",)).get_content().startswith("Buongiorno Mario,")
    assert "<br>" in sent.get_body(("html",)).get_content()
    our_id = sent["Message-ID"]
    assert our_id.endswith("@negozio.it>")
    with db.session() as s:
        message = s.get(Message, reply_id)
        assert message.delivery_state == DeliveryState.SENT
        assert message.provider_message_id == our_id

    # The customer answers from a client that rewrote the subject.
    dovecot.append(
        mail_user,
        eml(
            message_id="<cliente-2@example.it>",
            subject="grazie! una domanda sulla fattura",
            body="Grazie, ma la fattura?\n\n> l'ordine è partito oggi.",
            headers={"In-Reply-To": our_id, "References": f"{customer_id} {our_id}"},
        ),
    )
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        assert len(s.scalars(select(Conversation)).all()) == 1
        inbound = s.scalars(
            select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
        ).all()
        assert [m.conversation_id for m in inbound] == [conversation.id, conversation.id]

    # A second reply bounces: the DSN marks it failed, and is not a customer message.
    second_id = reply(db, personas, conversation.id, "La fattura è in allegato.")
    Dispatcher(db).drain()
    second_sent = message_from_bytes(smtp.messages[-1].data, policy=policy.default)
    assert second_sent["In-Reply-To"] == "<cliente-2@example.it>"
    dovecot.append(mail_user, dsn_for(second_sent["Message-ID"]))
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        bounced = s.get(Message, second_id)
        assert bounced.delivery_state == DeliveryState.FAILED
        assert "5.1.1" in bounced.error or "mailbox unavailable" in bounced.error
        assert bounced.meta["bounces"][0]["permanent"] is True
        assert s.scalars(select(EmailRaw).where(EmailRaw.outcome == "bounce")).one()
        assert len(s.scalars(select(Conversation)).all()) == 1
        assert (
            len(s.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()) == 2
        )

    # Secrets: never in the logs, never in the channel's settings.
    assert IMAP_PASSWORD not in caplog.text and SMTP_PASSWORD not in caplog.text
    with db.session() as s:
        channel = s.get(Channel, mailbox.id)
        assert IMAP_PASSWORD not in repr(channel.settings)
        assert SMTP_PASSWORD not in repr(channel.settings)
        assert IMAP_PASSWORD not in repr(channel.secrets)  # encrypted at rest
        assert set(channel.secrets) == {"imap_password", "smtp_password"}


def test_serve_fetches_mail_in_the_background(db, test_settings, mailbox, dovecot, mail_user):
    """Embedded mode: the app's lifespan runs the mail poller beside the dispatcher."""
    import time

    from fastapi.testclient import TestClient

    from sportello.main import create_app

    app = create_app(test_settings, db=db, run_workers=True)
    with TestClient(app):
        dovecot.append(mail_user, eml(message_id="<served@example.it>"))
        deadline = time.monotonic() + 20
        found = None
        while found is None and time.monotonic() < deadline:
            with db.session() as s:
                found = s.scalar(
                    select(Message.id).where(Message.provider_message_id == "<served@example.it>")
                )
            time.sleep(0.1)
    assert found is not None
