"""Every channel's settings after creation, from Admin → Channels and the REST API: the API
channel's reply URL and new secrets (shown once), the web form's fields, the chat's look and
sites, the bot per channel, "Active" on create and edit, deletion that says what uses a channel;
admins only, secrets write-only, errors translated next to the field."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.conversations.models import DeliveryState, Direction, Message
from sportello.core.dispatcher import Dispatcher
from sportello.core.jobs import Job
from sportello.core.security import verify_webhook
from tests.api.helpers import make_token
from tests.factories import csrf_from, inbound, login, receive


def settings_of(db, channel_id):  # type: ignore[no-untyped-def]
    with db.session() as s:
        channel = s.get(Channel, channel_id)
        return dict(channel.settings), channel.is_active, dict(channel.secrets), channel.token_hash


def post_settings(client, channel, **fields):  # type: ignore[no-untyped-def]
    page = client.get(f"/admin/channels/{channel.id}")
    data = {"name": channel.name, "active": "on", "csrf_token": csrf_from(page.text), **fields}
    return client.post(f"/admin/channels/{channel.id}", data=data, follow_redirects=False)


# --- pages -------------------------------------------------------------------------------------


def test_the_api_channels_reply_url_is_set_after_creation_and_keeps_its_secrets(
    client, personas, db
):
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{personas.api_channel.id}")
    assert 'name="reply_url"' in page.text and 'value=""' in page.text
    _, _, secrets_before, token_before = settings_of(db, personas.api_channel.id)
    bad = post_settings(client, personas.api_channel, reply_url="ftp://app.example.it")
    assert bad.status_code == 422
    assert 'id="err-reply_url"' in bad.text and "deve iniziare con http" in bad.text
    ok = post_settings(client, personas.api_channel, reply_url="https://app.example.it/hook")
    assert ok.status_code == 303
    settings, active, secrets_after, token_after = settings_of(db, personas.api_channel.id)
    assert settings["reply_url"] == "https://app.example.it/hook" and active
    # editing the URL does not change the token nor the signing secret
    assert secrets_after == secrets_before and token_after == token_before
    assert "Impostazioni salvate" in client.get(ok.headers["location"]).text


def test_new_secrets_are_shown_once_and_the_old_ones_stop_working(client, personas, db):
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{personas.api_channel.id}")
    assert "Sostituisci i segreti" in page.text
    rotated = client.post(
        f"/admin/channels/{personas.api_channel.id}/rotate",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    token = re.search(r'value="(spch_[^"]+)"', rotated.text).group(1)
    secret = re.search(r'value="(whsec_[^"]+)"', rotated.text).group(1)
    assert "Nuovi segreti per App" in rotated.text
    again = client.get(f"/admin/channels/{personas.api_channel.id}").text
    assert token not in again and secret not in again
    client.cookies.clear()
    body = {"id": "r1", "from": {"kind": "email", "value": "a@example.it"}, "text": "Ciao"}
    url = f"/api/v1/channels/{personas.api_channel.public_id}/messages"
    old = client.post(url, headers={"Authorization": f"Bearer {personas.api_token}"}, json=body)
    assert old.status_code == 401
    new = client.post(url, headers={"Authorization": f"Bearer {token}"}, json=body)
    assert new.status_code == 201


def test_the_web_forms_fields_topics_and_title_are_editable(client, personas, db):
    login(client, personas.admin)
    response = post_settings(
        client,
        personas.webform,
        title="Scrivici",
        intro="Rispondiamo entro un giorno lavorativo.",
        topics="Ordini, Resi",
        ask_phone="off",
    )
    assert response.status_code == 303
    settings, *_ = settings_of(db, personas.webform.id)
    assert settings["title"] == "Scrivici" and settings["topics"] == ["Ordini", "Resi"]
    assert settings["ask_phone"] is False
    public = client.get(f"/f/{personas.webform.public_id}").text
    assert "Scrivici" in public and 'name="topic"' in public and 'name="phone"' not in public
    edit = client.get(f"/admin/channels/{personas.webform.id}").text
    assert 'value="Ordini, Resi"' in edit


def test_the_chats_look_and_sites_are_editable(client, personas, db):
    with db.transaction() as s:
        chat, _ = channels_actions.do_create_channel(
            s, brand_id=personas.brand_id, kind="chat", name="Chat", queue=None, data={}
        )
    login(client, personas.admin)
    bad = post_settings(client, chat, color="rosso", allowed_origins="non un sito")
    assert bad.status_code == 422 and 'id="err-color"' in bad.text
    assert "il colore deve avere la forma" in bad.text
    ok = post_settings(
        client,
        chat,
        color="#7b4fa0",
        greeting_it="Ciao! Come possiamo aiutarti?",
        allowed_origins="https://www.casalavanda.example",
        prechat="required",
        offline_when_no_agent="off",
        position="left",
    )
    assert ok.status_code == 303
    settings, _, secrets, _ = settings_of(db, chat.id)
    assert settings["color"] == "#7b4fa0" and settings["prechat"] == "required"
    assert settings["allowed_origins"] == ["https://www.casalavanda.example"]
    assert settings["greeting"]["it"] == "Ciao! Come possiamo aiutarti?"
    assert settings["offline_when_no_agent"] is False
    assert settings["position"] == "left"
    assert client.get(f"/chat/config/{chat.public_id}").json()["position"] == "left"
    assert "identity_secret" in secrets  # kept
    edit = client.get(f"/admin/channels/{chat.id}").text
    assert 'value="#7b4fa0"' in edit and "https://www.casalavanda.example</textarea>" in edit


def test_the_bot_is_switched_on_per_channel_with_its_settings(client, personas, db):
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{personas.api_channel.id}")
    assert 'id="bot-form"' in page.text
    # a web form carries no replies: no bot there
    assert 'id="bot-form"' not in client.get(f"/admin/channels/{personas.webform.id}").text
    token = csrf_from(page.text)
    url = f"/admin/channels/{personas.api_channel.id}/bot"
    bad = client.post(url, data={"enabled": "on", "threshold": "140", "csrf_token": token})
    assert bad.status_code == 422 and 'id="bot-err-threshold"' in bad.text
    assert "la soglia di confidenza è un numero da 0 a 100" in bad.text
    ok = client.post(
        url,
        data={
            "enabled": "on",
            "name": "Lavanda",
            "threshold": "65",
            "handover_words": "avvocato, reclamo",
            "greeting": "Ciao, sono Lavanda!",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    settings, *_ = settings_of(db, personas.api_channel.id)
    from sportello.knowledge.bot import BotConfig

    config = BotConfig.from_settings(settings)
    assert config.enabled and config.threshold == 0.65 and config.name == "Lavanda"
    assert config.blocked_topics == ("avvocato", "reclamo")
    assert config.greeting == "Ciao, sono Lavanda!"
    off = client.post(url, data={"threshold": "65", "csrf_token": token}, follow_redirects=False)
    assert off.status_code == 303
    assert not BotConfig.from_settings(settings_of(db, personas.api_channel.id)[0]).enabled


def test_active_is_honoured_on_create_and_edit(client, personas, db):
    login(client, personas.admin)
    form = client.get("/admin/channels/new?kind=webform")
    assert 'type="hidden" name="active" value="off"' in form.text
    created = client.post(
        "/admin/channels",
        data={
            "kind": "webform",
            "name": "Modulo spento",
            "active": "off",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert created.status_code == 201
    with db.session() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "Modulo spento"))
        assert channel.is_active is False
    assert client.get(f"/f/{channel.public_id}").status_code == 404
    post_settings(client, channel, active="on")
    assert settings_of(db, channel.id)[1] is True
    post_settings(client, channel, active="off")
    assert settings_of(db, channel.id)[1] is False


def test_a_new_mailbox_can_start_paused_and_email_is_in_new_channel(client, personas, db):
    login(client, personas.admin)
    listing = client.get("/admin/channels").text
    assert 'href="/admin/email/mailboxes/new" data-kind="email"' in listing
    assert (
        client.get("/admin/channels/new?kind=email", follow_redirects=False).headers["location"]
        == "/admin/email/mailboxes/new"
    )
    form = client.get("/admin/email/mailboxes/new")
    response = client.post(
        "/admin/email/mailboxes",
        data={
            "name": "Assistenza",
            "address": "assistenza@negozio.it",
            "imap_host": "imap.negozio.it",
            "imap_password": "segreta",
            "smtp_host": "smtp.negozio.it",
            "smtp_port": "99999",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert response.status_code == 422
    assert 'id="err-smtp_port"' in response.text and "indica un numero di porta" in response.text
    assert "segreta" not in response.text
    response = client.post(
        "/admin/email/mailboxes",
        data={
            "name": "Assistenza",
            "address": "assistenza@negozio.it",
            "imap_host": "imap.negozio.it",
            "imap_password": "segreta",
            "smtp_host": "smtp.negozio.it",
            "csrf_token": csrf_from(form.text),
        },  # "active" unticked: not posted
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        mailbox = s.scalar(select(Channel).where(Channel.kind == "email"))
        assert mailbox.is_active is False
    listing = client.get("/admin/channels").text
    assert f'href="/admin/email/mailboxes/{mailbox.id}"' in listing
    assert 'href="/admin/email/quarantine"' in listing
    channel_page = client.get(f"/admin/channels/{mailbox.id}").text
    assert f'href="/admin/email/mailboxes/{mailbox.id}"' in channel_page
    assert "/admin/email/quarantine" in channel_page
    mailbox_page = client.get(f"/admin/email/mailboxes/{mailbox.id}").text
    assert 'href="/admin/channels"' in mailbox_page and "/admin/email/quarantine" in mailbox_page


def test_deleting_a_channel_in_use_says_what_uses_it(client, personas, db):
    receive(db, personas.webform, inbound("Info", email="bruno@example.it"))
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{personas.webform.id}")
    assert "Usato da 1 conversazione" in page.text
    refused = client.post(
        f"/admin/channels/{personas.webform.id}/delete", data={"csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 422
    assert "usato da 1 conversazioni e 1 messaggi: disattivalo" in refused.text
    with db.transaction() as s:
        unused, _ = channels_actions.do_create_channel(
            s, brand_id=personas.brand_id, kind="webform", name="Vecchio", queue=None, data={}
        )
    gone = client.post(
        f"/admin/channels/{unused.id}/delete",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    with db.session() as s:
        assert s.get(Channel, unused.id) is None


def test_only_admins_change_channels(client, personas, db):
    login(client, personas.supervisor)
    page = client.get(f"/admin/channels/{personas.api_channel.id}")
    assert page.status_code == 200 and '<fieldset class="contents" disabled>' in page.text
    token = csrf_from(page.text)
    for path, data in (
        ("", {"name": "X", "reply_url": "https://evil.example"}),
        ("/bot", {"enabled": "on"}),
        ("/rotate", {}),
        ("/delete", {}),
    ):
        response = client.post(
            f"/admin/channels/{personas.api_channel.id}{path}", data={**data, "csrf_token": token}
        )
        assert response.status_code == 403, path
    settings, active, *_ = settings_of(db, personas.api_channel.id)
    assert settings["reply_url"] == "" and "bot" not in settings and active


# --- REST API ----------------------------------------------------------------------------------


def bearer(db, user, scopes=("admin",)):  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_token(db, user, scopes)}"}


def test_the_api_reads_and_changes_channels_for_admins_only(client, personas, db):
    admin = bearer(db, personas.admin)
    listed = client.get("/api/v1/channels", headers=admin)
    assert listed.status_code == 200
    api = next(c for c in listed.json() if c["id"] == personas.api_channel.id)
    assert api["secrets_stored"] == ["signing_secret"] and "signing_secret" not in api["settings"]
    assert api["capabilities"]["bot"] is True
    webform = next(c for c in listed.json() if c["id"] == personas.webform.id)
    assert webform["capabilities"]["replies"] is False
    patched = client.patch(
        f"/api/v1/channels/{personas.api_channel.id}",
        headers=admin,
        json={"settings": {"reply_url": "https://app.example.it/hook"}, "is_active": False},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["reply_url"] == "https://app.example.it/hook"
    assert patched.json()["is_active"] is False
    bad = client.patch(
        f"/api/v1/channels/{personas.api_channel.id}",
        headers=admin,
        json={"settings": {"reply_url": "nope"}},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reply_url"
    unknown = client.patch(
        f"/api/v1/channels/{personas.api_channel.id}",
        headers=admin,
        json={"settings": {"color": "#000000"}},
    )
    assert unknown.status_code == 422
    bot = client.put(
        f"/api/v1/channels/{personas.api_channel.id}/bot",
        headers=admin,
        json={"enabled": True, "threshold": 60, "handover_words": ["avvocato"]},
    )
    assert bot.status_code == 200 and bot.json()["threshold"] == 60
    assert (
        client.get(f"/api/v1/channels/{personas.webform.id}/bot", headers=admin).json()["enabled"]
        is False
    )
    no_bot = client.put(
        f"/api/v1/channels/{personas.webform.id}/bot", headers=admin, json={"enabled": True}
    )
    assert no_bot.status_code == 422
    rotated = client.post(
        f"/api/v1/channels/{personas.api_channel.id}/rotate-secrets", headers=admin
    )
    assert rotated.status_code == 200
    assert set(rotated.json()["secrets"]) == {"token", "signing_secret"}
    created = client.post(
        "/api/v1/channels",
        headers=admin,
        json={
            "kind": "webform",
            "name": "Preventivi",
            "is_active": False,
            "settings": {"title": "Chiedi un preventivo"},
        },
    )
    assert created.status_code == 201 and created.json()["channel"]["is_active"] is False
    gone = client.delete(f"/api/v1/channels/{created.json()['channel']['id']}", headers=admin)
    assert gone.status_code == 204
    # agents and supervisors, and tokens without the admin scope, are refused
    for user, scopes in ((personas.sara, ("read", "write")), (personas.supervisor, ("read",))):
        headers = bearer(db, user, scopes)
        assert client.get("/api/v1/channels", headers=headers).status_code == 403
        assert (
            client.patch(
                f"/api/v1/channels/{personas.api_channel.id}", headers=headers, json={"name": "X"}
            ).status_code
            == 403
        )


def test_the_api_refuses_to_delete_a_channel_in_use_and_says_why(client, personas, db):
    receive(db, personas.webform, inbound("Info", email="bruno@example.it"))
    response = client.delete(
        f"/api/v1/channels/{personas.webform.id}", headers=bearer(db, personas.admin)
    )
    assert response.status_code == 409
    body = response.json()
    assert body["uses"] == {"conversations": 1, "messages": 1}
    assert "disattivalo" in body["detail"]  # the admin's language (Italian)


# --- retry -------------------------------------------------------------------------------------


def failed_reply(client, personas, db):  # type: ignore[no-untyped-def]
    result = receive(db, personas.api_channel, inbound("Dov'è il mio ordine?", provider_id="o1"))
    number = result.conversation.number
    login(client, personas.sara)
    page = client.get(f"/c/{number}")
    client.post(
        f"/c/{number}/messages",
        data={"text": "Arriva domani.", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    Dispatcher(db).drain()  # no reply URL yet: a permanent failure
    with db.session() as s:
        message = s.scalars(select(Message).where(Message.direction == Direction.OUTBOUND)).one()
        assert message.delivery_state == DeliveryState.FAILED
    return number, message.id


def test_a_failed_reply_is_retried_after_the_fix_and_delivered(client, personas, db, monkeypatch):
    number, message_id = failed_reply(client, personas, db)
    page = client.get(f"/c/{number}").text
    assert "Non consegnato" in page and "Questo canale API non ha un URL di risposta" in page
    assert f'data-retry="{message_id}"' in page
    received: list[tuple[bytes, str]] = []

    def app_inbox(url, *, content, headers, timeout):  # type: ignore[no-untyped-def]
        received.append((content, headers["X-Sportello-Signature"]))
        return httpx.Response(200, json={"id": "app-77"})

    monkeypatch.setattr("sportello.channels.api.adapter.httpx.post", app_inbox)
    with db.transaction() as s:
        channel = s.get(Channel, personas.api_channel.id)
        channels_actions.do_update_channel(
            s, channel=channel, settings={"reply_url": "https://app.example.it/hook"}
        )
    retried = client.post(
        f"/c/{number}/messages/{message_id}/retry",
        data={"csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert retried.status_code == 303
    with db.session() as s:
        message = s.get(Message, message_id)
        assert message.delivery_state == DeliveryState.QUEUED and message.error is None
        job = s.scalar(select(Job).where(Job.unique_key == f"deliver:{message_id}"))
        assert job.failed_at is None and job.attempts == 0  # the same durable job, re-armed
    Dispatcher(db).drain()
    with db.session() as s:
        message = s.get(Message, message_id)
        assert message.delivery_state == DeliveryState.SENT
        assert message.provider_message_id == "app-77"
    body, signature = received[0]
    assert verify_webhook(body, signature, personas.api_signing_secret)
    # a delivered reply cannot be retried again
    again = client.post(
        f"/c/{number}/messages/{message_id}/retry",
        data={"csrf_token": csrf_from(page)},
        headers={"Accept": "text/html"},
    )
    assert again.status_code == 422 and "si può reinviare solo una risposta" in again.text


def test_retry_through_the_api_and_only_for_who_may_see_it(client, personas, db):
    _number, message_id = failed_reply(client, personas, db)
    luca = bearer(db, personas.luca, ("read", "write"))  # not in Assistenza
    assert client.post(f"/api/v1/messages/{message_id}/retry", headers=luca).status_code == 404
    sara = bearer(db, personas.sara, ("read", "write"))
    response = client.post(f"/api/v1/messages/{message_id}/retry", headers=sara)
    assert response.status_code == 202 and response.json()["delivery_state"] == "queued"


def test_a_mailbox_through_the_api_passwords_write_only(client, personas, db):
    admin = bearer(db, personas.admin)
    created = client.post(
        "/api/v1/channels",
        headers=admin,
        json={
            "kind": "email",
            "name": "Assistenza",
            "is_active": False,
            "settings": {
                "address": "assistenza@negozio.it",
                "imap_host": "imap.negozio.it",
                "imap_password": "segreta-imap",
                "smtp_host": "smtp.negozio.it",
            },
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()["channel"]
    assert body["is_active"] is False and body["capabilities"]["reaches"] == "email"
    assert sorted(body["secrets_stored"]) == ["imap_password", "smtp_password"]
    assert "segreta-imap" not in created.text
    patched = client.patch(
        f"/api/v1/channels/{body['id']}",
        headers=admin,
        json={"settings": {"folder": "Assistenza", "smtp_port": "587"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["folder"] == "Assistenza"
    assert patched.json()["settings"]["smtp_port"] == 587
    assert patched.json()["settings"]["imap_host"] == "imap.negozio.it"  # kept
    assert "segreta-imap" not in patched.text
    _, _, secrets, _ = settings_of(db, body["id"])
    assert sorted(secrets) == ["imap_password", "smtp_password"]  # kept, still encrypted
    bad = client.patch(
        f"/api/v1/channels/{body['id']}", headers=admin, json={"settings": {"smtp_port": "0"}}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "smtp_port"


def test_a_reply_urls_query_string_stays_out_of_the_failure_reason(
    client, personas, db, monkeypatch
):
    def refused(url, *, content, headers, timeout):  # type: ignore[no-untyped-def]
        return httpx.Response(403)

    monkeypatch.setattr("sportello.channels.api.adapter.httpx.post", refused)
    with db.transaction() as s:
        channel = s.get(Channel, personas.api_channel.id)
        channels_actions.do_update_channel(
            s, channel=channel, settings={"reply_url": "https://app.example.it/hook?key=abc123"}
        )
    number, message_id = failed_reply(client, personas, db)
    with db.session() as s:
        error = s.get(Message, message_id).error
    assert error.startswith("the reply URL refused the message\n")
    assert "https://app.example.it/hook: HTTP 403" in error and "abc123" not in error
    page = client.get(f"/c/{number}").text
    assert "URL di risposta ha rifiutato il messaggio.</span>" in page
    assert "(https://app.example.it/hook: HTTP 403)" in page
