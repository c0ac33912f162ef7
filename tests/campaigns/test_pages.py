"""The campaign pages and API through the app: roles, the import with column mapping, the
campaign form, start, the agent's call page with a disposition, compliance, problems on bad
input."""

from __future__ import annotations

import re

from sqlalchemy import select

from sportello.campaigns.models import Campaign, CampaignContact, ContactStatus, DoNotCall
from tests.campaigns.helpers import CSV
from tests.factories import PASSWORD


def login(client, email):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code in (200, 303), answer.text[:300]
    return token


def csrf(client, path="/campaigns"):
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_supervisor_imports_creates_starts_and_agent_works(client, personas, db):
    login(client, "marco@negozio.it")
    token = csrf(client, "/campaigns/lists/new")
    mapped = client.post(
        "/campaigns/lists/upload",
        data={"csrf_token": token, "name": "Clienti"},
        files={"file": ("lista.csv", CSV.encode(), "text/csv")},
    )
    assert mapped.status_code == 200
    upload = re.search(r'name="token" value="([^"]+)"', mapped.text).group(1)
    imported = client.post(
        "/campaigns/lists/import",
        data={
            "csrf_token": token,
            "token": upload,
            "name": "Clienti",
            "phone_column": "Telefono",
            "email_column": "Email",
            "name_column": "Nome",
            "params": ["Ordine"],
        },
        follow_redirects=True,
    )
    assert imported.status_code == 200 and 'id="valid-rows">3<' in imported.text
    list_id = int(re.search(r"/campaigns/new\?list_id=(\d+)", imported.text).group(1))
    form = {
        "csrf_token": token,
        "name": "Richiamo",
        "kind": "call",
        "list_id": str(list_id),
        "purpose": "service",
        "mode": "preview",
        "max_attempts": "3",
        "weekdays_from": "00:00",
        "weekdays_until": "23:59",
        "saturday_from": "00:00",
        "saturday_until": "23:59",
        "sunday_from": "00:00",
        "sunday_until": "23:59",
        "holidays": "1",
        "timezone": "Europe/Rome",
        "question": ["Tutto bene con l'ordine?"],
        "d_code": ["reached", "no_answer"],
        "d_label": ["Reached", "No answer"],
        "d_retry_max": ["", "2"],
        "d_retry_minutes": ["", "30"],
        "d_flags_0": ["final", "success"],
    }
    saved = client.post("/campaigns/new", data=form, follow_redirects=True)
    assert saved.status_code == 200
    with db.session() as s:
        campaign_id = s.scalar(select(Campaign.id))
    # No legal basis: the start is refused with a clear error.
    refused = client.post(
        f"/campaigns/{campaign_id}/status", data={"csrf_token": token, "action": "start"}
    )
    assert refused.status_code == 422 and 'id="campaign-error"' in refused.text
    form["legal_basis"] = "contract"
    client.post(f"/campaigns/{campaign_id}/edit", data=form)
    started = client.post(
        f"/campaigns/{campaign_id}/status",
        data={"csrf_token": token, "action": "start"},
        follow_redirects=True,
    )
    assert started.status_code == 200 and 'id="r-total">3<' in started.text
    # The agent.
    client.cookies.clear()
    login(client, "sara@negozio.it")
    assert client.get(f"/campaigns/{campaign_id}/edit").status_code == 403
    token = csrf(client)
    client.post(f"/campaigns/{campaign_id}/next", data={"csrf_token": token})
    page = client.get(f"/campaigns/{campaign_id}/work")
    contact_id = int(re.search(r"/campaigns/contacts/(\d+)/disposition", page.text).group(1))
    dialed = client.post(f"/campaigns/contacts/{contact_id}/dial", headers={"X-CSRF-Token": token})
    assert dialed.status_code == 204
    done = client.post(
        f"/campaigns/contacts/{contact_id}/disposition",
        data={"csrf_token": token, "disposition": "no_answer", "a_q1": "—"},
        follow_redirects=False,
    )
    assert done.status_code == 303, re.findall(r"alert-error[^<]*</?[^>]*>([^<]*)", done.text)
    with db.session() as s:
        contact = s.get_one(CampaignContact, contact_id)
        assert contact.status == ContactStatus.PENDING and contact.attempts == 1
    bad = client.post(
        f"/campaigns/contacts/{contact_id}/disposition",
        data={"csrf_token": token, "disposition": "no_answer"},
    )
    assert bad.status_code == 404  # no longer on this agent's screen


def test_api_problems_name_the_field(client, personas):
    login(client, "marco@negozio.it")
    token = csrf(client)
    headers = {"X-CSRF-Token": token}
    answer = client.post(
        "/api/v1/campaigns/lists/import",
        data={"name": "Vuota", "phone_column": "Telefono"},
        files={"file": ("vuota.csv", b"", "text/csv")},
        headers=headers,
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    dnc = client.post(
        "/api/v1/campaigns/do-not-call", json={"value": "non un numero"}, headers=headers
    )
    assert dnc.status_code == 422 and "value" in dnc.text
    ok = client.post(
        "/api/v1/campaigns/do-not-call", json={"value": "+39 333 765 4321"}, headers=headers
    )
    assert ok.status_code == 201 and ok.json()["value"] == "+393337654321"
    listed = client.get("/api/v1/campaigns/do-not-call", headers=headers)
    assert [e["value"] for e in listed.json()["items"]] == ["+393337654321"]


def test_agents_cannot_manage(client, personas, db):
    login(client, "sara@negozio.it")
    token = csrf(client)
    assert client.get("/campaigns/compliance").status_code == 403
    answer = client.post(
        "/campaigns/compliance/do-not-call", data={"csrf_token": token, "value": "3331234567"}
    )
    assert answer.status_code == 403
    with db.session() as s:
        assert s.scalar(select(DoNotCall.id)) is None


def test_unsubscribe_link_opts_out(client, personas, db):
    from sportello.campaigns import links
    from tests.campaigns.helpers import campaign, import_csv, start

    list_id = import_csv(db, personas)
    campaign_id = campaign(db, personas, list_id)
    start(db, campaign_id)
    with db.session() as s:
        contact = s.scalars(
            select(CampaignContact).where(CampaignContact.email == "anna@example.it")
        ).one()
    url = links.url_for(contact.id).split("testserver")[-1].replace("http://127.0.0.1:8000", "")
    page = client.get(url)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post(url, data={"csrf_token": token}).status_code == 200
    with db.session() as s:
        values = set(s.scalars(select(DoNotCall.value)))
    assert {"anna@example.it", "+393331234567"} <= values
    assert client.get("/campaigns/u/forged").status_code == 404
