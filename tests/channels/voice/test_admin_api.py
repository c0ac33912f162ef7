"""The phone's admin and API without SIP daemons: channel setup, SIP credentials shown once,
Kamailio's hooks refusing a wrong token, bad input, call records and wrap-up."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from sportello.channels.voice import actions, daemons
from sportello.channels.voice.models import SipAccount, VoiceCall
from sportello.core.db import Database
from tests.api.helpers import make_token
from tests.factories import Personas, csrf_from, login


def _bearer(db: Database, user: Any, scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(db, user, scopes)}"}


def _voice_channel(client: TestClient, db: Database, p: Personas, **extra: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/channels",
        json={
            "kind": "voice",
            "name": "Centralino",
            "queue_id": p.queue_assistenza.id,
            "settings": {"dids": "+39 02 1234 5678".replace(" ", ""), **extra},
        },
        headers=_bearer(db, p.admin, ("read", "write", "admin")),
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["channel"])


def test_admin_sets_up_a_phone_channel_from_the_api(
    client: TestClient, db: Database, personas: Personas
) -> None:
    channel = _voice_channel(
        client, db, personas, ring_seconds="15", callback="on", position_every_seconds="30"
    )
    assert channel["kind"] == "voice"
    # Settings read back as the form shows them.
    assert channel["settings"]["dids"] == "+390212345678"
    assert channel["settings"]["ring_seconds"] == "15" and channel["settings"]["callback"] == "on"
    assert channel["settings"]["position_every_seconds"] == "30"
    # The page's door for the same setting: the channel form shows it.
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{channel['id']}")
    assert page.status_code == 200
    assert 'name="position_every_seconds"' in page.text and 'value="30"' in page.text


def test_bad_phone_settings_name_the_field(
    client: TestClient, db: Database, personas: Personas
) -> None:
    headers = _bearer(db, personas.admin, ("read", "write", "admin"))
    for settings, field in (
        ({"dids": "not a number"}, "dids"),
        ({"dids": "+390212345678", "ring_seconds": "2"}, "ring_seconds"),
        ({"dids": "+390212345678", "recording": "sometimes"}, "recording"),
        ({"dids": "+390212345678", "position_every_seconds": "601"}, "position_every_seconds"),
    ):
        response = client.post(
            "/api/v1/channels",
            json={"kind": "voice", "name": "X", "settings": settings},
            headers=headers,
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text


def test_sip_password_is_shown_once_and_only_its_digest_kept(
    client: TestClient, db: Database, personas: Personas
) -> None:
    headers = _bearer(db, personas.admin, ("read", "write", "admin"))
    response = client.post(f"/api/v1/voice/sip-accounts/{personas.sara.id}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    password = body["password"]
    assert body["username"] == f"u{personas.sara.id}" and len(password) >= 20
    with db.session() as s:
        account = s.get_one(SipAccount, personas.sara.id)
        assert account.ha1 == actions.ha1(account.username, account.realm, password)
        assert password not in (account.ha1, account.username)
    # Kamailio gets the digest, with the right token only.
    token = daemons.kamailio_token()
    ok = client.post("/voice/kamailio/auth", data={"token": token, "user": body["username"]})
    assert ok.status_code == 200 and ok.text == account.ha1
    assert (
        client.post(
            "/voice/kamailio/auth", data={"token": "x", "user": body["username"]}
        ).status_code
        == 401
    )
    assert (
        client.post("/voice/kamailio/auth", data={"token": token, "user": "nobody"}).status_code
        == 404
    )
    # An agent cannot give herself credentials; the softphone config is her own.
    agent = _bearer(db, personas.sara)
    assert (
        client.post(f"/api/v1/voice/sip-accounts/{personas.luca.id}", headers=agent).status_code
        == 403
    )


def test_admin_page_shows_the_new_password_once(
    client: TestClient, db: Database, personas: Personas
) -> None:
    login(client, personas.admin)
    page = client.get("/admin/voice")
    assert page.status_code == 200
    response = client.post(
        f"/admin/voice/sip-accounts/{personas.luca.id}", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 200
    assert 'id="sip-password"' in response.text
    again = client.get("/admin/voice")
    assert 'id="sip-password"' not in again.text and f"u{personas.luca.id}" in again.text
    # No CSRF token: refused, nothing generated for Sara.
    refused = client.post(f"/admin/voice/sip-accounts/{personas.sara.id}", data={})
    assert refused.status_code in (400, 403)
    with db.session() as s:
        assert s.get(SipAccount, personas.sara.id) is None


def test_agents_cannot_open_the_phone_admin(client: TestClient, personas: Personas) -> None:
    login(client, personas.sara)
    assert client.get("/admin/voice").status_code == 403
    assert client.get("/voice/calls").status_code == 403


def test_kamailio_hooks_refuse_a_wrong_token_and_bad_events(
    client: TestClient, db: Database, personas: Personas
) -> None:
    _voice_channel(client, db, personas)
    denied = client.post(
        "/voice/kamailio/route", data={"token": "nope", "call_id": "c1", "to": "+390212345678"}
    )
    assert denied.status_code == 401
    with db.session() as s:
        assert s.scalars(select(VoiceCall)).first() is None
    token = daemons.kamailio_token()
    bad = client.post(
        "/voice/kamailio/event", data={"token": token, "call_id": "c1", "event": "explode"}
    )
    assert bad.status_code == 422
    # Events about unknown calls are ignored (an internal call between agents).
    unknown = client.post(
        "/voice/kamailio/event", data={"token": token, "call_id": "zz", "event": "hangup"}
    )
    assert unknown.status_code == 200


def test_call_records_over_the_api_and_wrapup(
    client: TestClient, db: Database, personas: Personas
) -> None:
    """A call routed and answered through the hooks, as Kamailio would report it; nobody is
    available, so the call waits, then Sara becomes available and gets it."""
    from sportello.accounts.models import User
    from sportello.routing import presence

    _voice_channel(client, db, personas)
    token = daemons.kamailio_token()
    form = {"token": token, "call_id": "abc@trunk", "from": "3331234567", "to": "+390212345678"}
    first = client.post("/voice/kamailio/route", data=form).json()
    assert first["action"] == "wait" and first["seconds"] >= 1
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        actions.do_generate_sip_account(s, user=sara)
        presence.do_set_presence(s, user=sara, presence="available")
    second = client.post("/voice/kamailio/route", data=form).json()
    assert second == {"action": "dial", "target": f"u{personas.sara.id}", "ring": 20}
    for event in ("answered", "hold", "unhold"):
        assert (
            client.post(
                "/voice/kamailio/event",
                data={"token": token, "call_id": "abc@trunk", "event": event},
            ).status_code
            == 200
        )
    client.post(
        "/voice/kamailio/event",
        data={"token": token, "call_id": "abc@trunk", "event": "hangup", "by": "callee"},
    )
    supervisor = _bearer(db, personas.supervisor)
    calls = client.get("/api/v1/voice/calls", headers=supervisor).json()["items"]
    assert (
        len(calls) == 1
        and calls[0]["outcome"] == "answered"
        and calls[0]["caller"] == "+393331234567"
    )
    call_id = calls[0]["id"]
    sara_headers = _bearer(db, personas.sara)
    luca_headers = _bearer(db, personas.luca)
    assert client.get(f"/api/v1/voice/calls/{call_id}", headers=luca_headers).status_code == 404
    assert client.get("/api/v1/voice/calls", headers=sara_headers).status_code == 403
    done = client.post(
        f"/api/v1/voice/calls/{call_id}/wrapup", json={"resolve": True}, headers=sara_headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["wrapup_seconds"] is not None
    with db.session() as s:
        call = s.scalars(select(VoiceCall)).one()
        assert call.ended_by == "agent" and call.answered_at is not None
    live = client.get("/api/v1/voice/calls/live", headers=supervisor).json()
    assert live == {"waiting": 0, "talking": 0}


def test_outbound_call_creates_a_conversation(
    client: TestClient, db: Database, personas: Personas
) -> None:
    headers = _bearer(db, personas.sara)
    response = client.post(
        "/api/v1/voice/calls",
        json={"number": "333 765 4321", "sip_call_id": "out-1@console"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["direction"] == "outbound" and body["caller"] == "+393337654321"
    assert body["agent_id"] == personas.sara.id and body["conversation_id"]
    bad = client.post(
        "/api/v1/voice/calls", json={"number": "abc", "sip_call_id": "x"}, headers=headers
    )
    assert bad.status_code == 422 and "phone" in bad.text


def test_supervisor_sees_live_calls_and_the_call_log(
    client: TestClient, db: Database, personas: Personas
) -> None:
    _voice_channel(client, db, personas)
    token = daemons.kamailio_token()
    form = {"token": token, "call_id": "live@trunk", "from": "3331234567", "to": "+390212345678"}
    assert client.post("/voice/kamailio/route", data=form).json()["action"] == "wait"
    login(client, personas.supervisor)
    live = client.get("/voice/live")
    assert live.status_code == 200 and "+393331234567" in live.text
    assert "Calls waiting: 1" in live.text  # the supervisor reads English
    log = client.get("/voice/calls")
    assert log.status_code == 200 and "+393331234567" in log.text
