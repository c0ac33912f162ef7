"""GDPR: a customer's export (JSON and attachments in one ZIP), erasure and anonymisation
(rows, files on disk, the search index; the audit log keeps that it happened), consents, and
retention policies with their dry run and the durable job."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import func, select

from sportello.audit.models import AuditEntry
from sportello.channels.base import InboundAttachment
from sportello.config import get_settings
from sportello.conversations.models import Attachment, Conversation, Message, Status
from sportello.conversations.storage import path_for
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.customers.models import Customer, CustomerIdentity
from sportello.knowledge.models import MessageSearch
from sportello.privacy import actions, handlers
from sportello.privacy.models import Consent, RetentionPolicy
from tests.api.helpers import assert_problem, make_token
from tests.factories import csrf_from, inbound, login, receive

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.4 ricevuta d'acquisto di Mario Rossi"


def _customer_with_history(db, personas) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    message = inbound(
        "Vi allego la ricevuta, l'ordine 4471 non è arrivato.",
        attachments=[InboundAttachment("ricevuta.pdf", "application/pdf", PDF)],
    )
    received = receive(db, personas.api_channel, message)
    receive(db, personas.api_channel, inbound("Avete novità?"))
    with db.transaction() as s:
        conversation = s.get(Conversation, received.conversation_id)
        customer = s.get(Customer, conversation.customer_id)
        # the search index, as the indexer fills it
        for m in s.scalars(select(Message).where(Message.conversation_id == conversation.id)):
            s.merge(MessageSearch(message_id=m.id, conversation_id=conversation.id, terms="ordin"))
        actions.do_record_consent(
            s,
            customer=customer,
            purpose="sondaggi",
            source="chat",
            text="Accetto di ricevere un breve sondaggio dopo l'assistenza.",
        )
        sha = s.scalar(select(Attachment.sha256))
        return customer.id, sha


def test_admin_exports_and_erases_and_the_audit_log_shows_it(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    customer_id, sha = _customer_with_history(db, personas)
    file = path_for(get_settings().attachments_dir, sha)
    assert file.exists()
    login(client, personas.admin)
    page = client.get(f"/customers/{customer_id}/privacy", headers=HTML)
    assert "sondaggi" in page.text and "gdpr-erase" in page.text
    token = csrf_from(page.text)

    exported = client.post(f"/customers/{customer_id}/export", data={"csrf_token": token})
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    data = json.loads(archive.read("customer.json"))["data"]
    assert data["customer"][0]["name"] == "Mario Rossi"
    assert {i["value"] for i in data["customer_identity"]} == {"mario.rossi@example.it"}
    assert len(data["conversation_message"]) == 2
    assert "ricevuta" in data["conversation_message"][0]["text"]
    assert data["privacy_consent"][0]["purpose"] == "sondaggi"
    [attached] = [n for n in archive.namelist() if n.startswith("attachments/")]
    assert attached.endswith("ricevuta.pdf") and archive.read(attached) == PDF
    assert "kb_message_search" not in data

    wrong = client.post(
        f"/customers/{customer_id}/erase",
        data={"csrf_token": token, "mode": "erase", "confirm": "999"},
        headers=HTML,
    )
    assert wrong.status_code == 422  # the number must be typed: nothing erased
    erased = client.post(
        f"/customers/{customer_id}/erase",
        data={"csrf_token": token, "mode": "erase", "confirm": str(customer_id)},
        follow_redirects=False,
    )
    assert erased.status_code == 303
    with db.session() as s:
        assert s.get(Customer, customer_id) is None
        assert s.scalar(select(func.count()).select_from(CustomerIdentity)) == 0
        assert s.scalar(select(func.count()).select_from(Message)) == 0
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert s.scalar(select(func.count()).select_from(MessageSearch)) == 0
        assert s.scalar(select(func.count()).select_from(Consent)) == 0
    assert not file.exists()  # the bytes on disk too

    log = client.get(erased.headers["location"], headers=HTML)
    assert "customer.erased" in log.text and "customer.exported" in log.text
    with db.session() as s:
        entries = list(
            s.scalars(select(AuditEntry).where(AuditEntry.target_id == str(customer_id)))
        )
    assert {e.action for e in entries} >= {
        "customer.exported",
        "customer.erased",
        "consent.recorded",
    }
    assert all("Mario" not in json.dumps(e.details) + e.target_label for e in entries)


def test_anonymise_keeps_the_conversations_without_personal_data(db, personas) -> None:  # type: ignore[no-untyped-def]
    customer_id, sha = _customer_with_history(db, personas)
    with db.transaction() as s:
        counts = actions.do_erase_customer(
            s, customer=s.get(Customer, customer_id), mode="anonymise"
        )
    assert counts["conversation_message"] == 2
    with db.session() as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None and customer.name == "" and customer.identities == []
        texts = list(s.scalars(select(Message.text)))
        assert texts == ["", ""]
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert s.scalar(select(func.count()).select_from(Conversation)) == 1
    assert not path_for(get_settings().attachments_dir, sha).exists()


def test_api_export_erase_and_consents(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    customer_id, _ = _customer_with_history(db, personas)
    admin = {"authorization": f"Bearer {make_token(db, personas.admin, ['admin'])}"}
    agent = {"authorization": f"Bearer {make_token(db, personas.sara)}"}
    consents = client.get(f"/api/v1/customers/{customer_id}/consents", headers=admin).json()
    assert [c["purpose"] for c in consents] == ["sondaggi"]
    bad = client.post(
        f"/api/v1/customers/{customer_id}/consents",
        json={"purpose": "", "source": "telefono", "text": "ok"},
        headers=admin,
    )
    assert "purpose" in json.dumps(assert_problem(bad, 422))
    withdrawn = client.post(
        f"/api/v1/customers/{customer_id}/consents/{consents[0]['id']}/withdraw", headers=admin
    )
    assert withdrawn.json()["withdrawn_at"]
    assert client.get(f"/api/v1/customers/{customer_id}/export", headers=agent).status_code == 403
    assert (
        client.post(f"/api/v1/customers/{customer_id}/erase", json={}, headers=agent).status_code
        == 403
    )
    zipped = client.get(f"/api/v1/customers/{customer_id}/export", headers=admin)
    assert zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()[0] == "customer.json"
    bad_mode = client.post(
        f"/api/v1/customers/{customer_id}/erase", json={"mode": "burn"}, headers=admin
    )
    assert_problem(bad_mode, 422)
    done = client.post(f"/api/v1/customers/{customer_id}/erase", json={}, headers=admin)
    assert done.status_code == 200 and done.json()["rows"]["customer"] == 1
    assert client.get(f"/api/v1/customers/{customer_id}", headers=admin).status_code == 404


def test_retention_dry_run_then_the_job(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    old = receive(db, personas.api_channel, inbound("Vecchia richiesta", email="a@example.it"))
    new = receive(db, personas.api_channel, inbound("Richiesta recente", email="b@example.it"))
    with db.transaction() as s:
        for cid in (old.conversation_id, new.conversation_id):
            c = s.get(Conversation, cid)
            c.status = Status.CLOSED
            c.closed_at = utcnow() - (
                timedelta(days=400) if cid == old.conversation_id else timedelta(days=2)
            )
    admin = {"authorization": f"Bearer {make_token(db, personas.admin, ['admin'])}"}
    bad = client.post(
        "/api/v1/privacy/retention-policies",
        json={"kind": "closed_conversations", "days": 0},
        headers=admin,
    )
    assert_problem(bad, 422)
    created = client.post(
        "/api/v1/privacy/retention-policies",
        json={"kind": "closed_conversations", "days": 365, "channel_id": personas.api_channel.id},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    policy_id = created.json()["id"]
    dry = client.get(f"/api/v1/privacy/retention-policies/{policy_id}/dry-run", headers=admin)
    assert dry.json()["due"] == 1
    login(client, personas.admin)
    page = client.get("/admin/privacy", headers=HTML)
    assert 'data-due="1"' in page.text
    with db.session() as s:  # saving the policy scheduled the nightly run
        assert s.scalar(
            select(func.count()).select_from(jobs.Job).where(jobs.Job.kind == handlers.JOB)
        )
    handlers.run_retention(db, {"scheduled": False})
    with db.session() as s:
        assert s.get(Conversation, old.conversation_id) is None
        assert s.get(Conversation, new.conversation_id) is not None
        policy = s.get(RetentionPolicy, policy_id)
        assert policy.last_run_count == 1
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "retention.applied"))
