"""Side conversations over real mail servers (aiosmtpd out, Dovecot in): the side mail goes
out with the quoted customer message, the colleague's answer comes back and lands as an
internal message on the right conversation; a forged reply token does not."""

from __future__ import annotations

from email import message_from_bytes, policy

from sqlalchemy import select

from sportello.channels.email.imap import poll_mailbox
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core.dispatcher import Dispatcher
from sportello.departments import actions, links
from sportello.departments.models import (
    Department,
    SideConversation,
    SideDirection,
    SideMessage,
    SideStatus,
)
from tests.channels.email.conftest import eml


def _department(db, personas) -> int:
    with db.transaction() as s:
        return actions.do_save_department(
            s,
            brand_id=personas.brand_id,
            department=None,
            name="Logistica",
            emails="magazzino@negozio.it, spedizioni@negozio.it",
            description="Magazzino e spedizioni",
        ).id


def _customer_conversation(db, mailbox, dovecot, mail_user, subject: str, body: str) -> int:
    dovecot.append(mail_user, eml(subject=subject, body=body))
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        return s.scalars(select(Conversation.id).where(Conversation.subject == subject)).one()


def test_side_mail_out_answer_in_lands_as_internal_message(
    db, personas, mailbox, dovecot, smtp, mail_user
):
    dept_id = _department(db, personas)
    conv_id = _customer_conversation(
        db, mailbox, dovecot, mail_user, "Pacco danneggiato", "Il pacco è arrivato rotto."
    )
    other_id = _customer_conversation(
        db, mailbox, dovecot, mail_user, "Altra domanda", "Avete il modello blu?"
    )
    with db.transaction() as s:
        conversation = s.get(Conversation, conv_id)
        customer_msg = s.scalars(
            select(Message).where(
                Message.conversation_id == conv_id, Message.direction == Direction.INBOUND
            )
        ).one()
        side = actions.do_open_side_conversation(
            s,
            conversation=conversation,
            author=personas.sara,
            department=s.get(Department, dept_id),
            to="",
            subject="Pacco rotto, ordine 4521",
            text="Potete verificare come è stato imballato?",
            quote_message_ids=[customer_msg.id],
        )
        side_id = side.id
    Dispatcher(db).drain()

    assert len(smtp.messages) == 1
    sent_env = smtp.messages[0]
    assert sorted(sent_env.rcpt_tos) == ["magazzino@negozio.it", "spedizioni@negozio.it"]
    sent = message_from_bytes(sent_env.data, policy=policy.default)
    assert sent["Subject"] == "Pacco rotto, ordine 4521"
    assert "[#" not in sent["Subject"]  # never threads into a customer conversation
    reply_to = sent["Reply-To"]
    assert reply_to.startswith(f"assistenza+side-{side_id}-") and reply_to.endswith("@negozio.it")
    body = sent.get_body(("plain",)).get_content()
    assert "Potete verificare" in body
    assert "> Il pacco è arrivato rotto." in body  # the quoted message the agent picked
    with db.session() as s:
        out = s.scalars(
            select(SideMessage).where(SideMessage.side_conversation_id == side_id)
        ).one()
        assert out.sent_at is not None and out.provider_message_id == sent["Message-ID"]

    # The colleague answers (to the plus address, threaded under the side mail).
    dovecot.append(
        mail_user,
        eml(
            sender="Paolo Magazzino <magazzino@negozio.it>",
            to=reply_to,
            subject="Re: Pacco rotto, ordine 4521",
            body="Imballo standard, rimandiamo il pezzo domani.\n\n> Potete verificare?",
            message_id="<risposta-1@negozio.it>",
            headers={"In-Reply-To": sent["Message-ID"]},
        ),
    )
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        notes = s.scalars(
            select(Message).where(Message.direction == Direction.NOTE).order_by(Message.id)
        ).all()
        answer = notes[-1]
        assert answer.conversation_id == conv_id
        assert answer.author_id is None and "Paolo" in answer.sender_name
        assert answer.text.startswith("Imballo standard")
        assert answer.meta["side"] == {
            "id": side_id, "direction": "in", "from": "magazzino@negozio.it",
            "subject": "Pacco rotto, ordine 4521", "automated": False,
        }  # fmt: skip
        # No new conversation, no inbound customer message from the colleague.
        assert len(s.scalars(select(Conversation)).all()) == 2
        assert not s.scalars(
            select(Message).where(
                Message.direction == Direction.INBOUND, Message.sender_name.like("%Paolo%")
            )
        ).all()
        inbound_side = s.scalars(
            select(SideMessage).where(SideMessage.direction == SideDirection.IN)
        ).one()
        assert inbound_side.conversation_message_id == answer.id
        assert not s.scalars(
            select(Message).where(
                Message.conversation_id == other_id, Message.direction == Direction.NOTE
            )
        ).all()

    # The agent writes again in the thread, then closes it.
    with db.transaction() as s:
        side = s.get(SideConversation, side_id)
        actions.do_reply_side(
            s,
            side=side,
            conversation=s.get(Conversation, conv_id),
            author=personas.sara,
            text="Grazie, avviso il cliente.",
        )
    Dispatcher(db).drain()
    again = message_from_bytes(smtp.messages[-1].data, policy=policy.default)
    assert again["Subject"] == "Re: Pacco rotto, ordine 4521"
    assert again["In-Reply-To"] == "<risposta-1@negozio.it>"
    with db.transaction() as s:
        actions.do_close_side(s, side=s.get(SideConversation, side_id), author=personas.sara)
    with db.session() as s:
        assert s.get(SideConversation, side_id).status == SideStatus.CLOSED


def test_a_forged_token_does_not_reach_the_conversation(
    db, personas, mailbox, dovecot, smtp, mail_user
):
    conv_id = _customer_conversation(
        db, mailbox, dovecot, mail_user, "Fattura sbagliata", "La fattura ha la P.IVA errata."
    )
    with db.transaction() as s:
        side = actions.do_open_side_conversation(
            s,
            conversation=s.get(Conversation, conv_id),
            author=personas.sara,
            department=None,
            to="amministrazione@negozio.it",
            subject="P.IVA in fattura",
            text="Potete correggere?",
        )
        side_id = side.id
    Dispatcher(db).drain()
    good = links.reply_address("assistenza@negozio.it", side_id)
    forged = (
        good[: -len("@negozio.it") - 1]
        + ("0" if good[-len("@negozio.it") - 1] != "0" else "1")
        + "@negozio.it"
    )
    assert links.side_from_address(good) == side_id
    assert links.side_from_address(forged) is None
    dovecot.append(
        mail_user,
        eml(
            sender="Estraneo <intruso@example.com>",
            to=forged,
            subject="Re: P.IVA in fattura",
            body="Pagate su questo IBAN",
            message_id="<falso-1@example.com>",
            headers={"In-Reply-To": f"<sportello.side{side_id}.1.00000000000000000000@negozio.it>"},
        ),
    )
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        notes = s.scalars(
            select(Message).where(
                Message.conversation_id == conv_id, Message.direction == Direction.NOTE
            )
        ).all()
        assert all("IBAN" not in n.text for n in notes)
        assert not s.scalars(
            select(SideMessage).where(SideMessage.direction == SideDirection.IN)
        ).all()
        # It went through the customer door instead: a stranger's own conversation.
        stranger = s.scalars(select(Message).where(Message.text.like("%IBAN%"))).one()
        assert stranger.direction == Direction.INBOUND and stranger.conversation_id != conv_id


def test_side_reply_with_nul_bytes_and_script_html_is_cleaned(
    db, personas, mailbox, dovecot, smtp, mail_user
):
    conv_id = _customer_conversation(
        db, mailbox, dovecot, mail_user, "Reso", "Vorrei fare un reso."
    )
    with db.transaction() as s:
        side_id = actions.do_open_side_conversation(
            s,
            conversation=s.get(Conversation, conv_id),
            author=personas.sara,
            department=None,
            to="resi@negozio.it",
            subject="Reso cliente",
            text="Come procediamo?",
        ).id
    Dispatcher(db).drain()
    raw = (
        "From: Resi <resi@negozio.it>\r\n"
        f"To: {links.reply_address('assistenza@negozio.it', side_id)}\r\n"
        "Subject: Re: Reso cliente\r\n"
        "Message-ID: <resi-html-1@negozio.it>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n\r\n'
        "<p>Procedete\x00 pure</p><script>alert(1)</script><img src=x onerror=alert(2)>\r\n"
    ).encode()
    dovecot.append(mail_user, raw)
    poll_mailbox(db, mailbox.id)
    with db.session() as s:
        note = s.scalars(
            select(Message)
            .where(Message.conversation_id == conv_id, Message.direction == Direction.NOTE)
            .order_by(Message.id.desc())
        ).first()
        assert note.meta["side"]["direction"] == "in"
        assert "\x00" not in note.text
        assert "Procedete" in note.text
        assert "<script" not in (note.html or "") and "onerror" not in (note.html or "")
