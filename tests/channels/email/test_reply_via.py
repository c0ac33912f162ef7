"""Answering a web form's customer by email: the composer offers the brand's mailbox ("Reply
via"), the reply goes out over real SMTP (aiosmtpd) threaded to the conversation, and the
customer's answer by email comes back into the same conversation."""

from __future__ import annotations

import email
import re
from email import policy

from sqlalchemy import select

from sportello.channels import actions as channels_actions
from sportello.channels.email import ingest
from sportello.conversations.models import DeliveryState, Direction, Message
from sportello.core.dispatcher import Dispatcher
from tests.channels.email.conftest import SMTP_PASSWORD, SMTP_USER
from tests.factories import csrf_from, inbound, login, receive


def mailbox_for(db, personas, smtp, *, active=True):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        channel, _ = channels_actions.do_create_channel(
            s,
            brand_id=personas.brand_id,
            kind="email",
            name="Casella assistenza",
            queue=personas.queue_vendite,
            data={
                "address": "assistenza@negozio.it",
                "display_name": "Negozio Assistenza",
                "imap_host": "127.0.0.1",
                "imap_port": "1",
                "imap_security": "none",
                "imap_user": "assistenza",
                "imap_password": "x",
                "smtp_host": "127.0.0.1",
                "smtp_port": str(smtp.port),
                "smtp_security": "none",
                "smtp_user": SMTP_USER,
                "smtp_password": SMTP_PASSWORD,
            },
            is_active=active,
        )
        return channel


def test_a_web_form_customer_is_answered_by_email_through_the_mailbox(client, personas, db, smtp):
    mailbox = mailbox_for(db, personas, smtp)
    result = receive(
        db,
        personas.webform,
        inbound(
            "Vorrei un preventivo per 20 sedie.",
            email="anna.neri@example.it",
            name="Anna Neri",
            subject="Preventivo sedie",
        ),
    )
    number = result.conversation.number
    login(client, personas.admin)
    page = client.get(f"/c/{number}")
    assert f'hx-get="/c/{number}/reply-via"' in page.text
    picker = client.get(f"/c/{number}/reply-via").text
    # the form cannot carry it; the mailbox is offered and chosen
    assert f'<option value="{mailbox.id}" selected>' in picker
    assert "non può recapitare" in picker  # the web form, marked as unable to deliver
    assert "composer-warning" not in picker
    # choosing the form itself warns before sending
    warned = client.get(f"/c/{number}/reply-via?via={personas.webform.id}").text
    assert "composer-warning" in warned and "non verrebbe consegnata" in warned
    response = client.post(
        f"/c/{number}/messages",
        data={
            "text": "Buongiorno Anna, le mando il preventivo in giornata.",
            "mode": "reply",
            "via": str(mailbox.id),
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    Dispatcher(db).drain()
    with db.session() as s:
        reply = s.scalars(select(Message).where(Message.direction == Direction.OUTBOUND)).one()
        assert reply.channel_id == mailbox.id
        assert reply.delivery_state == DeliveryState.SENT, reply.error
        assert reply.meta["via"]["name"] == "Casella assistenza"
        message_id = reply.provider_message_id
    assert len(smtp.messages) == 1
    sent = smtp.messages[0]
    assert sent.rcpt_tos == ["anna.neri@example.it"] and sent.authenticated
    parsed = email.message_from_bytes(sent.data, policy=policy.default)
    assert "Preventivo sedie" in str(parsed["Subject"])
    assert "le mando il preventivo" in parsed.get_body(("plain",)).get_content()
    timeline = client.get(f"/c/{number}").text
    assert "via Casella assistenza" in timeline and "Inviato" in timeline
    # Anna answers the email: it threads into the same conversation
    answer = (
        "From: Anna Neri <anna.neri@example.it>\r\nTo: assistenza@negozio.it\r\n"
        f"Subject: Re: {parsed['Subject']}\r\nMessage-ID: <risposta-anna@example.it>\r\n"
        f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
        "Date: Mon, 07 Dec 2026 10:15:00 +0100\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n\r\nGrazie, attendo.\r\n'
    ).encode()
    with db.transaction() as s:
        from sportello.channels.email import actions as email_actions

        raw_id = email_actions.do_store_raw(
            s, channel_id=mailbox.id, folder="INBOX", uidvalidity=1, uid=1, data=answer
        )
    assert raw_id is not None
    ingest.process_pending(db, channel_id=mailbox.id)
    with db.session() as s:
        inbound_rows = s.scalars(
            select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
        ).all()
        assert [m.conversation_id for m in inbound_rows] == [result.conversation.id] * 2
        assert inbound_rows[-1].text.startswith("Grazie, attendo.")


def test_with_no_mailbox_the_composer_warns_before_sending(client, personas, db):
    result = receive(db, personas.webform, inbound("Info", email="bruno@example.it"))
    login(client, personas.admin)
    picker = client.get(f"/c/{result.conversation.number}/reply-via").text
    assert "composer-warning" in picker
    assert "Nessun canale può raggiungere questo cliente" in picker
    assert "un modulo web non può portare risposte" in picker


def test_a_paused_mailbox_is_not_offered_and_a_stranger_channel_is_refused(
    client, personas, db, smtp
):
    paused = mailbox_for(db, personas, smtp, active=False)
    result = receive(db, personas.webform, inbound("Info", email="bruno@example.it"))
    number = result.conversation.number
    login(client, personas.admin)
    picker = client.get(f"/c/{number}/reply-via").text
    assert f'value="{paused.id}"' not in picker
    page = client.get(f"/c/{number}")
    refused = client.post(
        f"/c/{number}/messages",
        data={"text": "Ciao", "via": str(paused.id), "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "questo canale non può raggiungere questo cliente" in refused.text
    with db.session() as s:
        assert (
            s.scalars(select(Message).where(Message.direction == Direction.OUTBOUND)).first()
            is None
        )


def test_an_api_customer_with_an_email_is_offered_the_mailbox(client, personas, db, smtp):
    mailbox = mailbox_for(db, personas, smtp)
    result = receive(db, personas.api_channel, inbound("Ciao", provider_id="x1"))
    login(client, personas.admin)
    picker = client.get(f"/c/{result.conversation.number}/reply-via").text
    # the api channel has no reply URL: the mailbox is the default
    assert f'<option value="{mailbox.id}" selected>' in picker
    assert re.search(r"API · App \(non può recapitare\)", picker)


def test_the_api_lists_the_reply_options_in_the_callers_language(client, personas, db, smtp):
    from tests.api.helpers import make_token

    mailbox = mailbox_for(db, personas, smtp)
    result = receive(db, personas.webform, inbound("Info", email="bruno@example.it"))
    headers = {"Authorization": f"Bearer {make_token(db, personas.admin, ('read',))}"}
    response = client.get(
        f"/api/v1/conversations/{result.conversation.id}/reply-options", headers=headers
    )
    assert response.status_code == 200
    options = {o["channel_id"]: o for o in response.json()}
    assert options[personas.webform.id]["own"] and not options[personas.webform.id]["can_deliver"]
    assert "un modulo web non può portare risposte" in options[personas.webform.id]["problem"]
    assert options[mailbox.id]["can_deliver"] and options[mailbox.id]["default"]
    sara = {"Authorization": f"Bearer {make_token(db, personas.sara, ('read',))}"}
    other = client.get(
        f"/api/v1/conversations/{result.conversation.id}/reply-options", headers=sara
    )
    assert other.status_code == 404  # Sara is not in Vendite
