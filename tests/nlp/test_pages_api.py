"""Pages and API: the admin trains triage and sees its accuracy, settings with bad input, the
inbox and conversation show the mood, the trend report, roles."""

from __future__ import annotations

import re
from typing import Any

from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from tests.api.helpers import make_token
from tests.factories import csrf_from, inbound, login, receive
from tests.nlp.test_flow import _history


def drain(db: Database) -> None:
    Dispatcher(db, name="test").drain()


def test_admin_trains_triage_and_sees_accuracy(db: Database, personas: Any, client: Any) -> None:
    login(client, personas.admin)
    page = client.get("/admin/nlp")
    assert page.status_code == 200 and "nlp-train" in page.text
    token = csrf_from(page.text)
    refused = client.post("/admin/nlp/train", data={"csrf_token": token})
    assert refused.status_code == 422 and "conversazioni etichettate" in refused.text
    _history(db, personas)
    done = client.post("/admin/nlp/train", data={"csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200
    block = done.text[done.text.index('id="triage-accuracy"') :]
    assert re.search(r"<strong>\d+%</strong>", block)
    assert "spedizione · 7" in block and "fattura · 7" in block


def test_settings_form_and_bad_input(db: Database, personas: Any, client: Any) -> None:
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/nlp").text)
    form = {
        "csrf_token": token,
        "sentiment_enabled": "1",
        "negative_threshold": "0.5",
        "positive_threshold": "0.2",
        "raise_enabled": "1",
        "frustration_threshold": "-0.4",
        "raise_to": "urgent",
        "triage_field": "tags",
        "triage_mode": "apply",
        "triage_threshold": "0.6",
    }
    bad = client.post("/admin/nlp", data=form)
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    form["negative_threshold"] = "-0.3"
    form.update(
        assist_enabled="1",
        assist_base_url="http://127.0.0.1:9/v1",
        assist_model="m",
        assist_key="sk-segreto",
    )
    ok = client.post("/admin/nlp", data=form, follow_redirects=True)
    assert ok.status_code == 200 and "sk-segreto" not in ok.text
    api = client.get("/api/v1/nlp/settings", headers={"X-CSRF-Token": token})
    data = api.json()
    assert data["negative_threshold"] == -0.3 and data["raise_to"] == "urgent"
    assert data["triage_mode"] == "apply" and data["assist_key_set"] is True
    assert "sk-segreto" not in api.text


def test_api_settings_train_and_roles(db: Database, personas: Any, client: Any) -> None:
    admin = {
        "Authorization": f"Bearer {make_token(db, personas.admin, ('read', 'write', 'admin'))}"
    }
    agent = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    assert client.get("/api/v1/nlp/settings", headers=agent).status_code == 403
    bad = client.put("/api/v1/nlp/settings", headers=admin, json={"negative_threshold": 3})
    assert bad.status_code == 422 and "negative_threshold" in bad.text
    inverted = client.put(
        "/api/v1/nlp/settings",
        headers=admin,
        json={"negative_threshold": 0, "positive_threshold": 0},
    )
    assert inverted.status_code == 422 and "negative_threshold" in inverted.text
    assert client.post("/api/v1/nlp/intent-models", headers=admin).status_code == 422
    _history(db, personas)
    trained = client.post("/api/v1/nlp/intent-models", headers=admin)
    assert trained.status_code == 201 and trained.json()["examples"] == 14
    assert client.post("/api/v1/nlp/intent-models", headers=agent).status_code == 403
    out = client.post(
        "/api/v1/nlp/intent", headers=agent, json={"texts": ["mi serve la fattura"]}
    ).json()
    assert out[0]["label"] == "fattura" and 0 < out[0]["confidence"] <= 1
    scores = client.post(
        "/api/v1/nlp/sentiment",
        headers=agent,
        json={"texts": ["Grazie mille, perfetto!", "Terrible, I want a refund"]},
    ).json()
    assert [s["label"] for s in scores] == ["positive", "negative"] and scores[1][
        "language"
    ] == "en"
    assert (
        client.post("/api/v1/nlp/sentiment", headers=agent, json={"texts": []}).status_code == 422
    )
    calibrate = client.post("/api/v1/nlp/sentiment/calibrate", headers=admin)
    assert calibrate.status_code == 422 and "csat" in calibrate.text


def test_inbox_and_conversation_show_the_mood(db: Database, personas: Any, client: Any) -> None:
    angry = receive(
        db,
        personas.api_channel,
        inbound("Vergogna! Il pacco è arrivato rotto e nessuno risponde, sono stufo!"),
    )
    drain(db)
    number = angry.conversation.number
    login(client, personas.sara)
    inbox = client.get("/inbox/all")
    assert inbox.status_code == 200
    assert 'data-mood="negative"' in inbox.text
    page = client.get(f"/c/{number}")
    assert 'data-mood="negative"' in page.text and 'data-language="it"' in page.text
    panel = client.get(f"/c/{number}/nlp")
    assert panel.status_code == 200 and "Negativo" in panel.text
    assert "assist-summary" not in panel.text  # assist is off by default
    token = csrf_from(page.text)
    api = client.get(
        f"/api/v1/conversations/{angry.conversation.id}/sentiment", headers={"X-CSRF-Token": token}
    )
    assert api.json()["label"] == "negative"
    # Luca (another team) does not see it.
    other = {"Authorization": f"Bearer {make_token(db, personas.luca)}"}
    assert (
        client.get(
            f"/api/v1/conversations/{angry.conversation.id}/sentiment", headers=other
        ).status_code
        == 404
    )
    # The supervisor's trend: today has the angry message and a happy one.
    receive(db, personas.api_channel, inbound("Grazie, tutto perfetto!", email="b@example.it"))
    drain(db)
    assert client.get("/reports/sentiment").status_code == 403  # Sara is an agent
    login(client, personas.supervisor)
    page = client.get("/reports/sentiment?days=7")
    assert page.status_code == 200 and "sentiment-chart" in page.text
    token = csrf_from(page.text)
    days = client.get("/api/v1/nlp/sentiment/trend?days=7", headers={"X-CSRF-Token": token})
    today = days.json()[-1]
    assert len(days.json()) == 7 and today["positive"] == 1 and today["negative"] == 1
