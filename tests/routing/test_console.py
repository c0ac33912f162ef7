"""The routing console: an agent sets a state, sees and answers offers; supervisors watch live."""

from __future__ import annotations

from sqlalchemy import select

from sportello.core.dispatcher import Dispatcher
from sportello.routing import actions as routing_actions
from sportello.routing.models import AgentState, Offer, Queue
from tests.api.helpers import make_token
from tests.factories import csrf_from, login
from tests.routing.world import add_channel, assignee_of, new_conversation


def _channel(db, personas, kind="chat"):
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_vendite.id)
        routing_actions.do_set_queue_routing(s, queue=queue, mode="push", offer_timeout_seconds=45)
        return add_channel(s, brand_id=personas.brand_id, kind=kind, queue=queue).id


def test_agent_sets_a_state_and_accepts_an_offer(db, client, personas):
    channel = _channel(db, personas)
    login(client, personas.luca)
    page = client.get("/routing/agent")
    assert page.status_code == 200
    assert "No offers right now." in page.text or "Nessuna" in page.text
    token = csrf_from(page.text)
    response = client.post(
        "/routing/presence",
        data={"presence": "available", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    assert 'id="routing-agent"' in response.text
    with db.session() as s:
        assert s.get_one(AgentState, personas.luca.id).presence == "available"

    conv = new_conversation(db, channel)
    Dispatcher(db, name="t").drain()
    panel = client.get("/routing/agent/panel")
    assert "data-expires" in panel.text and "/accept" in panel.text
    with db.session() as s:
        offer = s.scalars(select(Offer)).one()
    accepted = client.post(
        f"/routing/offers/{offer.id}/accept",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert accepted.status_code == 204 and accepted.headers["HX-Redirect"].startswith("/c/")
    assert assignee_of(db, conv) == personas.luca.id


def test_unknown_state_is_a_clear_error(db, client, personas):
    login(client, personas.luca)
    token = csrf_from(client.get("/routing/agent").text)
    response = client.post(
        "/routing/presence",
        data={"presence": "asleep", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "unknown presence" in response.json()["detail"]


def test_supervisor_live_view_and_agents_are_kept_out(db, client, personas):
    channel = _channel(db, personas)
    new_conversation(db, channel)
    login(client, personas.luca)
    assert client.get("/routing/live").status_code == 403
    client.cookies.clear()
    login(client, personas.supervisor)
    page = client.get("/routing/live")
    assert page.status_code == 200
    assert "Vendite" in page.text and 'id="routing-queues"' in page.text


def test_json_api_me_presence_and_live(db, client, personas):
    channel = _channel(db, personas)
    token = make_token(db, personas.luca)
    auth = {"Authorization": f"Bearer {token}"}
    me = client.post("/api/v1/routing/presence", json={"presence": "available"}, headers=auth)
    assert me.status_code == 200, me.text
    assert me.json()["agent"]["presence"] == "available"
    new_conversation(db, channel)
    Dispatcher(db, name="t").drain()
    me = client.get("/api/v1/routing/me", headers=auth).json()
    assert len(me["offers"]) == 1
    declined = client.post(
        f"/api/v1/routing/offers/{me['offers'][0]['offer_id']}/decline", headers=auth
    )
    assert declined.status_code == 200 and declined.json()["offers"] == []
    assert client.get("/api/v1/routing/live", headers=auth).status_code == 403
    boss = {"Authorization": f"Bearer {make_token(db, personas.supervisor)}"}
    live = client.get("/api/v1/routing/live", headers=boss).json()
    assert {q["name"] for q in live["queues"]} >= {"Vendite", "Assistenza clienti"}
    assert any(a["name"] == "Luca Ferri" for a in live["agents"])
