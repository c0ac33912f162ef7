"""Departments, hand-offs and side conversations through the API and the pages: roles, the
hand-off mail with its signed link, the outcome set by the department without an account,
the event for webhooks and rules, and bad input."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from sqlalchemy import select

from sportello.audit.models import AuditEntry
from sportello.conversations.models import Direction, Message
from sportello.core.dispatcher import Dispatcher
from sportello.core.outbox import OutboxEvent
from sportello.departments import links
from sportello.departments.models import Handoff, HandoffStatus
from tests.factories import csrf_from, inbound, login, receive


def _conversation(db, personas):
    return receive(db, personas.api_channel, inbound(provider_id="h-1")).conversation


def _department(client, auth, personas, name="Vendite", emails=("vendite@negozio.it",)):
    response = client.post(
        "/api/v1/departments",
        json={"name": name, "emails": list(emails), "description": "Ufficio commerciale"},
        headers=auth(personas.admin, ("read", "write", "admin")),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_departments_are_managed_by_admins_and_audited(db, client, auth, personas):
    agent = auth(personas.sara)
    denied = client.post(
        "/api/v1/departments", json={"name": "X", "emails": ["x@negozio.it"]}, headers=agent
    )
    assert denied.status_code == 403
    dept_id = _department(client, auth, personas)
    assert [d["name"] for d in client.get("/api/v1/departments", headers=agent).json()] == [
        "Vendite"
    ]
    bad = client.post(
        "/api/v1/departments",
        json={"name": "Tecnico", "emails": ["non-un-indirizzo"]},
        headers=auth(personas.admin, ("read", "write", "admin")),
    )
    assert bad.status_code == 422
    with db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "department.created")).one()
        assert entry.target_id == str(dept_id)


def test_handoff_mail_signed_link_outcome_and_event(db, client, auth, personas, mailbox, smtp):
    conversation = _conversation(db, personas)
    dept_id = _department(client, auth, personas)
    # Luca (Vendite team) cannot see Sara's conversation: he cannot hand it off either.
    hidden = client.post(
        f"/api/v1/conversations/{conversation.number}/handoffs",
        json={"department_id": dept_id, "kind": "sales", "summary": "x"},
        headers=auth(personas.luca),
    )
    assert hidden.status_code == 404
    created = client.post(
        f"/api/v1/conversations/{conversation.number}/handoffs",
        json={
            "department_id": dept_id,
            "kind": "sales",
            "summary": "Il cliente vuole 40 sedie per il ristorante: preventivo?",
        },
        headers=auth(personas.sara),
    )
    assert created.status_code == 201, created.text
    handoff_id = created.json()["id"]
    assert created.json()["context"]["customer"]["name"] == "Mario Rossi"
    Dispatcher(db).drain()

    assert len(smtp.messages) == 1
    assert smtp.messages[0].rcpt_tos == ["vendite@negozio.it"]
    mail = message_from_bytes(smtp.messages[0].data, policy=policy.default)
    assert mail["Subject"].startswith("[Vendite] Opportunità di vendita: Mario Rossi")
    body = mail.get_body(("plain",)).get_content()
    assert "40 sedie" in body and "mario.rossi@example.it" in body
    link = re.search(r"http\S+/h/(\S+)", body)
    assert link is not None
    token = link.group(1)
    assert links.handoff_id_from(token) == handoff_id

    # The department member opens the link (no account) and sets the outcome.
    client.cookies.clear()
    page = client.get(f"/h/{token}")
    assert page.status_code == 200 and "40 sedie" in page.text
    saved = client.post(
        f"/h/{token}",
        data={
            "status": "won",
            "note": "Ordine firmato",
            "by": "Anna Vendite",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 200, saved.text
    assert 'id="handoff-saved"' in saved.text
    with db.session() as s:
        handoff = s.get(Handoff, handoff_id)
        assert handoff.status == HandoffStatus.WON and handoff.outcome_by == "Anna Vendite"
        note = s.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.direction == Direction.NOTE)
            .order_by(Message.id.desc())
        ).first()
        assert note.text == "Ordine firmato" and note.meta["handoff"]["status"] == "won"
        changes = [
            e.payload
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == "handoff.changed"))
        ]
        assert [(c["status"], c["previous_status"]) for c in changes] == [
            ("open", None),
            ("won", "open"),
        ]

    # A forged or tampered link is refused; a bad outcome is a translated 422.
    assert client.get(f"/h/{token[:-2]}xx").status_code == 404
    again = client.get(f"/h/{token}?lang=en")
    bad = client.post(
        f"/h/{token}?lang=en",
        data={"status": "stolen", "note": "", "csrf_token": csrf_from(again.text)},
    )
    assert bad.status_code == 422 and "choose from the list" in bad.text.lower()
    nul = client.post(
        f"/h/{token}",
        data={"status": "lost", "note": "a\x00b", "csrf_token": csrf_from(again.text)},
    )
    assert nul.status_code == 422

    # Supervisors see the list and the counts; agents do not.
    assert client.get("/api/v1/handoffs", headers=auth(personas.sara)).status_code == 403
    listed = client.get(
        "/api/v1/handoffs", params={"status": "done"}, headers=auth(personas.supervisor)
    )
    assert [h["id"] for h in listed.json()] == [handoff_id]
    counts = client.get("/api/v1/handoffs/counts", headers=auth(personas.supervisor)).json()
    assert counts == [
        {"department_id": dept_id, "department": "Vendite", "status": "won", "count": 1}
    ]
    login(client, personas.supervisor)
    page = client.get("/handoffs", params={"department": dept_id, "status": "won"})
    assert page.status_code == 200 and "Mario Rossi" in page.text


def test_bad_input_on_side_conversations(db, client, auth, personas, mailbox):
    conversation = _conversation(db, personas)
    url = f"/api/v1/conversations/{conversation.number}/side-conversations"
    headers = auth(personas.sara)
    nul = client.post(
        url, json={"to": "a@negozio.it", "subject": "x", "text": "a\x00b"}, headers=headers
    )
    assert nul.status_code == 422
    big = client.post(
        url, json={"to": "a@negozio.it", "subject": "x", "text": "a" * 20_001}, headers=headers
    )
    assert big.status_code == 422
    bad_to = client.post(url, json={"to": "<script>", "subject": "x", "text": "y"}, headers=headers)
    assert bad_to.status_code == 422
    foreign = client.post(
        url,
        json={"to": "a@negozio.it", "subject": "x", "text": "y", "quote_message_ids": [999999]},
        headers=headers,
    )
    assert foreign.status_code == 422
    huge_id = client.post("/api/v1/side-conversations/99999999999999/close", headers=headers)
    assert huge_id.status_code in (404, 422)
    missing = client.post("/api/v1/side-conversations/123456/close", headers=headers)
    assert missing.status_code == 404
    ok = client.post(
        url,
        json={"to": "magazzino@negozio.it", "subject": "Giacenza", "text": "Avete il modello blu?"},
        headers=headers,
    )
    assert ok.status_code == 201, ok.text
    side = ok.json()
    assert side["status"] == "open" and side["messages"][0]["text"] == "Avete il modello blu?"
    closed = client.post(f"/api/v1/side-conversations/{side['id']}/close", headers=headers)
    assert closed.json()["status"] == "closed"
    refused = client.post(
        f"/api/v1/side-conversations/{side['id']}/messages",
        json={"text": "ancora"},
        headers=headers,
    )
    assert refused.status_code == 409
    # Another team's agent cannot see it.
    assert (
        client.post(
            f"/api/v1/side-conversations/{side['id']}/reopen", headers=auth(personas.luca)
        ).status_code
        == 404
    )
