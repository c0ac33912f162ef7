"""Canned replies, macros, saved views and bulk changes: actions, pages, API and roles, on a real
database, set up through the actions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.conversations.models import Conversation, Direction, Message, Priority, Status
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied
from sportello.replies import actions, placeholders, service
from sportello.replies.models import CannedReply, Macro
from tests.api.helpers import assert_problem, make_token
from tests.factories import csrf_from, inbound, login, receive

HTMX = {"HX-Request": "true"}


def conversation(db, personas, **kw):
    kw.setdefault("provider_id", "p1")
    text = kw.pop("text", "Buongiorno, il mio ordine n. 48213 non è arrivato.")
    return receive(db, personas.api_channel, inbound(text, **kw)).conversation


def make_reply(db, user_id, **kw):
    with db.transaction() as s:
        by = s.get_one(User, user_id)
        reply = actions.do_create_reply(
            s,
            brand_id=_brand(s),
            by=by,
            title=kw.pop("title", "Saluto"),
            shortcut=kw.pop("shortcut", ""),
            body=kw.pop("body", "Gentile {{cliente.nome}}, sono {{agente.nome}}."),
            **kw,
        )
        return reply.id


def _brand(s):
    from sportello.accounts.models import Brand

    return s.scalars(select(Brand.id)).first()


def make_macro(db, user_id, **kw):
    with db.transaction() as s:
        by = s.get_one(User, user_id)
        fields = {
            "name": "Reso avviato",
            "canned_reply_id": None,
            "status": None,
            "priority": None,
            "add_tags": [],
            "assign": "",
            "assignee_id": None,
        }
        shared = kw.pop("shared", False)
        fields.update(kw)
        return actions.do_create_macro(s, brand_id=_brand(s), by=by, shared=shared, **fields).id


# --- placeholders ---------------------------------------------------------------------------------


def test_placeholders_fill_known_names_and_report_the_rest():
    out = placeholders.render(
        "Ciao {{ cliente.nome }}, ordine {{ordine.numero}} "
        "{{cliente.codice_fiscale}} {{x.__class__}}",
        {"cliente.nome": "Mario", "ordine.numero": ""},
    )
    assert out.text.startswith("Ciao Mario, ordine {{ordine.numero}}")
    assert out.missing == ["ordine.numero"]
    assert out.unknown == ["cliente.codice_fiscale", "x.__class__"]  # nothing is evaluated
    assert placeholders.find_order_number(["Salve, ordine n. CL-2026-0042 danneggiato"]) == (
        "CL-2026-0042"
    )


def test_reply_values_come_from_the_conversation(db, personas):
    c = conversation(db, personas)
    reply_id = make_reply(
        db,
        personas.sara.id,
        body="Gentile {{cliente.nome}}, ordine {{ordine.numero}}, "
        "pratica #{{conversazione.numero}}. {{agente.nome}}",
    )
    with db.session() as s:
        sara = s.get_one(User, personas.sara.id)
        reply = service.get_reply(s, sara, reply_id)
        target = s.get_one(Conversation, c.id)
        rendered = service.render_reply(s, reply, target, sara)
    assert rendered.text == f"Gentile Mario, ordine 48213, pratica #{c.number}. Sara"
    assert rendered.missing == [] and rendered.unknown == []


# --- canned replies: rules and roles -------------------------------------------------------------


def test_reply_fields_are_checked_by_field(db, personas):
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        for fields, field in (
            ({"title": " ", "body": "x"}, "title"),
            ({"title": "T", "body": ""}, "body"),
            ({"title": "T", "body": "x", "shortcut": "con spazi"}, "shortcut"),
            ({"title": "T", "body": "Ciao {{cliente.nome_sbagliato}}"}, "body"),
        ):
            with pytest.raises(InvalidInput) as err:
                actions.do_create_reply(
                    s, brand_id=_brand(s), by=sara, **{"shortcut": "", **fields}
                )
            assert err.value.field == field
    make_reply(db, personas.sara.id, shortcut="saluto")
    with db.transaction() as s, pytest.raises(InvalidInput) as err:
        actions.do_create_reply(
            s,
            brand_id=_brand(s),
            by=s.get_one(User, personas.sara.id),
            title="Altro",
            shortcut="saluto",
            body="x",
        )
    assert err.value.field == "shortcut"


def test_agents_keep_personal_replies_and_only_supervisors_share(db, personas):
    with db.transaction() as s, pytest.raises(PermissionDenied):
        actions.do_create_reply(
            s,
            brand_id=_brand(s),
            by=s.get_one(User, personas.sara.id),
            title="T",
            shortcut="",
            body="x",
            shared=True,
        )
    mine = make_reply(db, personas.sara.id, title="Mia")
    shared = make_reply(db, personas.supervisor.id, title="Di tutti", shared=True)
    team = make_reply(db, personas.supervisor.id, title="Solo Vendite", team=personas.vendite)
    with db.session() as s:
        sara = s.get_one(User, personas.sara.id)
        luca = s.get_one(User, personas.luca.id)
        assert {r.id for r in service.replies_for(s, sara)} == {mine, shared}
        assert {r.id for r in service.replies_for(s, luca)} == {shared, team}
    with db.transaction() as s, pytest.raises(PermissionDenied):
        sara = s.get_one(User, personas.sara.id)
        actions.do_update_reply(
            s, reply=s.get_one(CannedReply, shared), by=sara, title="x", shortcut="x", body="x"
        )


def test_a_reply_in_use_by_a_macro_says_so_when_deleted(db, personas):
    reply_id = make_reply(db, personas.sara.id)
    make_macro(db, personas.sara.id, name="Saluta e chiudi", canned_reply_id=reply_id)
    with db.transaction() as s, pytest.raises(Conflict) as err:
        actions.do_delete_reply(
            s, reply=s.get_one(CannedReply, reply_id), by=s.get_one(User, personas.sara.id)
        )
    assert "Saluta e chiudi" in err.value.message
    with db.session() as s:
        assert s.get(CannedReply, reply_id) is not None  # nothing lost


# --- macros ---------------------------------------------------------------------------------------


def test_a_macro_replies_tags_prioritises_assigns_and_resolves_through_the_actions(db, personas):
    c = conversation(db, personas)
    reply_id = make_reply(db, personas.sara.id, body="Gentile {{cliente.nome}}, il reso è avviato.")
    macro_id = make_macro(
        db,
        personas.sara.id,
        canned_reply_id=reply_id,
        add_tags=["Reso"],
        priority="high",
        assign="me",
        status="resolved",
    )
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        actions.do_apply_macro(
            s, conversation=s.get_one(Conversation, c.id), macro=s.get_one(Macro, macro_id), by=sara
        )
    with db.session() as s:
        done = s.get_one(Conversation, c.id)
        assert done.status == Status.RESOLVED and done.priority == Priority.HIGH
        assert done.assignee_id == personas.sara.id and [t.name for t in done.tags] == ["reso"]
        messages = list(s.scalars(select(Message).where(Message.conversation_id == c.id)))
    sent = [m for m in messages if m.direction == Direction.OUTBOUND]
    assert [m.text for m in sent] == ["Gentile Mario, il reso è avviato."]
    events = [m.meta.get("event") for m in messages if m.direction == Direction.SYSTEM]
    assert {"priority", "tags", "status"} <= set(events)  # the timeline's system lines


def test_a_macro_whose_reply_lacks_a_value_changes_nothing(db, personas):
    c = conversation(db, personas, text="Salve, quando arriva?")
    reply_id = make_reply(db, personas.sara.id, body="L'ordine {{ordine.numero}} è partito.")
    macro_id = make_macro(db, personas.sara.id, canned_reply_id=reply_id, status="resolved")
    with db.transaction() as s, pytest.raises(InvalidInput) as err:
        actions.do_apply_macro(
            s,
            conversation=s.get_one(Conversation, c.id),
            macro=s.get_one(Macro, macro_id),
            by=s.get_one(User, personas.sara.id),
        )
    assert "ordine.numero" in err.value.message
    with db.session() as s:
        assert s.get_one(Conversation, c.id).status == Status.NEW


# --- bulk -----------------------------------------------------------------------------------------


def test_bulk_respects_each_conversations_scope_and_skips_with_reasons(db, personas):
    a = conversation(db, personas, provider_id="a", email="a@example.it", name="Anna")
    b = conversation(db, personas, provider_id="b", email="b@example.it", name="Bea")
    other = receive(db, personas.webform, inbound("x", email="v@example.it")).conversation
    with db.transaction() as s:
        from sportello.conversations import actions as conv_actions

        conv_actions.do_change_status(
            s, conversation=s.get_one(Conversation, b.id), status=Status.CLOSED, by=None
        )
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        result = actions.do_bulk_update(
            s,
            by=sara,
            conversation_ids=[a.id, b.id, other.id],
            change=actions.BulkChange(status=Status.PENDING, add_tags=("attesa cliente",)),
        )
    assert result.updated == [a.number]
    assert [n for n, _ in result.skipped] == [b.number]
    assert result.not_found == 1  # Vendite's conversation is outside Sara's scope
    with db.session() as s:
        assert s.get_one(Conversation, a.id).status == Status.PENDING
        assert s.get_one(Conversation, other.id).status == Status.NEW


# --- pages ----------------------------------------------------------------------------------------


def test_replies_page_creates_and_refuses_bad_input_in_italian_keeping_it(client, db, personas):
    login(client, personas.sara)
    page = client.get("/replies")
    assert page.status_code == 200 and "Risposte predefinite" in page.text
    token = csrf_from(page.text)
    bad = client.post(
        "/replies",
        data={"csrf_token": token, "title": "Reso", "body": "Ciao {{cliente.nomee}}"},
    )
    assert bad.status_code == 422
    assert "segnaposto sconosciuti" in bad.text and "{{cliente.nomee}}" in bad.text
    assert 'value="Reso"' in bad.text  # what was typed is kept
    ok = client.post(
        "/replies",
        data={"csrf_token": token, "title": "Reso", "body": "Ciao {{cliente.nome}}"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "Reso" in client.get("/replies").text


def test_picker_fills_placeholders_for_the_conversation(client, db, personas):
    c = conversation(db, personas)
    make_reply(db, personas.sara.id, title="Saluto", body="Gentile {{cliente.nome}}")
    make_reply(db, personas.luca.id, title="Di Luca", body="x")
    login(client, personas.sara)
    items = client.get(f"/replies/picker?conversation={c.number}").json()["items"]
    assert [i["title"] for i in items] == ["Saluto"]
    assert items[0]["text"] == "Gentile Mario"
    login(client, personas.luca)  # not his conversation's queue: not found
    assert client.get(f"/replies/picker?conversation={c.number}").status_code == 404


def test_inbox_filters_sort_saved_views_and_bulk_assign(client, db, personas):
    a = conversation(db, personas, provider_id="a", email="a@example.it", name="Anna")
    b = conversation(db, personas, provider_id="b", email="b@example.it", name="Bea")
    login(client, personas.sara)
    token = csrf_from(client.get("/inbox/open").text)
    client.post(
        f"/c/{b.number}/properties", data={"csrf_token": token, "priority": "urgent"}, headers=HTMX
    )
    urgent = client.get("/inbox/all?status=active&priority=urgent").text
    assert f"#{b.number}" in urgent and f"#{a.number}" not in urgent
    by_priority = client.get("/inbox/open?sort=priority").text
    assert by_priority.index(f"#{b.number}") < by_priority.index(f"#{a.number}")
    assert client.get("/inbox/open?sla=nonsense").status_code == 422
    saved = client.post(
        "/inbox/views",
        data={
            "csrf_token": token,
            "view_name": "Urgenti",
            "status": "active",
            "priority": "urgent",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    view_page = client.get(saved.headers["location"]).text
    assert f"#{b.number}" in view_page and f"#{a.number}" not in view_page
    assert "Urgenti" in client.get("/inbox/counts").text
    views_page = client.get("/views").text
    assert "Urgenti" in views_page and "Priorità: Urgente" in views_page
    bulk = client.post(
        "/inbox/bulk",
        data={"csrf_token": token, "ids": [a.id, b.id], "assignee": "me", "view": "/inbox/mine"},
        headers=HTMX,
    )
    assert bulk.status_code == 200 and "2 conversazioni modificate" in bulk.text
    with db.session() as s:
        assert {s.get_one(Conversation, i).assignee_id for i in (a.id, b.id)} == {personas.sara.id}


def test_resolve_and_next_opens_the_next_conversation_of_the_view(client, db, personas):
    a = conversation(db, personas, provider_id="a", email="a@example.it", name="Anna")
    b = conversation(db, personas, provider_id="b", email="b@example.it", name="Bea")
    login(client, personas.sara)
    token = csrf_from(client.get("/inbox/open").text)
    response = client.post(
        f"/c/{b.number}/resolve-next",
        data={"csrf_token": token, "view": "/inbox/open"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/c/{a.number}"
    with db.session() as s:
        assert s.get_one(Conversation, b.id).status == Status.RESOLVED


def test_timeline_shows_priority_and_tag_changes(client, db, personas):
    c = conversation(db, personas)
    login(client, personas.sara)
    token = csrf_from(client.get(f"/c/{c.number}").text)
    client.post(f"/c/{c.number}/properties", data={"csrf_token": token, "priority": "high"})
    client.post(f"/c/{c.number}/properties", data={"csrf_token": token, "tags": "reso, urgente"})
    page = client.get(f"/c/{c.number}").text
    assert "Sara Conti ha cambiato la priorità da Normale a Alta" in page
    assert "Sara Conti ha cambiato i tag:" in page and "+ reso" in page


def test_visitors_and_phones_are_shown_for_people(client, db, personas):
    from sportello.channels.base import Identity, InboundMessage

    receive(
        db,
        personas.api_channel,
        InboundMessage(identity=Identity("phone", "+393331234567"), sender_name="", text="Ciao"),
    )
    login(client, personas.sara)
    html = client.get("/inbox/unassigned").text
    assert "333 123 4567" in html
    with db.session() as s:
        from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
        from sportello.replies import people

        visitor = Customer(name="")
        s.add(visitor)
        s.flush()
        s.add(CustomerIdentity(customer_id=visitor.id, kind=IdentityKind.VISITOR, value="v" * 32))
        s.flush()
        s.refresh(visitor)
        assert people.customer_label(visitor) == f"Visitatore #{visitor.id}"
        s.rollback()
    assert people.format_phone("+393331234567", "en") == "+39 333 123 4567"
    assert people.format_phone("+442071838750", "it") == "+44 20 7183 8750"


# --- API ------------------------------------------------------------------------------------------


def test_api_replies_macros_views_and_bulk(client, db, personas):
    c = conversation(db, personas)
    sara = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    reader = {"Authorization": f"Bearer {make_token(db, personas.sara, ['read'])}"}
    created = client.post(
        "/api/v1/canned-replies",
        json={"title": "Saluto", "body": "Gentile {{cliente.nome}}"},
        headers=sara,
    )
    assert created.status_code == 201, created.text
    reply_id = created.json()["id"]
    assert_problem(
        client.post("/api/v1/canned-replies", json={"title": "x", "body": "x"}, headers=reader),
        403,
    )
    bad = assert_problem(
        client.post("/api/v1/canned-replies", json={"title": "", "body": "x"}, headers=sara), 422
    )
    assert bad["errors"][0]["field"] == "title"
    shared = client.post(
        "/api/v1/canned-replies", json={"title": "x", "body": "x", "shared": True}, headers=sara
    )
    assert_problem(shared, 403)
    rendered = client.get(
        f"/api/v1/canned-replies/{reply_id}/render?conversation_id={c.id}", headers=sara
    ).json()
    assert rendered == {"text": "Gentile Mario", "missing": [], "unknown": []}
    macro = client.post(
        "/api/v1/macros",
        json={"name": "Chiudi", "canned_reply_id": reply_id, "status": "resolved"},
        headers=sara,
    )
    assert macro.status_code == 201, macro.text
    in_use = assert_problem(client.delete(f"/api/v1/canned-replies/{reply_id}", headers=sara), 409)
    assert "Chiudi" in in_use["detail"]
    bulk = client.post(
        "/api/v1/conversations/bulk",
        json={"conversation_ids": [c.id, 999999], "macro_id": macro.json()["id"]},
        headers=sara,
    )
    assert bulk.json() == {"updated": [c.number], "skipped": [], "not_found": 1}
    view = client.post(
        "/api/v1/saved-views",
        json={"name": "Urgenti", "filters": {"priority": "urgent"}, "sort": "sla"},
        headers=sara,
    )
    assert view.status_code == 201 and view.json()["filters"] == {"priority": "urgent"}
    assert [v["name"] for v in client.get("/api/v1/saved-views", headers=sara).json()] == [
        "Urgenti"
    ]
    spec = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/v1/canned-replies", "/api/v1/macros", "/api/v1/saved-views"} <= set(spec)
    assert "/api/v1/conversations/bulk" in spec
