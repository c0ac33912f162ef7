"""Admin pages for the messaging channels (WhatsApp, Telegram, SMS): the forms and their errors,
write-only secrets, what to paste at the provider; Telegram's setWebhook and callback answers,
WhatsApp's template sync, against a real local HTTP server playing the provider."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.channels.whatsapp import templates
from sportello.core.errors import InvalidInput
from sportello.core.security import hash_token
from tests.channels import whatsapp_templates as wt
from tests.channels.messaging import FakeProvider, Reply, create_channel, fixture_bytes
from tests.factories import csrf_from, login

PNID = "106540352242922"
WABA = "102290129340398"
BOT = "123456:ABC-DEF1234ghIkl"
ACCESS_TOKEN = "EAAG-accesso-segreto"
APP_SECRET = "segreto-app-meta"
AUTH_TOKEN = "twilio-auth-segreto"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as p:
        yield p


def _channel(db, name: str) -> Channel:  # type: ignore[no-untyped-def]
    with db.session() as s:
        channel = s.scalar(select(Channel).where(Channel.name == name))
        assert channel is not None
        s.expunge(channel)
        return channel


def _create(client, kind: str, **fields: str):  # type: ignore[no-untyped-def]
    form = client.get(f"/admin/channels/new?kind={kind}")
    assert form.status_code == 200
    return client.post(
        "/admin/channels", data={"kind": kind, "csrf_token": csrf_from(form.text), **fields}
    )


def _create_whatsapp(client, name: str, **fields: str):  # type: ignore[no-untyped-def]
    """The WhatsApp form with the number's ID and both credentials, and ``fields`` besides."""
    credentials = {"phone_number_id": PNID, "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET}
    return _create(client, "whatsapp", name=name, **{**credentials, **fields})


def _save(client, channel_id: int, **fields: str):  # type: ignore[no-untyped-def]
    """Post the channel's edit form with ``fields``, as the page would."""
    url = f"/admin/channels/{channel_id}"
    token = csrf_from(client.get(url).text)
    return client.post(url, data={**fields, "csrf_token": token}, follow_redirects=False)


def _ask_provider(client, channel_id: int, action: str):  # type: ignore[no-untyped-def]
    """Press a button of the channel's page that calls the provider (``telegram-webhook``,
    ``whatsapp-templates``)."""
    url = f"/admin/channels/{channel_id}"
    return client.post(f"{url}/{action}", data={"csrf_token": csrf_from(client.get(url).text)})


# ---- the forms -------------------------------------------------------------------------------


def test_the_channel_list_offers_the_messaging_kinds(client, personas):
    login(client, personas.admin)
    listing = client.get("/admin/channels").text
    for kind in ("whatsapp", "telegram", "sms"):
        assert f"/admin/channels/new?kind={kind}" in listing


@pytest.mark.parametrize(
    ("kind", "fields", "secrets"),
    [
        (
            "whatsapp",
            ("phone_number_id", "business_account_id", "display_phone_number", "api_base"),
            ("access_token", "app_secret", "verify_token"),
        ),
        ("telegram", ("api_base",), ("bot_token",)),
        (
            "sms",
            ("account_sid", "from_number", "messaging_service_sid", "webhook_url", "api_base"),
            ("auth_token",),
        ),
    ],
)
def test_each_kind_has_its_fields_with_help_and_password_inputs(
    client, personas, kind, fields, secrets
):
    login(client, personas.admin)
    page = client.get(f"/admin/channels/new?kind={kind}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    for name in fields:
        assert re.search(rf'<input type="(text|url)" name="{name}"', page.text), name
        assert f'id="help-{name}"' in page.text
    for name in secrets:
        assert f'<input type="password" name="{name}" value=""' in page.text, name
    assert 'name="queue_id"' in page.text
    # Italian first: the labels and their help are translated.
    assert {"whatsapp": "ID del numero", "telegram": "BotFather", "sms": "Console di Twilio"}[
        kind
    ] in page.text


def test_creating_a_whatsapp_channel_shows_the_callback_url_and_the_verify_token_once(
    client, personas, db
):
    login(client, personas.admin)
    response = _create_whatsapp(
        client,
        "WhatsApp assistenza",
        queue_id=str(personas.queue_assistenza.id),
        business_account_id=WABA,
        display_phone_number="+39 02 1234 5678",
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    channel = _channel(db, "WhatsApp assistenza")
    assert channel.queue_id == personas.queue_assistenza.id
    assert channel.settings["phone_number_id"] == PNID
    assert channel.settings["business_account_id"] == WABA
    verify_token = re.search(r'value="(wav_[^"]+)"', response.text).group(1)
    hook = f"http://127.0.0.1:8000/hooks/{channel.public_id}"
    assert f'value="{hook}"' in response.text
    for secret in (ACCESS_TOKEN, APP_SECRET):
        assert secret not in response.text
        assert secret not in json.dumps(channel.settings) + json.dumps(channel.secrets)
    assert config_for(channel).secrets["verify_token"] == verify_token
    # never again: not on the list, not on the channel's page
    for url in ("/admin/channels", f"/admin/channels/{channel.id}"):
        page = client.get(url).text
        assert verify_token not in page and ACCESS_TOKEN not in page and APP_SECRET not in page
        assert hook in page
    # Meta's handshake works with the token shown
    client.cookies.clear()
    q = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": "77"}
    assert client.get(f"/hooks/{channel.public_id}", params=q).text == "77"


def test_a_chosen_verify_token_is_kept(client, personas, db):
    login(client, personas.admin)
    response = _create_whatsapp(client, "WA", verify_token="il-mio-token")
    assert response.status_code == 201
    assert 'value="il-mio-token"' in response.text  # shown once, like a generated one
    assert config_for(_channel(db, "WA")).secrets["verify_token"] == "il-mio-token"


def test_errors_are_shown_next_to_the_field_and_secrets_are_not_echoed(client, personas, db):
    login(client, personas.admin)
    response = _create_whatsapp(
        client,
        "WA",
        phone_number_id="non-un-numero",
        business_account_id=WABA,
        verify_token="mio-verify",
    )
    assert response.status_code == 422
    assert 'id="err-phone_number_id"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "ID del numero di telefono" in response.text  # the message, in Italian
    # what was typed comes back, except the secrets
    assert 'value="non-un-numero"' in response.text and f'value="{WABA}"' in response.text
    for secret in (ACCESS_TOKEN, APP_SECRET, "mio-verify"):
        assert secret not in response.text
    assert "scrivili di nuovo" in response.text
    with db.session() as s:
        assert s.scalar(select(Channel).where(Channel.kind == "whatsapp")) is None

    missing = _create(client, "telegram", name="Bot", bot_token="senza-due-punti")
    assert missing.status_code == 422 and 'id="err-bot_token"' in missing.text
    assert "senza-due-punti" not in missing.text
    bad_url = _create(
        client,
        "sms",
        name="SMS",
        account_sid="AC123",
        auth_token=AUTH_TOKEN,
        from_number="+393331234567",
        api_base="ftp://twilio.example",
    )
    assert bad_url.status_code == 422 and 'id="err-api_base"' in bad_url.text
    assert '<details class="span-2" open>' in bad_url.text  # the advanced part opens
    assert AUTH_TOKEN not in bad_url.text
    too_long = _create(client, "sms", name="SMS", account_sid="A" * 2001, auth_token="x")
    assert too_long.status_code == 422 and 'id="err-account_sid"' in too_long.text


def test_creating_telegram_and_sms_channels_shows_what_to_paste(client, personas, db):
    login(client, personas.admin)
    telegram = _create(client, "telegram", name="Bot Telegram", bot_token=BOT)
    assert telegram.status_code == 201, telegram.text
    channel = _channel(db, "Bot Telegram")
    secret_token = re.search(r'value="(tg_[^"]+)"', telegram.text).group(1)
    assert channel.token_hash == hash_token(secret_token)
    assert f"http://127.0.0.1:8000/hooks/{channel.public_id}" in telegram.text
    assert f'action="/admin/channels/{channel.id}/telegram-webhook"' in telegram.text
    assert BOT not in telegram.text

    sms = _create(
        client,
        "sms",
        name="SMS negozio",
        account_sid="AC0123456789",
        auth_token=AUTH_TOKEN,
        from_number="+393331234567",
    )
    assert sms.status_code == 201, sms.text
    channel = _channel(db, "SMS negozio")
    hook = f"http://127.0.0.1:8000/hooks/{channel.public_id}"
    assert f'value="{hook}" aria-label="URL per le notifiche di stato"' in sms.text
    assert f'value="{hook}" aria-label="URL del webhook"' in sms.text
    assert AUTH_TOKEN not in sms.text
    assert config_for(channel).secrets["auth_token"] == AUTH_TOKEN


def test_editing_keeps_a_blank_secret_and_replaces_a_typed_one(client, personas, db):
    channel = create_channel(
        db,
        personas,
        "whatsapp",
        {
            "phone_number_id": PNID,
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": "vt-segreto-9",
        },
    )
    with db.transaction() as s:  # a synced template list survives an edit
        s.get_one(Channel, channel.id).settings = {**channel.settings, "templates": [{"x": 1}]}
    login(client, personas.admin)
    url = f"/admin/channels/{channel.id}"
    page = client.get(url)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for secret in (ACCESS_TOKEN, APP_SECRET, "vt-segreto-9"):
        assert secret not in page.text
    assert page.text.count("valore salvato: lascia vuoto per non cambiarlo") == 3
    assert f'name="phone_number_id" value="{PNID}"' in page.text
    before = _channel(db, channel.name).secrets
    response = client.post(
        url,
        data={
            "name": "WhatsApp vendite",
            "queue_id": str(personas.queue_vendite.id),
            "active": "1",
            "phone_number_id": PNID,
            "business_account_id": WABA,
            "access_token": "",
            "app_secret": "nuovo-segreto",
            "verify_token": "",
            "api_base": "https://graph.facebook.com/v22.0",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    saved = _channel(db, "WhatsApp vendite")
    assert saved.queue_id == personas.queue_vendite.id and saved.is_active
    assert saved.settings["business_account_id"] == WABA
    assert saved.settings["api_base"] == "https://graph.facebook.com/v22.0"
    assert saved.settings["templates"] == [{"x": 1}]
    secrets = config_for(saved).secrets
    assert secrets == {
        "access_token": ACCESS_TOKEN,
        "app_secret": "nuovo-segreto",
        "verify_token": "vt-segreto-9",
    }
    # the secrets left alone keep their ciphertext
    assert saved.secrets["access_token"] == before["access_token"]
    assert saved.secrets["app_secret"] != before["app_secret"]


def test_a_bad_edit_shows_the_error_and_changes_nothing(client, personas, db):
    channel = create_channel(
        db, personas, "sms", {"account_sid": "AC1", "auth_token": AUTH_TOKEN, "from_number": "+39"}
    )
    login(client, personas.admin)
    response = _save(
        client,
        channel.id,
        name="Nuovo nome",
        account_sid="",
        auth_token="un-altro-token",
        from_number="+393330000000",
    )
    assert response.status_code == 422
    assert 'id="err-account_sid"' in response.text
    assert 'value="+393330000000"' in response.text  # what was typed comes back...
    assert "un-altro-token" not in response.text  # ...but not the secret
    unchanged = _channel(db, channel.name)
    assert unchanged.settings["account_sid"] == "AC1"
    assert config_for(unchanged).secrets["auth_token"] == AUTH_TOKEN


def test_telegram_edit_keeps_the_secret_token(client, personas, db):
    channel = create_channel(db, personas, "telegram", {"bot_token": BOT})
    login(client, personas.admin)
    response = _save(client, channel.id, name="Bot", bot_token="", api_base="", active="1")
    assert response.status_code == 303
    saved = _channel(db, "Bot")
    assert saved.token_hash == channel.token_hash
    assert config_for(saved).secrets["bot_token"] == BOT


def test_supervisors_see_the_page_but_cannot_change_or_call_the_provider(client, personas, db):
    channel = create_channel(db, personas, "telegram", {"bot_token": BOT})
    login(client, personas.supervisor)
    page = client.get(f"/admin/channels/{channel.id}")
    assert page.status_code == 200
    assert '<fieldset class="contents" disabled>' in page.text
    assert "register-webhook" not in page.text
    token = csrf_from(page.text)
    assert client.get("/admin/channels/new?kind=telegram").status_code == 403
    for path in ("", "/telegram-webhook"):
        response = client.post(
            f"/admin/channels/{channel.id}{path}", data={"name": "X", "csrf_token": token}
        )
        assert response.status_code == 403


# ---- Telegram: setWebhook and callback answers -------------------------------------------------


def _telegram(db, personas, provider) -> Channel:  # type: ignore[no-untyped-def]
    return create_channel(db, personas, "telegram", {"bot_token": BOT, "api_base": provider.url})


def _telegram_update(client, channel, fixture: str, secret_token: str):  # type: ignore[no-untyped-def]
    """Telegram posting the update in ``fixture`` to the channel's webhook with ``secret_token``."""
    return client.post(
        f"/hooks/{channel.public_id}",
        content=fixture_bytes(f"telegram/{fixture}"),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": secret_token,
        },
    )


def test_register_webhook_calls_setwebhook_with_a_new_secret_token(client, personas, db, provider):
    provider.on(
        "POST",
        f"/bot{BOT}/setWebhook",
        Reply(json={"ok": True, "result": True, "description": "Webhook was set"}),
    )
    channel = _telegram(db, personas, provider)
    login(client, personas.admin)
    response = _ask_provider(client, channel.id, "telegram-webhook")
    assert response.status_code == 200, response.text
    assert "Webhook was set" in response.text and 'class="alert alert-ok"' in response.text
    (call,) = provider.calls("POST", f"/bot{BOT}/setWebhook")
    sent = call.json()
    assert sent["url"] == f"http://127.0.0.1:8000/hooks/{channel.public_id}"
    assert sent["secret_token"].startswith("tg_")
    assert sent["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert sent["secret_token"] not in response.text
    # the new token is the one the webhook now accepts; the one shown at creation is retired
    assert _channel(db, channel.name).token_hash == hash_token(sent["secret_token"])
    client.cookies.clear()
    message = "02_message_text.json"
    old = _telegram_update(client, channel, message, channel.shown_once["secret_token"])
    assert old.status_code == 401
    new = _telegram_update(client, channel, message, sent["secret_token"])
    assert new.status_code == 200


def test_a_refused_setwebhook_shows_telegrams_answer_and_keeps_the_old_token(
    client, personas, db, provider
):
    provider.on(
        "POST",
        f"/bot{BOT}/setWebhook",
        Reply(
            400,
            {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: bad webhook: HTTPS url must be provided for webhook",
            },
        ),
    )
    channel = _telegram(db, personas, provider)
    login(client, personas.admin)
    response = _ask_provider(client, channel.id, "telegram-webhook")
    assert response.status_code == 502
    assert "HTTPS url must be provided" in response.text
    assert 'class="alert alert-error"' in response.text
    assert _channel(db, channel.name).token_hash == channel.token_hash


def test_register_webhook_is_for_telegram_channels_only(client, personas):
    login(client, personas.admin)
    response = _ask_provider(client, personas.webform.id, "telegram-webhook")
    assert response.status_code == 404


def test_a_button_press_is_answered_so_it_stops_spinning(client, personas, db, provider):
    provider.on("POST", f"/bot{BOT}/answerCallbackQuery", Reply(json={"ok": True, "result": True}))
    channel = _telegram(db, personas, provider)
    response = _telegram_update(
        client, channel, "13_callback_query.json", channel.shown_once["secret_token"]
    )
    assert response.status_code == 200
    assert len(response.json()["received"]) == 1
    (answer,) = provider.calls("POST", f"/bot{BOT}/answerCallbackQuery")
    assert answer.json() == {"callback_query_id": "4382bfdwdsb323b2d9"}


def test_a_failed_callback_answer_does_not_lose_the_message(client, personas, db, provider):
    provider.on(
        "POST",
        f"/bot{BOT}/answerCallbackQuery",
        Reply(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: query is too old"}
        ),
    )
    channel = _telegram(db, personas, provider)
    response = _telegram_update(
        client, channel, "13_callback_query.json", channel.shown_once["secret_token"]
    )
    assert response.status_code == 200
    assert response.json()["received"][0]["duplicate"] is False


# ---- WhatsApp: template sync -------------------------------------------------------------------


def graph_template(name: str, language: str = "it", status: str = "APPROVED", **extra):  # type: ignore[no-untyped-def]
    components = extra.pop(
        "components",
        [{"type": "BODY", "text": f"Buongiorno {{{{1}}}}, {name}: ordine {{{{2}}}}."}],
    )
    return {
        "name": name,
        "language": language,
        "status": status,
        "components": components,
        "id": f"id-{name}",
        **extra,
    }


PAGE_ONE = [
    graph_template("ordine_pronto"),
    graph_template("ordine_pronto", "en_US"),
    graph_template("in_revisione", status="PENDING"),
    graph_template("rifiutato", status="REJECTED"),
]
PAGE_TWO = [
    graph_template(
        "promo_immagine",
        components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://x"]}},
            {"type": "BODY", "text": "Sconti!"},
        ],
    ),
    graph_template(
        "saluto",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Negozio Rossi"},
            {"type": "BODY", "text": "Ciao {{nome}}, possiamo riprendere la conversazione?"},
            {"type": "FOOTER", "text": "Rispondi STOP per non ricevere messaggi"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Sì"}]},
        ],
    ),
    wt.CAROUSEL,
]


def _whatsapp(db, personas, provider, **extra: str) -> Channel:  # type: ignore[no-untyped-def]
    return create_channel(
        db,
        personas,
        "whatsapp",
        {
            "phone_number_id": PNID,
            "business_account_id": WABA,
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "api_base": provider.url,
            **extra,
        },
    )


def test_sync_templates_follows_paging_and_keeps_the_approved_ones(client, personas, db, provider):
    path = f"/{WABA}/message_templates"
    provider.on(
        "GET",
        path,
        Reply(json={"data": PAGE_ONE, "paging": {"next": f"{provider.url}{path}?after=QVFI"}}),
        Reply(json={"data": PAGE_TWO, "paging": {"cursors": {"before": "QVFI"}}}),
    )
    channel = _whatsapp(db, personas, provider)
    login(client, personas.admin)
    response = _ask_provider(client, channel.id, "whatsapp-templates")
    assert response.status_code == 200, response.text
    first, second = provider.calls("GET", path)
    assert first.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert first.query["fields"] == ["name,language,status,components"]
    assert second.query == {"after": ["QVFI"]}
    assert second.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert "4 modelli approvati salvati" in response.text
    assert "1 altro ha parti che la console non sa inviare" in response.text
    stored = _channel(db, channel.name).settings
    assert [(t["name"], t["language"]) for t in stored["templates"]] == [
        ("ordine_pronto", "en_US"),
        ("ordine_pronto", "it"),
        ("promo_immagine", "it"),
        ("saluto", "it"),
    ]
    saluto = stored["templates"][3]
    assert saluto["params"] == ["nome"]
    assert saluto["header"] == "Negozio Rossi"
    assert saluto["buttons"] == [{"index": 0, "type": "QUICK_REPLY", "text": "Sì"}]
    assert stored["templates"][2]["header_format"] == "IMAGE"
    assert stored["templates"][1]["params"] == ["1", "2"]
    assert stored["templates_skipped"] == [
        {"name": "catalogo_autunno", "language": "it", "reason": "carousel"}
    ]
    assert stored["templates_synced_at"]
    page = client.get(f"/admin/channels/{channel.id}").text
    assert 'id="template-list"' in page
    skipped = page[page.index('id="templates-skipped"') :]
    assert "<code>catalogo_autunno</code> (it): un carosello" in skipped


def test_the_admin_page_still_shows_a_skipped_list_stored_before_the_reasons(
    client, personas, db, provider
):
    channel = _whatsapp(db, personas, provider)
    with db.transaction() as s:
        row = s.get_one(Channel, channel.id)
        row.settings = {**row.settings, "templates_skipped": ["vecchio (it)"]}
    login(client, personas.admin)
    page = client.get(f"/admin/channels/{channel.id}").text
    assert "<li>vecchio (it)</li>" in page


def test_a_failed_sync_shows_metas_error_and_keeps_the_stored_list(client, personas, db, provider):
    expired = {"error": {"message": "Error validating access token", "code": 190}}
    provider.on("GET", f"/{WABA}/message_templates", Reply(401, expired))
    channel = _whatsapp(db, personas, provider)
    with db.transaction() as s:
        row = s.get_one(Channel, channel.id)
        row.settings = {**row.settings, "templates": [{"name": "vecchio", "language": "it"}]}
    login(client, personas.admin)
    response = _ask_provider(client, channel.id, "whatsapp-templates")
    assert response.status_code == 502
    assert "WhatsApp error 190" in response.text and "access token" in response.text
    assert _channel(db, channel.name).settings["templates"] == [
        {"name": "vecchio", "language": "it"}
    ]


def test_sync_needs_the_business_account_and_never_sends_the_token_elsewhere(
    client, personas, db, provider
):
    without = create_channel(
        db,
        personas,
        "whatsapp",
        {"phone_number_id": PNID, "access_token": "t", "app_secret": "s", "api_base": provider.url},
    )
    login(client, personas.admin)
    response = _ask_provider(client, without.id, "whatsapp-templates")
    assert response.status_code == 502
    assert "ID dell'account WhatsApp Business" in response.text

    with FakeProvider() as elsewhere:
        elsewhere.on("GET", "/steal", Reply(json={"data": []}))
        path = f"/{WABA}/message_templates"
        provider.on(
            "GET", path, Reply(json={"data": [], "paging": {"next": f"{elsewhere.url}/steal"}})
        )
        channel = _whatsapp(db, personas, provider)
        response = _ask_provider(client, channel.id, "whatsapp-templates")
        assert response.status_code == 502
        assert elsewhere.requests == []


# ---- the template rules, without the network -------------------------------------------------


def test_templates_render_and_build_the_send_object():
    (positional,) = templates.parse([graph_template("ordine_pronto")]).templates
    values = templates.check_params(positional, [" Mario ", "5521"])
    assert templates.render(positional, values) == "Buongiorno Mario, ordine_pronto: ordine 5521."
    assert templates.send_object(positional, values) == {
        "name": "ordine_pronto",
        "language": {"code": "it"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Mario"}, {"type": "text", "text": "5521"}],
            }
        ],
    }
    (named,) = templates.parse([PAGE_TWO[1]]).templates
    assert templates.send_object(named, ["Anna"])["components"][0]["parameters"] == [
        {"type": "text", "parameter_name": "nome", "text": "Anna"}
    ]
    (plain,) = templates.parse(
        [graph_template("grazie", components=[{"type": "BODY", "text": "Grazie!"}])]
    ).templates
    assert templates.send_object(plain, []) == {"name": "grazie", "language": {"code": "it"}}
    for bad in (["solo uno"], ["Mario", ""], ["Mario", "a\nb"], ["Mario", "a     b"]):
        with pytest.raises(InvalidInput):
            templates.check_params(positional, bad)


def test_placeholders_are_ordered_by_number():
    assert templates.placeholders("{{2}} e {{1}} e {{10}} e {{2}}") == ["1", "2", "10"]
    assert templates.placeholders("Ciao {{ nome }}, ordine {{numero}}") == ["nome", "numero"]


def test_templates_the_console_cannot_fill_are_skipped_with_the_reason():
    items = [entry for entry, _reason in wt.SKIPPED.values()]
    parsed = templates.parse([*items, "rubbish", {"status": "APPROVED"}])
    assert parsed.templates == []
    assert parsed.skipped == sorted(
        (
            {"name": name, "language": "it", "reason": reason}
            for name, (_entry, reason) in wt.SKIPPED.items()
        ),
        key=lambda s: s["name"],
    )
    # A header with two variables or a link with its variable in the middle: Meta allows
    # neither, so nothing the console could fill.
    odd = templates.parse(
        [
            wt.approved("due", {"type": "HEADER", "format": "TEXT", "text": "{{1}} e {{2}}"}),
            wt.approved(
                "mezzo",
                {"type": "BODY", "text": "Ciao"},
                {
                    "type": "BUTTONS",
                    "buttons": [{"type": "URL", "text": "Vai", "url": "https://x.it/{{1}}/a"}],
                },
            ),
            wt.approved("gif", {"type": "HEADER", "format": "GIF"}, {"type": "BODY", "text": "."}),
        ]
    )
    assert [(s["name"], s["reason"]) for s in odd.skipped] == [
        ("due", "header"),
        ("gif", "header"),
        ("mezzo", "button"),
    ]


def _parsed(item: dict[str, Any]) -> dict[str, Any]:
    (template,) = templates.parse([item]).templates
    return template


def test_headers_and_buttons_are_kept_with_what_they_need():
    shipped = _parsed(wt.SHIPPED)
    assert shipped["header_format"] == "TEXT"
    assert shipped["header"] == "Ordine {{1}} spedito"
    assert shipped["header_params"] == ["1"]
    assert shipped["params"] == ["1", "2"]
    assert shipped["buttons"] == [
        {
            "index": 0,
            "type": "URL",
            "text": "Traccia il pacco",
            "url": "https://negozio.example/traccia/{{1}}",
            "params": ["1"],
        },
        {"index": 1, "type": "PHONE_NUMBER", "text": "Chiamaci"},
    ]
    sale = _parsed(wt.SALE)
    assert (sale["header_format"], sale["header"], sale["header_params"]) == ("IMAGE", "", [])
    assert [(b["index"], b["type"]) for b in sale["buttons"]] == [
        (0, "QUICK_REPLY"),
        (1, "QUICK_REPLY"),
        (2, "URL"),
    ]
    assert sale["buttons"][2]["params"] == []  # a fixed link: nothing to fill
    assert _parsed(wt.INVOICE)["header_format"] == "DOCUMENT"
    assert _parsed(wt.TUTORIAL)["header_format"] == "VIDEO"
    assert _parsed(wt.WELCOME)["header_params"] == ["nome"]


def test_a_text_header_and_a_url_button_are_sent_as_meta_documents():
    shipped = _parsed(wt.SHIPPED)
    filled = templates.fill(shipped, [" Mario ", "domani"], header=["5521 "], buttons=[" AB123"])
    assert templates.send_object(shipped, filled) == wt.SHIPPED_SENT
    assert templates.render(shipped, filled) == (
        "Ordine 5521 spedito\n\nCiao Mario, il pacco arriva domani.\n\nNegozio Rossi\n\n"
        "[Traccia il pacco] https://negozio.example/traccia/AB123\n[Chiamaci]"
    )


def test_an_image_header_and_quick_replies_are_sent_as_meta_documents():
    sale = _parsed(wt.SALE)
    filled = templates.fill(sale, ["31 agosto"], header_media=wt.SALE_IMAGE)
    assert templates.send_object(sale, filled) == wt.SALE_SENT
    assert templates.render(sale, filled).startswith(f"{wt.SALE_IMAGE}\n\nSaldi fino al 31 agosto!")
    # A media ID uploaded to WhatsApp goes as an id, not a link.
    by_id = templates.fill(sale, ["31 agosto"], header_media="1479537139650973")
    assert templates.send_object(sale, by_id)["components"][0]["parameters"] == [
        {"type": "image", "image": {"id": "1479537139650973"}}
    ]


def test_document_and_video_headers_and_named_header_parameters():
    invoice = _parsed(wt.INVOICE)
    link = "https://negozio.example/fatture/F%202024-12.pdf"
    sent = templates.send_object(invoice, templates.fill(invoice, ["Mario"], header_media=link))
    assert sent["components"] == [
        {
            "type": "header",
            "parameters": [
                {"type": "document", "document": {"link": link, "filename": "F 2024-12.pdf"}}
            ],
        },
        {
            "type": "body",
            "parameters": [{"type": "text", "parameter_name": "nome", "text": "Mario"}],
        },
    ]
    tutorial = _parsed(wt.TUTORIAL)
    video = "https://cdn.negozio.example/montaggio.mp4"
    assert templates.send_object(tutorial, templates.fill(tutorial, [], header_media=video)) == {
        "name": "tutorial",
        "language": {"code": "it"},
        "components": [
            {"type": "header", "parameters": [{"type": "video", "video": {"link": video}}]}
        ],
    }
    welcome = _parsed(wt.WELCOME)
    assert templates.send_object(welcome, templates.fill(welcome, [], header=["Anna"])) == {
        "name": "benvenuto",
        "language": {"code": "it"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "text", "parameter_name": "nome", "text": "Anna"}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("spedizione", {"values": ["Mario", "domani"], "buttons": ["AB1"]}, "header_params"),
        (
            "spedizione",
            {"values": ["Mario", "domani"], "header": ["a\nb"], "buttons": ["AB1"]},
            "header_params",
        ),
        (
            "spedizione",
            {"values": ["Mario", "domani"], "header": ["5" * 60], "buttons": ["AB1"]},
            "header_params",
        ),
        ("spedizione", {"values": ["Mario", "domani"], "header": ["5521"]}, "button_params"),
        (
            "spedizione",
            {"values": ["Mario", "domani"], "header": ["5521"], "buttons": [" "]},
            "button_params",
        ),
        (
            "spedizione",
            {"values": ["Mario", "domani"], "header": ["5521"], "buttons": ["A B"]},
            "button_params",
        ),
        (
            "spedizione",
            {"values": ["Mario", "domani"], "header": ["5521"], "buttons": ["x" * 2000]},
            "button_params",
        ),
        ("saldi", {"values": ["31 agosto"]}, "header_media"),
        ("saldi", {"values": ["31 agosto"], "header_media": "ftp://x.it/a.jpg"}, "header_media"),
        ("saldi", {"values": ["31 agosto"], "header_media": "javascript:alert(1)"}, "header_media"),
        (
            "saldi",
            {"values": ["31 agosto"], "header_media": "https://x.it/a b.jpg"},
            "header_media",
        ),
        ("saldi", {"values": [""], "header_media": "https://x.it/a.jpg"}, "params"),
        ("fattura", {"values": ["Mario"], "header_media": "saldi.pdf"}, "header_media"),
    ],
)
def test_missing_or_bad_header_and_button_values_are_refused(name, kwargs, field):
    template = _parsed(next(t for t in wt.SENDABLE if t["name"] == name))
    values = kwargs.pop("values")
    with pytest.raises(InvalidInput) as exc:
        templates.fill(template, values, **kwargs)
    assert exc.value.field == field


def test_templates_stored_before_headers_and_buttons_still_send():
    """A channel synced by an older version keeps body-only templates without the new keys."""
    old = {
        "name": "vecchio",
        "language": "it",
        "header": "Negozio Rossi",
        "body": "Ciao {{1}}",
        "footer": "",
        "params": ["1"],
    }
    filled = templates.fill(old, ["Anna"])
    assert templates.render(old, filled) == "Negozio Rossi\n\nCiao Anna"
    assert templates.send_object(old, filled)["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Anna"}]}
    ]
