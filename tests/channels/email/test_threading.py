"""Threading, receipts and the quarantine, through the real ingest path (raw stored, parsed, the
one door) without a network: In-Reply-To/References first, then [#number], then a new
conversation; PEC receipts and bounces attach to the message they report on."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sportello.channels.email import actions, ingest
from sportello.channels.email.models import EmailRaw, RawStatus
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Direction, Message
from sportello.core.db import Database
from tests.channels.email.conftest import eml, make_mailbox
from tests.factories import csrf_from, login

CORPUS = Path(__file__).parent / "corpus"
_uids = itertools.count(1)


@pytest.fixture
def channel(db, personas):
    return make_mailbox(
        db,
        personas,
        {
            "address": "supporto@acme.it",
            "imap_host": "imap.acme.invalid",
            "imap_password": "x-imap-password",
            "smtp_host": "smtp.acme.invalid",
        },
    )


def ingest_raw(db: Database, channel, data: bytes) -> EmailRaw:
    with db.transaction() as s:
        raw_id = actions.do_store_raw(
            s, channel_id=channel.id, folder="INBOX", uidvalidity=1, uid=next(_uids), data=data
        )
    ingest.process_pending(db, channel.id)
    with db.session() as s:
        return s.get(EmailRaw, raw_id)


def conversation_of(db, raw: EmailRaw) -> int:
    with db.session() as s:
        return s.get(Message, raw.conversation_message_id).conversation_id


def sent_reply(db, personas, conversation_id: int, provider_id: str) -> int:
    """An agent's reply that went out with ``provider_id`` as its Message-ID."""
    with db.transaction() as s:
        message = conversations_actions.do_send_reply(
            s, conversation=s.get(Conversation, conversation_id), author=personas.sara, text="Ok."
        )
        conversations_actions.do_mark_delivery(
            s, message=message, state=DeliveryState.SENT, provider_message_id=provider_id
        )
        return message.id


def test_references_thread_even_without_in_reply_to(db, channel):
    first = ingest_raw(db, channel, eml(message_id="<a@example.it>"))
    later = ingest_raw(
        db,
        channel,
        eml(
            message_id="<b@example.it>",
            subject="altro",
            headers={"References": "<x@y> <a@example.it>"},
        ),
    )
    assert conversation_of(db, first) == conversation_of(db, later)


def test_subject_number_threads_for_the_same_customer_only(db, personas, channel):
    first = ingest_raw(db, channel, eml(message_id="<n1@example.it>"))
    conversation_id = conversation_of(db, first)
    with db.transaction() as s:  # resolved, so the "latest open conversation" rule cannot help
        conversation = s.get(Conversation, conversation_id)
        conversations_actions.do_change_status(
            s, conversation=conversation, status=conversations_actions.Status.RESOLVED, by=None
        )
        number = conversation.number
    same = ingest_raw(
        db, channel, eml(message_id="<n2@example.it>", subject=f"R: qualcosa [#{number}]")
    )
    other = ingest_raw(
        db,
        channel,
        eml(
            message_id="<n3@example.it>", sender="estraneo@example.com", subject=f"[#{number}] ciao"
        ),
    )
    assert conversation_of(db, same) == conversation_id
    assert conversation_of(db, other) != conversation_id


def test_a_new_subject_without_references_from_a_resolved_thread_is_new(db, channel):
    first = ingest_raw(db, channel, eml(message_id="<r1@example.it>"))
    with db.transaction() as s:
        conversation = s.get(Conversation, conversation_of(db, first))
        conversations_actions.do_change_status(
            s, conversation=conversation, status=conversations_actions.Status.CLOSED, by=None
        )
    second = ingest_raw(db, channel, eml(message_id="<r2@example.it>", subject="Nuova domanda"))
    assert conversation_of(db, second) != conversation_of(db, first)


def test_the_same_message_id_twice_is_one_message(db, channel):
    a = ingest_raw(db, channel, eml(message_id="<twice@example.it>"))
    b = ingest_raw(db, channel, eml(message_id="<twice@example.it>"))
    assert (a.outcome, b.outcome) == ("message", "duplicate")
    with db.session() as s:
        assert s.scalar(select(func.count(Message.id))) == 1


def test_pec_receipts_attach_to_the_outbound_message(db, personas, channel):
    start = ingest_raw(
        db, channel, eml(message_id="<pec-start@example.it>", sender="x@pec.example.it")
    )
    reply_id = sent_reply(db, personas, conversation_of(db, start), "<ticket-3000-1@acme.it>")

    accepted = ingest_raw(db, channel, (CORPUS / "pec_accettazione.eml").read_bytes())
    delivered = ingest_raw(db, channel, (CORPUS / "pec_avvenuta_consegna.eml").read_bytes())

    assert (accepted.outcome, delivered.outcome) == ("pec", "pec")
    with db.session() as s:
        message = s.get(Message, reply_id)
        assert message.delivery_state == DeliveryState.DELIVERED
        assert [r["kind"] for r in message.meta["pec"]] == ["accettazione", "avvenuta-consegna"]
        # Receipts are never customer messages.
        inbound = s.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()
        assert len(inbound) == 1


def test_pec_non_delivery_fails_the_outbound_message(db, personas, channel):
    start = ingest_raw(db, channel, eml(message_id="<pec2@example.it>", sender="x@pec.example.it"))
    reply_id = sent_reply(db, personas, conversation_of(db, start), "<ticket-3000-1@acme.it>")
    ingest_raw(db, channel, (CORPUS / "pec_errore_consegna.eml").read_bytes())
    with db.session() as s:
        message = s.get(Message, reply_id)
        assert message.delivery_state == DeliveryState.FAILED
        assert "errore-consegna" in message.error


def test_a_pec_envelope_is_the_customer_message_inside(db, channel):
    raw = ingest_raw(db, channel, (CORPUS / "pec_envelope.eml").read_bytes())
    with db.session() as s:
        message = s.get(Message, raw.conversation_message_id)
        assert message.provider_message_id == "<customer-msg-1@pec.example.it>"
        assert s.get(Conversation, message.conversation_id).customer.identities[0].value == (
            "cliente@pec.example.it"
        )


@pytest.mark.parametrize(
    ("name", "original"),
    [
        ("dsn_permanent.eml", "<ticket-2500-4@acme.it>"),
        ("exchange_ndr.eml", "<ticket-2700-1@acme.it>"),
    ],
)
def test_corpus_bounces_fail_the_reply(db, personas, channel, name, original):
    start = ingest_raw(db, channel, eml(message_id=f"<start-{name}@example.it>"))
    reply_id = sent_reply(db, personas, conversation_of(db, start), original)
    raw = ingest_raw(db, channel, (CORPUS / name).read_bytes())
    assert raw.outcome == "bounce"
    with db.session() as s:
        message = s.get(Message, reply_id)
        assert message.delivery_state == DeliveryState.FAILED
        assert message.error.startswith("Bounced: ")


def test_a_bounce_for_mail_we_did_not_send_is_stored_as_automated(db, channel):
    raw = ingest_raw(db, channel, (CORPUS / "dsn_permanent.eml").read_bytes())
    assert raw.outcome == "message"
    with db.session() as s:
        message = s.get(Message, raw.conversation_message_id)
        assert message.meta["automated"] is True and message.meta["email"]["bounce"] is True


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_every_corpus_message_is_ingested_without_quarantine(db, channel, path):
    raw = ingest_raw(db, channel, path.read_bytes())
    assert raw.status == RawStatus.PROCESSED, raw.error


def test_quarantined_message_is_processed_again_after_a_fix(db, channel, test_settings):
    import base64
    import hashlib
    import os
    import shutil

    root = test_settings.attachments_dir
    root.mkdir(parents=True, exist_ok=True)
    while True:  # an attachment whose storage folder does not exist yet
        data = os.urandom(64)
        blocked = root / hashlib.sha256(data).hexdigest()[:2]
        if not blocked.exists():
            break
    blocked.write_text("not a folder")  # the disk is in a bad state: storing fails
    encoded = base64.b64encode(data).decode()
    body = (
        "--b\nContent-Type: text/plain\n\nIn allegato.\n--b\nContent-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="a.pdf"\nContent-Transfer-Encoding: base64\n\n'
        f"{encoded}\n--b--"
    )
    raw = ingest_raw(
        db,
        channel,
        eml(message_id="<fix-me@example.it>", body=body).replace(
            b'Content-Type: text/plain; charset="utf-8"',
            b'Content-Type: multipart/mixed; boundary="b"',
        ),
    )
    assert raw.status == RawStatus.QUARANTINED, raw.error
    with db.session() as s:
        assert s.scalar(select(func.count(Message.id))) == 0
    blocked.unlink()  # fixed
    with db.transaction() as s:
        assert ingest.reprocess(s, raw=s.get(EmailRaw, raw.id)) == "processed"
    with db.session() as s:
        message = s.scalars(select(Message)).one()
        assert [a.filename for a in message.attachments] == ["a.pdf"]
    shutil.rmtree(blocked, ignore_errors=True)


def test_quarantine_pages_are_for_admins_and_reprocess(db, personas, channel, client):
    data = b"Subject: no sender\r\nMessage-ID: <q@x>\r\n\r\nhello\r\n"
    raw = ingest_raw(db, channel, data)
    assert raw.status == RawStatus.QUARANTINED

    login(client, personas.sara)
    assert client.get("/admin/email/quarantine").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/profile").text)})

    login(client, personas.admin)
    page = client.get("/admin/email/quarantine")
    assert page.status_code == 200
    assert "no sender" in page.text and f"/admin/email/quarantine/{raw.id}/reprocess" in page.text
    download = client.get(f"/admin/email/quarantine/{raw.id}/raw")
    assert download.content == data
    assert client.post(f"/admin/email/quarantine/{raw.id}/reprocess").status_code == 403  # CSRF
    done = client.post(
        f"/admin/email/quarantine/{raw.id}/reprocess",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with db.session() as s:
        assert s.get(EmailRaw, raw.id).attempts == 2


def test_mailbox_pages_create_and_never_show_passwords(db, personas, client):
    login(client, personas.admin)
    page = client.get("/admin/email/mailboxes/new")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "Assistenza",
        "address": "info@negozio.it",
        "imap_host": "imap.negozio.invalid",
        "imap_password": "Password-Imap-77",
        "smtp_host": "smtp.negozio.invalid",
        "queue_id": str(personas.queue_assistenza.id),
        "active": "1",
    }
    bad = client.post("/admin/email/mailboxes", data={**form, "address": "not-an-address"})
    assert bad.status_code == 422 and "Password-Imap-77" not in bad.text
    created = client.post("/admin/email/mailboxes", data=form, follow_redirects=False)
    assert created.status_code == 303
    edit = client.get(created.headers["location"])
    assert edit.status_code == 200
    assert "imap.negozio.invalid" in edit.text and "Password-Imap-77" not in edit.text
    # Saving without a password keeps the stored one; a new one replaces it.
    channel_id = int(created.headers["location"].rsplit("/", 1)[1])
    with db.session() as s:
        from sportello.channels.models import Channel

        before = dict(s.get(Channel, channel_id).secrets)
        assert before and all("Password-Imap-77" not in v for v in before.values())
    client.post(
        created.headers["location"], data={**form, "imap_password": "", "display_name": "Negozio"}
    )
    with db.session() as s:
        channel = s.get(Channel, channel_id)
        assert channel.secrets == before and channel.settings["display_name"] == "Negozio"


def test_a_large_message_is_kept_on_disk_and_processed(db, channel):
    import base64
    import os

    payload = os.urandom(400 * 1024)
    body = (
        "--b\nContent-Type: text/plain\n\nFoto del danno.\n--b\nContent-Type: image/jpeg\n"
        'Content-Disposition: attachment; filename="danno.jpg"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(payload).decode() + "--b--"
    )
    data = eml(message_id="<big@example.it>", body=body).replace(
        b'Content-Type: text/plain; charset="utf-8"', b'Content-Type: multipart/mixed; boundary="b"'
    )
    raw = ingest_raw(db, channel, data)
    assert raw.status == RawStatus.PROCESSED
    assert actions.raw_path(raw.sha256).read_bytes() == data
    with db.session() as s:
        assert actions.read_raw(s, raw.id) == data
        message = s.get(Message, raw.conversation_message_id)
        assert message.attachments[0].size == len(payload)
