"""The conversations API: lists and filters, timeline, replies, notes and changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core.outbox import OutboxEvent
from tests.api.helpers import assert_problem
from tests.factories import inbound, receive


def _receive(db, personas, n: int, **kwargs):
    return receive(
        db,
        personas.api_channel,
        inbound(f"Messaggio {n}", email=f"cliente{n}@example.it", provider_id=f"p-{n}", **kwargs),
    ).conversation


def test_get_conversation(client, personas, auth, assistenza_conversation):
    response = client.get(
        f"/api/v1/conversations/{assistenza_conversation.id}", headers=auth(personas.sara)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == assistenza_conversation.number
    assert body["status"] == "new"
    assert body["queue"] == {"id": personas.queue_assistenza.id, "name": "Assistenza clienti"}
    assert body["channel"]["kind"] == "api"
    assert body["customer"]["name"] == "Mario Rossi"
    assert body["assignee"] is None
    assert body["tags"] == []


def test_unknown_conversation_is_404_problem(client, personas, auth):
    assert_problem(client.get("/api/v1/conversations/999999", headers=auth(personas.admin)), 404)


def test_list_pages_with_a_cursor(client, db, personas, auth):
    ids = [_receive(db, personas, n).id for n in range(5)]
    headers = auth(personas.supervisor)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/conversations", params=params, headers=headers).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # most recently updated first, no repeats, none missed


def test_bad_cursor_is_422_naming_it(client, personas, auth):
    response = client.get(
        "/api/v1/conversations", params={"cursor": "???"}, headers=auth(personas.admin)
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "cursor"


def test_list_filters(client, db, personas, auth, assistenza_conversation, vendite_conversation):
    headers = auth(personas.supervisor)

    def ids(**params) -> list[int]:
        response = client.get("/api/v1/conversations", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    a, v = assistenza_conversation.id, vendite_conversation.id
    assert ids(queue_id=personas.queue_vendite.id) == [v]
    assert ids(customer_id=assistenza_conversation.customer_id) == [a]
    assert ids(status="new") == [v, a]
    assert ids(status="closed") == []
    client.put(
        f"/api/v1/conversations/{a}/assignee",
        json={"assignee_id": personas.sara.id},
        headers=headers,
    )
    assert ids(assignee_id=personas.sara.id) == [a]
    assert ids(unassigned=True) == [v]
    assert ids(status=["open", "pending"]) == [a]
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert ids(updated_since=future) == []
    past = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    assert sorted(ids(updated_since=past)) == sorted([a, v])


def test_invalid_filter_is_422_naming_the_field(client, personas, auth):
    response = client.get(
        "/api/v1/conversations", params={"status": "bogus"}, headers=auth(personas.admin)
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "status.0"


def test_reply_note_and_timeline(client, db, personas, auth, assistenza_conversation):
    headers = auth(personas.sara)
    url = f"/api/v1/conversations/{assistenza_conversation.id}"
    reply = client.post(
        f"{url}/replies",
        json={"text": "Il pacco parte oggi.", "html": "<p>Il pacco <script>x()</script>parte</p>"},
        headers=headers,
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["direction"] == "outbound"
    assert reply.json()["delivery_state"] == "queued"
    assert "script" not in reply.json()["html"]
    note = client.post(f"{url}/notes", json={"text": "Cliente abituale"}, headers=headers)
    assert note.status_code == 201
    assert note.json()["direction"] == "note"

    timeline = client.get(f"{url}/messages", headers=headers).json()
    assert [m["direction"] for m in timeline["items"]] == ["inbound", "outbound", "note"]
    assert timeline["next_cursor"] is None
    first = client.get(f"{url}/messages", params={"limit": 1}, headers=headers).json()
    rest = client.get(
        f"{url}/messages", params={"cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [m["id"] for m in first["items"] + rest["items"]] == [m["id"] for m in timeline["items"]]

    conversation = client.get(url, headers=headers).json()
    assert conversation["status"] == "open"
    assert conversation["assignee"]["id"] == personas.sara.id
    with db.session() as s:
        events = list(s.scalars(select(OutboxEvent.name)))
    assert "message.outbound_queued" in events


def test_empty_reply_is_422_naming_text(client, personas, auth, assistenza_conversation):
    response = client.post(
        f"/api/v1/conversations/{assistenza_conversation.id}/replies",
        json={"text": "  "},
        headers=auth(personas.sara),
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [{"field": "text", "message": "write a reply first"}]


def test_missing_field_is_422_naming_it(client, personas, auth, assistenza_conversation):
    response = client.post(
        f"/api/v1/conversations/{assistenza_conversation.id}/replies",
        json={"html": "<p>x</p>"},
        headers=auth(personas.sara),
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "text"


def test_reply_on_closed_conversation_is_409(client, db, personas, auth, assistenza_conversation):
    headers = auth(personas.sara)
    url = f"/api/v1/conversations/{assistenza_conversation.id}"
    closed = client.put(f"{url}/status", json={"status": "closed"}, headers=headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] is not None
    body = assert_problem(
        client.post(f"{url}/replies", json={"text": "Ciao"}, headers=headers), 409
    )
    assert "closed" in body["detail"]
    with db.session() as s:
        assert (
            s.scalars(select(Message).where(Message.delivery_state == DeliveryState.QUEUED)).all()
            == []
        )


def test_invalid_status_transition_is_409(client, personas, auth, assistenza_conversation):
    headers = auth(personas.sara)
    url = f"/api/v1/conversations/{assistenza_conversation.id}/status"
    assert client.put(url, json={"status": "closed"}, headers=headers).status_code == 200
    body = assert_problem(client.put(url, json={"status": "open"}, headers=headers), 409)
    assert body["current"] == "closed" and body["requested"] == "open"


def test_assign_and_unassign(client, personas, auth, assistenza_conversation):
    headers = auth(personas.supervisor)
    url = f"/api/v1/conversations/{assistenza_conversation.id}/assignee"
    assigned = client.put(url, json={"assignee_id": personas.sara.id}, headers=headers)
    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == {"id": personas.sara.id, "name": "Sara Conti"}
    assert assigned.json()["status"] == "open"
    unassigned = client.put(url, json={"assignee_id": None}, headers=headers)
    assert unassigned.json()["assignee"] is None
    body = assert_problem(client.put(url, json={"assignee_id": 987654}, headers=headers), 422)
    assert body["errors"][0]["field"] == "assignee_id"


def test_patch_priority_tags_queue(client, db, personas, auth, assistenza_conversation):
    headers = auth(personas.supervisor)
    url = f"/api/v1/conversations/{assistenza_conversation.id}"
    response = client.patch(
        url,
        json={"priority": "high", "tags": ["Reso", "urgente", "reso"], "subject": "Reso ordine"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["priority"], body["tags"], body["subject"]) == (
        "high",
        ["reso", "urgente"],
        "Reso ordine",
    )
    assert body["queue"]["id"] == personas.queue_assistenza.id  # untouched when not sent

    moved = client.patch(url, json={"queue_id": personas.queue_vendite.id}, headers=headers)
    assert moved.json()["queue"]["id"] == personas.queue_vendite.id
    assert moved.json()["priority"] == "high"
    out = client.patch(url, json={"queue_id": None}, headers=headers)
    assert out.json()["queue"] is None
    body = assert_problem(client.patch(url, json={"queue_id": 424242}, headers=headers), 422)
    assert body["errors"][0]["field"] == "queue_id"
    with db.session() as s:
        assert s.get_one(Conversation, assistenza_conversation.id).queue_id is None


def test_moving_a_conversation_out_of_my_team_hides_it(
    client, personas, auth, assistenza_conversation
):
    sara = auth(personas.sara)
    url = f"/api/v1/conversations/{assistenza_conversation.id}"
    moved = client.patch(url, json={"queue_id": personas.queue_vendite.id}, headers=sara)
    assert moved.status_code == 200
    assert_problem(client.get(url, headers=sara), 404)
    assert client.get(url, headers=auth(personas.luca)).status_code == 200


def test_unknown_route_and_method_are_problems(client, personas, auth):
    headers = auth(personas.admin)
    assert_problem(client.get("/api/v1/nothing-here", headers=headers), 404)
    assert_problem(client.delete("/api/v1/conversations", headers=headers), 405)


def test_oversized_json_body_is_413(client, personas, auth, assistenza_conversation):
    response = client.post(
        f"/api/v1/conversations/{assistenza_conversation.id}/notes",
        json={"text": "x" * 1_100_000},
        headers=auth(personas.sara),
    )
    assert_problem(response, 413)
