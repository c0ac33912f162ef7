"""Imports from real-shaped files: CSV customers (Windows-1252, Italian headers), CSV
conversations, Zendesk, Freshdesk and Zammad JSON; dry runs that write nothing; re-runs that
create nothing twice; bad input; the page, the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core.dispatcher import Dispatcher
from sportello.core.errors import InvalidInput
from sportello.core.outbox import OutboxEvent
from sportello.customers.models import Customer, CustomerIdentity
from sportello.imports import actions, readers
from sportello.imports.models import ImportJob, ImportSourceMap
from tests.api.helpers import make_token
from tests.factories import csrf_from, login

DATA = Path(__file__).parent / "data"


def _run(db, personas, name: str, fmt: str, *, dry_run: bool = False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    data = (DATA / name).read_bytes()
    with db.transaction() as s:
        job = actions.do_create_import(
            s,
            brand_id=personas.brand_id,
            user=None,
            fmt=fmt,
            filename=name,
            data=data,
            start=not dry_run,
            queue=False,
        )
        import_id = job.id
    return actions.run_import(db, import_id, dry_run=dry_run)


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_csv_customers_cp1252_italian_headers_dedup_and_rerun(db, personas) -> None:  # type: ignore[no-untyped-def]
    before_events = _count(db, OutboxEvent)
    result = _run(db, personas, "clienti.csv", "csv-customers")
    assert result["created"] == {"customers": 3}
    assert result["columns"]["first_name"] == "Nome" and result["columns"]["last_name"] == "Cognome"
    lines = {(e["line"], e["message"]) for e in result["errors"]}
    assert (5, "no e-mail address or phone number: line left out") in lines
    assert (6, "a duplicate of line %(other)s") in lines  # MARIO.ROSSI@ is mario.rossi@
    assert (7, "the e-mail address %(value)s is not valid") in lines
    with db.session() as s:
        niccolo = s.scalars(
            select(Customer).join(CustomerIdentity).where(CustomerIdentity.value == "+393477654321")
        ).one()
        assert niccolo.name == "Niccolò Esposito"  # decoded from Windows-1252
        giulia = s.scalars(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.value == "giulia.bianchi@example.com")
        ).one()
        assert "Studio Bianchi, Forlì" in giulia.notes and giulia.language == "it"
    assert _count(db, OutboxEvent) == before_events  # nothing announced

    again = _run(db, personas, "clienti.csv", "csv-customers")
    assert again["created"] == {} and again["skipped"]["customers"] == 4
    assert _count(db, Customer) == 3


def test_csv_customers_fill_an_existing_customer(db, personas) -> None:  # type: ignore[no-untyped-def]
    from sportello.customers import actions as customers_actions

    with db.transaction() as s:
        customers_actions.do_create_customer(
            s, name="", identities=[("email", "mario.rossi@example.com")]
        )
    result = _run(db, personas, "clienti.csv", "csv-customers")
    assert result["created"] == {"customers": 2}
    # line 2 gives the name and the phone; line 6 (the same address) adds its note
    assert result["updated"] == {"customers": 2}
    with db.session() as s:
        mario = s.scalars(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.value == "mario.rossi@example.com")
        ).one()
        assert mario.name == "Mario Rossi" and "riga doppia" in mario.notes
        assert mario.identity("phone") == "+393331234567"  # the phone joined the same customer


def test_dry_run_writes_nothing_and_counts_exactly(db, personas) -> None:  # type: ignore[no-untyped-def]
    customers, conversations = _count(db, Customer), _count(db, Conversation)
    preview = _run(db, personas, "zendesk.json", "zendesk", dry_run=True)
    assert preview["created"] == {"customers": 2, "conversations": 2, "messages": 5}
    assert (_count(db, Customer), _count(db, Conversation)) == (customers, conversations)
    assert _count(db, ImportSourceMap) == 0
    with db.session() as s:
        job = s.scalars(select(ImportJob)).one()
        assert job.status == "checked" and job.preview is not None and job.report is None


def test_zendesk_history_agents_notes_attachments_and_idempotence(db, personas) -> None:  # type: ignore[no-untyped-def]
    result = _run(db, personas, "zendesk.json", "zendesk")
    assert result["created"] == {"customers": 2, "conversations": 2, "messages": 5}
    assert any(e["message"] == "ticket %(id)s has no valid creation date" for e in result["errors"])
    with db.session() as s:
        conversation = s.scalars(
            select(Conversation).where(Conversation.subject == "Ordine 10231 non ancora arrivato")
        ).one()
        assert conversation.status == Status.RESOLVED and conversation.priority == "high"
        assert conversation.created_at.isoformat().startswith("2023-11-20T09:12:41")
        assert sorted(t.name for t in conversation.tags) == ["ritardo", "spedizioni"]
        assert conversation.queue_id is None and conversation.channel_id is None
        messages = list(
            s.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.created_at)
            )
        )
        assert [m.direction for m in messages] == [
            Direction.INBOUND,
            Direction.NOTE,
            Direction.OUTBOUND,
            Direction.OUTBOUND,
        ]
        first = messages[0]
        assert first.html is not None and "<script" not in first.html and "<b>non</b>" in first.html
        assert first.meta["attachments"][0]["filename"] == "ricevuta.pdf"
        assert first.sender_name == "Chiara Colombo"
        # Laura is not a user here: her name stays on the message; Franco likewise
        assert messages[2].author_id is None and messages[2].sender_name == "Laura Agente"
        customer = s.get_one(Customer, conversation.customer_id)
        assert "Colombo Arredamenti S.r.l." in customer.notes
    again = _run(db, personas, "zendesk.json", "zendesk")
    assert again["created"] == {} and again["skipped"]["conversations"] == 2
    assert _count(db, Conversation) == 2 and _count(db, Message) == 5


def test_zendesk_agent_mapped_to_existing_user_by_email(db, personas) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((DATA / "zendesk.json").read_text())
    data["users"][2]["email"] = personas.sara.email.upper()
    with db.transaction() as s:
        job = actions.do_create_import(
            s,
            brand_id=personas.brand_id,
            user=None,
            fmt="zendesk",
            filename="z.json",
            data=json.dumps(data).encode(),
            start=True,
            queue=False,
        )
        import_id = job.id
    actions.run_import(db, import_id, dry_run=False)
    with db.session() as s:
        conversation = s.scalars(select(Conversation).where(Conversation.number > 0)).first()
        assert conversation is not None
        sara_messages = s.scalar(
            select(func.count()).select_from(Message).where(Message.author_id == personas.sara.id)
        )
        assert sara_messages == 2  # her note and her reply
        assigned = s.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.assignee_id == personas.sara.id)
        )
        assert assigned == 1


def test_freshdesk_and_zammad(db, personas) -> None:  # type: ignore[no-untyped-def]
    fresh = _run(db, personas, "freshdesk.json", "freshdesk")
    assert fresh["created"] == {"customers": 1, "conversations": 1, "messages": 4}
    zammad = _run(db, personas, "zammad.json", "zammad")
    assert zammad["created"] == {"customers": 2, "conversations": 2, "messages": 4}
    with db.session() as s:
        refund = s.scalars(
            select(Conversation).where(Conversation.subject == "Rimborso non ricevuto")
        ).one()
        assert refund.status == Status.CLOSED and refund.priority == "high"
        kinds = [
            m.direction
            for m in s.scalars(
                select(Message).where(Message.conversation_id == refund.id).order_by(Message.id)
            )
        ]
        assert kinds == [Direction.INBOUND, Direction.OUTBOUND, Direction.INBOUND, Direction.NOTE]
        broken = s.scalars(select(Message).where(Message.text.like("%garanzia%"))).one()
        assert broken.direction == Direction.NOTE and "onerror" not in (broken.html or "")
        owner_less = s.scalars(select(Conversation).where(Conversation.subject == "Domanda")).one()
        assert owner_less.status == Status.OPEN and owner_less.assignee_id is None


def test_csv_conversations(db, personas) -> None:  # type: ignore[no-untyped-def]
    result = _run(db, personas, "conversazioni.csv", "csv-conversations")
    assert result["created"] == {"customers": 2, "conversations": 2, "messages": 5}
    assert [e["line"] for e in result["errors"]] == [6]
    with db.session() as s:
        invoice = s.scalars(select(Conversation).where(Conversation.subject == "Fattura")).one()
        assert invoice.status == Status.RESOLVED and invoice.priority == "high"
        assert sorted(t.name for t in invoice.tags) == ["contabilità", "fatture"]
        returned = s.scalars(
            select(Conversation).where(Conversation.subject == "Reso scarpe")
        ).one()
        assert returned.first_response_at is not None
        assert returned.first_response_at > returned.created_at


@pytest.mark.parametrize(
    ("fmt", "name", "data", "message"),
    [
        ("zendesk", "x.json", b'{"tickets": [', "the file is not valid JSON"),
        ("csv-customers", "x.csv", b"", "the file is empty"),
        ("csv-customers", "x.xlsx", b"a,b\n", "the file's type does not match the chosen format"),
        (
            "csv-customers",
            "x.csv",
            b"PK\x03\x04binary",
            "this is not a text file: export it as CSV or JSON",
        ),
        (
            "csv-customers",
            "x.csv",
            b"colore;taglia\nrosso;42\n",
            "the file has no e-mail or phone column",
        ),
        ("nope", "x.csv", b"a", "unknown import format"),
    ],
)
def test_bad_files_are_clear_errors(fmt: str, name: str, data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        actions.check_upload(fmt=fmt, filename=name, data=data)
        readers.read(fmt, data)
    assert caught.value.message == message


def test_nul_bytes_huge_fields_and_scripts(db, personas) -> None:  # type: ignore[no-untyped-def]
    huge = "x" * (readers.MAX_FIELD + 10)
    text = (
        "email;nome;note\n"
        "a\x00nna@example.com;Anna\x00;ok\n"
        f'b@example.com;Bruno;"{huge}"\n'
        "c@example.com;<script>alert(1)</script>Carla;ok\n"
    )
    parsed = readers.read("csv-customers", text.encode())
    assert parsed.customers[0].email == "anna@example.com"
    assert [p.line for p in parsed.problems]  # the huge cell is a problem on its line
    ndjson = (
        '{"id": 1, "subject": "a", "requester_id": 5, "created_at": "2024-01-01T00:00:00Z",'
        ' "comments": [{"id": 7, "author_id": 5,'
        ' "html_body": "<p>ciao</p><script>x()</script>"}]}\n'
        "{not json\n"
    )
    with db.transaction() as s:
        job = actions.do_create_import(
            s,
            brand_id=personas.brand_id,
            user=None,
            fmt="zendesk",
            filename="t.ndjson",
            data=ndjson.encode(),
            start=True,
            queue=False,
        )
        import_id = job.id
    result = actions.run_import(db, import_id, dry_run=False)
    assert result["created"]["conversations"] == 1
    assert result["errors"][0]["line"] == 2
    with db.session() as s:
        message = s.scalars(select(Message)).one()
        assert message.text == "ciao" and "script" not in (message.html or "")
        # a requester the file does not list: a customer with the source's id
        customer = s.get_one(Customer, s.scalars(select(Conversation)).one().customer_id)
        assert customer.identity("external") == "zendesk:5"


def test_page_upload_dry_run_start_and_report(db, personas, client) -> None:  # type: ignore[no-untyped-def]
    login(client, personas.admin)
    page = client.get("/admin/imports")
    assert page.status_code == 200
    token = csrf_from(page.text)
    bad = client.post(
        "/admin/imports",
        data={"csrf_token": token, "format": "csv-customers"},
        files={"file": ("clienti.json", b"{}", "application/json")},
    )
    assert bad.status_code == 422 and "formato scelto" in bad.text  # translated (Italian admin)
    response = client.post(
        "/admin/imports",
        data={"csrf_token": token, "format": "csv-customers"},
        files={"file": ("clienti.csv", (DATA / "clienti.csv").read_bytes(), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    url = response.headers["location"]
    Dispatcher(db, name="test").drain()
    checked = client.get(url)
    assert "import-start" in checked.text and _count(db, Customer) == 0
    started = client.post(f"{url}/start", data={"csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303
    Dispatcher(db, name="test").drain()
    done = client.get(url)
    assert "Fatto" in done.text and "nuovi (creati)" in done.text
    assert _count(db, Customer) == 3
    assert client.post(f"{url}/start", data={"csrf_token": token}).status_code == 409
    assert client.get("/admin/imports/999999").status_code == 404
    login(client, personas.sara)
    assert client.get("/admin/imports").status_code in (302, 303, 403)


def test_api_and_cli(db, personas, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = make_token(db, personas.admin, scopes=("admin",))
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post(
        "/api/v1/imports",
        headers=headers,
        data={"format": "freshdesk", "dry_run": "true"},
        files={"file": ("fd.json", (DATA / "freshdesk.json").read_bytes(), "application/json")},
    )
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    Dispatcher(db, name="test").drain()
    body = client.get(f"/api/v1/imports/{import_id}", headers=headers).json()
    assert body["status"] == "checked" and body["preview"]["created"]["conversations"] == 1
    assert client.post(f"/api/v1/imports/{import_id}/start", headers=headers).status_code == 202
    Dispatcher(db, name="test").drain()
    body = client.get(f"/api/v1/imports/{import_id}", headers=headers).json()
    assert body["status"] == "done" and body["report"]["created"]["messages"] == 4
    bad = client.post(
        "/api/v1/imports",
        headers=headers,
        data={"format": "zammad"},
        files={"file": ("z.json", b"[1, 2", "application/json")},
    )
    assert bad.status_code == 202  # the file is kept; its check fails with a clear report
    Dispatcher(db, name="test").drain()
    failed = client.get(f"/api/v1/imports/{bad.json()['id']}", headers=headers).json()
    assert failed["status"] == "failed" and failed["failure"] == "the file is not valid JSON"
    assert client.get("/api/v1/imports/0", headers=headers).status_code == 404
    agent = make_token(db, personas.sara)
    assert (
        client.get(
            f"/api/v1/imports/{import_id}", headers={"Authorization": f"Bearer {agent}"}
        ).status_code
        == 403
    )

    from sportello.cli import app

    runner = CliRunner()
    out = runner.invoke(
        app, ["import", str(DATA / "zammad.json"), "--format", "zammad", "--dry-run"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["created"]["conversations"] == 2
    assert _count(db, Conversation) == 1  # the dry run wrote nothing
    out = runner.invoke(app, ["import", str(DATA / "zammad.json"), "--format", "zammad"])
    assert out.exit_code == 0 and _count(db, Conversation) == 3
    missing = runner.invoke(
        app, ["import", str(tmp_path / "none.csv"), "--format", "csv-customers"]
    )
    assert missing.exit_code == 1


def test_demo_shows_one_finished_customer_list(db, personas, client) -> None:  # type: ignore[no-untyped-def]
    from sportello.core.db import utcnow
    from sportello.imports import demo

    demo.load(db, now=utcnow(), seed=42)
    demo.load(db, now=utcnow(), seed=42)  # loaded once
    with db.session() as s:
        job = s.scalars(select(ImportJob)).one()
        assert job.filename == "clienti_2024.csv" and job.status == "done"
        assert job.report is not None and job.report["created"]["customers"] >= 30
        assert job.report["error_count"] >= 2
    login(client, personas.admin)
    page = client.get(f"/admin/imports/{job.id}")
    assert "clienti_2024.csv" in page.text and "un doppione della riga" in page.text
