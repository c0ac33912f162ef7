"""REST API v1 of the routing settings: each setting, bad input (422/409 naming the field or the
user), roles (agents 403, supervisors read, admins write), and the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import User
from sportello.routing.models import (
    AgentSkill,
    AgentState,
    BusinessCalendarRow,
    Queue,
    QueueRouting,
    SlaPolicy,
    TeamRouting,
)
from tests.factories import csrf_from, login


def bearer(db, user_id: int, scopes: list[str]) -> dict[str, str]:
    with db.transaction() as s:
        _row, token = accounts_actions.do_create_api_token(
            s, user=s.get_one(User, user_id), name="test", scopes=scopes
        )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(db, personas):
    return bearer(db, personas.admin.id, ["admin"])


WEEK = {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "sat": [["09:00", "13:00"]]}


def test_agents_get_403_and_supervisors_only_read(client, db, personas):
    agent = bearer(db, personas.sara.id, ["read", "write"])
    for url in (
        "/api/v1/skills",
        "/api/v1/calendars",
        "/api/v1/sla-policies",
        "/api/v1/pause-reasons",
    ):
        assert client.get(url, headers=agent).status_code == 403
    assert client.post("/api/v1/skills", json={"name": "Resi"}, headers=agent).status_code == 403
    supervisor = bearer(db, personas.supervisor.id, ["read", "write"])
    assert client.get("/api/v1/skills", headers=supervisor).status_code == 200
    refused = client.post("/api/v1/skills", json={"name": "Resi"}, headers=supervisor)
    assert refused.status_code == 403


def test_console_session_with_csrf_header_may_write(client, personas):
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/skills").text)
    created = client.post("/api/v1/skills", json={"name": "Resi"}, headers={"X-CSRF-Token": token})
    assert created.status_code == 201


def test_skills_and_levels(client, db, personas, admin):
    skill = client.post("/api/v1/skills", json={"name": "Inglese"}, headers=admin).json()
    duplicate = client.post("/api/v1/skills", json={"name": "Inglese"}, headers=admin)
    assert duplicate.status_code == 409 and "Inglese" in duplicate.json()["detail"]
    url = f"/api/v1/users/{personas.sara.id}/skills/{skill['id']}"
    assert client.put(url, json={"level": 4}, headers=admin).status_code == 204
    assert client.put(url, json={"level": 0}, headers=admin).status_code == 422
    matrix = client.get("/api/v1/skills", headers=admin).json()
    assert matrix["levels"] == [{"user_id": personas.sara.id, "skill_id": skill["id"], "level": 4}]
    renamed = client.patch(f"/api/v1/skills/{skill['id']}", json={"name": "English"}, headers=admin)
    assert renamed.json()["name"] == "English"
    routing = {"mode": "auto", "requirements": [{"skill_id": skill["id"], "min_level": 2}]}
    client.put(f"/api/v1/queues/{personas.queue_vendite.id}/routing", json=routing, headers=admin)
    in_use = client.delete(f"/api/v1/skills/{skill['id']}", headers=admin)
    assert in_use.status_code == 409
    assert in_use.json()["detail"] == "the skill English is required by these queues: Vendite"
    assert in_use.json()["queue_ids"] == [personas.queue_vendite.id]
    gone = client.delete(f"/api/v1/skills/{skill['id']}?force=true", headers=admin)
    assert gone.status_code == 204
    with db.session() as s:
        assert s.scalar(select(AgentSkill)) is None


def test_queue_routing(client, db, personas, admin):
    with db.transaction() as s:
        empty = Queue(brand_id=personas.brand_id, name="Nuova")
        s.add(empty)
        s.flush()
        queue_id = empty.id
    url = f"/api/v1/queues/{queue_id}/routing"
    refused = client.put(url, json={"mode": "push"}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "member_ids"
    body = {
        "mode": "push",
        "offer_timeout_seconds": 30,
        "member_ids": [personas.sara.id, personas.luca.id],
        "overflow_queue_id": personas.queue_assistenza.id,
        "overflow_after_seconds": 120,
    }
    saved = client.put(url, json=body, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["member_ids"] == sorted([personas.sara.id, personas.luca.id])
    assert client.get(url, headers=admin).json()["offer_timeout_seconds"] == 30
    assert (
        client.put(url, json={**body, "offer_timeout_seconds": 1}, headers=admin).status_code == 422
    )
    itself = client.put(url, json={**body, "overflow_queue_id": queue_id}, headers=admin)
    assert itself.status_code == 422
    with db.session() as s:
        assert s.get(QueueRouting, queue_id).overflow_after_seconds == 120


def test_delete_queue_in_use(client, db, personas, admin):
    queue_id = personas.queue_assistenza.id  # the API channel delivers here
    refused = client.delete(f"/api/v1/queues/{queue_id}", headers=admin)
    assert refused.status_code == 409 and refused.json()["channels"] == 1
    moved = client.delete(
        f"/api/v1/queues/{queue_id}?move_to={personas.queue_vendite.id}", headers=admin
    )
    assert moved.status_code == 204
    with db.session() as s:
        assert s.get(Queue, queue_id) is None


def test_capacity_and_release(client, db, personas, admin):
    team_url = f"/api/v1/teams/{personas.assistenza.id}/capacity"
    saved = client.put(team_url, json={"voice": 1, "chat": 3, "email": 10}, headers=admin)
    assert saved.json() == {"voice": 1, "chat": 3, "messaging": None, "email": 10}
    assert client.put(team_url, json={"chat": -1}, headers=admin).status_code == 422
    user_url = f"/api/v1/users/{personas.sara.id}/capacity"
    assert client.put(user_url, json={"chat": 5}, headers=admin).json()["chat"] == 5
    with db.session() as s:
        assert s.get(TeamRouting, personas.assistenza.id).capacity["email"] == 10
        assert s.get(AgentState, personas.sara.id).capacity == {"chat": 5}
    released = client.post(f"/api/v1/users/{personas.sara.id}/release", headers=admin)
    assert released.json() == {"released": 0}


def test_pause_reasons(client, personas, admin):
    created = client.post("/api/v1/pause-reasons", json={"name": "Pranzo"}, headers=admin).json()
    assert created["is_active"] is True
    assert (
        client.post("/api/v1/pause-reasons", json={"name": " "}, headers=admin).status_code == 422
    )
    assert client.delete(f"/api/v1/pause-reasons/{created['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/pause-reasons", headers=admin).json()[0]["is_active"] is False


def test_calendars(client, db, personas, admin):
    body = {
        "name": "Orari negozio",
        "weekly": WEEK,
        "closures": [{"start": "2026-08-10", "end": "2026-08-21"}],
    }
    created = client.post("/api/v1/calendars", json=body, headers=admin)
    assert created.status_code == 201, created.text
    calendar = created.json()
    assert calendar["closures"] == [{"start": "2026-08-10", "end": "2026-08-21"}]
    assert any(h["name"] == "Natale" for h in calendar["holidays"])
    overlapping = {
        **body,
        "closures": [*body["closures"], {"start": "2026-08-20", "end": "2026-08-30"}],
    }
    refused = client.put(f"/api/v1/calendars/{calendar['id']}", json=overlapping, headers=admin)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "closures"
    bad_hours = {**body, "weekly": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}}
    assert (
        client.post("/api/v1/calendars", json={**bad_hours, "name": "X"}, headers=admin).status_code
        == 422
    )
    team = client.put(
        f"/api/v1/teams/{personas.assistenza.id}/calendar",
        json={"calendar_id": calendar["id"]},
        headers=admin,
    )
    assert team.status_code == 200
    with db.session() as s:
        assert s.get(TeamRouting, personas.assistenza.id).calendar_id == calendar["id"]
        assert s.scalar(select(BusinessCalendarRow.name)) == "Orari negozio"


def test_sla_policies(client, db, personas, admin):
    body = {"name": "Urgenti", "priority": "urgent", "first_response_seconds": 0}
    zero = client.post("/api/v1/sla-policies", json=body, headers=admin)
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["field"] == "first_response_seconds"
    negative = client.post(
        "/api/v1/sla-policies", json={**body, "first_response_seconds": -60}, headers=admin
    )
    assert negative.status_code == 422
    next_zero = client.post(
        "/api/v1/sla-policies",
        json={**body, "first_response_seconds": 600, "next_response_seconds": 0},
        headers=admin,
    )
    assert next_zero.json()["errors"][0]["field"] == "next_response_seconds"
    created = client.post(
        "/api/v1/sla-policies",
        json={**body, "first_response_seconds": 600, "channel_id": personas.api_channel.id},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["channel_id"] == personas.api_channel.id
    changed = client.put(
        f"/api/v1/sla-policies/{policy['id']}",
        json={
            **body,
            "first_response_seconds": 900,
            "next_response_seconds": 1800,
            "resolution_seconds": 86400,
        },
        headers=admin,
    )
    assert changed.json()["resolution_seconds"] == 86400
    assert changed.json()["next_response_seconds"] == 1800
    assert client.delete(f"/api/v1/sla-policies/{policy['id']}", headers=admin).status_code == 204
    with db.session() as s:
        assert not s.get(SlaPolicy, policy["id"]).is_active


def test_openapi_documents_the_routing_settings(client):
    spec = client.get("/api/openapi.json")
    if spec.status_code == 404:
        spec = client.get("/openapi.json")
    paths = spec.json()["paths"]
    for path in (
        "/api/v1/skills",
        "/api/v1/queues/{queue_id}/routing",
        "/api/v1/teams/{team_id}/capacity",
        "/api/v1/pause-reasons",
        "/api/v1/calendars",
        "/api/v1/sla-policies",
    ):
        assert path in paths, path
