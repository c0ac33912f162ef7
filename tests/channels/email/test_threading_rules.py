"""Email threading as in Zendesk and Zammad, through the real ingest path with real mail:

- a reply (In-Reply-To/References) joins its conversation, but only for the same customer: a
  stranger who knows a message id starts their own case;
- a new message without reply headers about another subject starts a new conversation even
  while the customer has one open; the same subject ("R: ...") still joins it;
- the timeline shows the new text, with the quoted history folded one click away.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sportello.conversations.models import Conversation, Message
from tests.channels.email.conftest import eml
from tests.channels.email.test_threading import (
    channel,  # noqa: F401  (fixture)
    conversation_of,
    ingest_raw,
    sent_reply,
)
from tests.factories import login

CORPUS = Path(__file__).parent / "corpus"
MARIO = "Mario Rossi <mario.rossi@gmail.com>"


@pytest.fixture
def mario_thread(db, personas, channel):  # noqa: F811
    """Mario's open conversation, with our reply sent as <ticket-1042-2@acme.it>."""
    first = ingest_raw(
        db,
        channel,
        eml(sender=MARIO, subject="Problema con la fattura", message_id="<m1@mail.gmail.com>"),
    )
    conversation_id = conversation_of(db, first)
    sent_reply(db, personas, conversation_id, "<ticket-1042-2@acme.it>")
    return conversation_id


def test_a_reply_from_the_customer_joins_the_thread(db, channel, mario_thread):  # noqa: F811
    raw = ingest_raw(db, channel, (CORPUS / "gmail_reply_it.eml").read_bytes())
    assert conversation_of(db, raw) == mario_thread


def test_a_stranger_with_the_message_id_starts_their_own_case(db, channel, mario_thread):  # noqa: F811
    raw = ingest_raw(db, channel, (CORPUS / "mutt_stranger_reference.eml").read_bytes())
    theirs = conversation_of(db, raw)
    assert theirs != mario_thread
    with db.session() as s:
        conversation = s.get_one(Conversation, theirs)
        assert conversation.customer.identities[0].value == "curioso@example.com"
        # Mario's conversation holds only his message and our reply.
        texts = s.scalars(select(Message.text).where(Message.conversation_id == mario_thread))
        assert not any("anche a me" in t for t in texts)


def test_a_new_subject_without_reply_headers_is_a_new_case(db, channel, mario_thread):  # noqa: F811
    raw = ingest_raw(db, channel, (CORPUS / "gmail_new_topic_it.eml").read_bytes())
    new = conversation_of(db, raw)
    assert new != mario_thread
    with db.session() as s:
        assert s.get_one(Conversation, new).subject == "Cambio taglia per il plaid"
        assert s.get_one(Conversation, mario_thread).status.value in ("new", "open", "pending")


@pytest.mark.parametrize(
    "subject",
    ["Problema con la fattura", "R: Problema con la fattura", "RE: Re:  problema CON la fattura"],
)
def test_the_same_subject_without_headers_joins_the_open_case(db, channel, mario_thread, subject):  # noqa: F811
    raw = ingest_raw(db, channel, eml(sender=MARIO, subject=subject, body="Ancora io, Mario."))
    assert conversation_of(db, raw) == mario_thread


def test_the_timeline_folds_the_quoted_history(client, db, personas, channel, mario_thread):  # noqa: F811
    raw = ingest_raw(db, channel, (CORPUS / "gmail_reply_it.eml").read_bytes())
    with db.session() as s:
        message = s.get_one(Message, raw.conversation_message_id)
        number = s.get_one(Conversation, mario_thread).number
        assert message.meta["email"]["visible_text"]  # the quote-free text, stored at ingest
    login(client, personas.sara)  # Italian
    page = client.get(f"/c/{number}").text
    bubble = page.split(f'id="m{message.id}"')[1].split("</li>")[0]
    shown, folded = bubble.split('<details class="msg-quoted">')
    assert "la fattura è ancora sbagliata" in shown
    assert "abbiamo corretto la fattura n. 12" not in shown
    assert "abbiamo corretto la fattura n. 12" in folded
    assert "Mostra il messaggio completo" in folded
