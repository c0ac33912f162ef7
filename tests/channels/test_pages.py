"""Admin pages for channels: secrets shown once, public URLs and embed snippets, permissions."""

from __future__ import annotations

import re

from sqlalchemy import select

from sportello.channels.models import Channel
from tests.factories import csrf_from, login


def test_admin_creates_an_api_channel_and_sees_its_secrets_once(client, personas, db):
    login(client, personas.admin)
    form = client.get("/admin/channels/new?kind=api")
    assert form.status_code == 200
    response = client.post(
        "/admin/channels",
        data={
            "kind": "api",
            "name": "Negozio online",
            "queue_id": str(personas.queue_assistenza.id),
            "reply_url": "https://negozio.example/hooks/sportello",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    token = re.search(r'value="(spch_[^"]+)"', response.text).group(1)
    secret = re.search(r'value="(whsec_[^"]+)"', response.text).group(1)
    with db.session() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "Negozio online"))
        public_id = channel.public_id
    # never again: not on the list, not on the channel's page
    for url in ("/admin/channels", f"/admin/channels/{channel.id}"):
        page = client.get(url).text
        assert token not in page and secret not in page
        assert f"/api/v1/channels/{public_id}/messages" in page
    # and the token works
    client.cookies.clear()
    inbound = client.post(
        f"/api/v1/channels/{public_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
        json={"id": "1", "from": {"kind": "email", "value": "a@example.it"}, "text": "Ciao"},
    )
    assert inbound.status_code == 201


def test_webform_channels_show_their_public_url_and_embed_snippet(client, personas, db):
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/channels/new?kind=webform").text)
    response = client.post(
        "/admin/channels",
        data={
            "kind": "webform",
            "name": "Assistenza sito",
            "title": "Scrivici",
            "topics": "Ordini, Resi",
            "csrf_token": token,
        },
    )
    assert response.status_code == 201
    with db.session() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "Assistenza sito"))
        assert channel.settings["topics"] == ["Ordini", "Resi"]
    listing = client.get("/admin/channels").text
    assert f"/f/{channel.public_id}" in listing
    assert f'&lt;iframe src="http://127.0.0.1:8000/f/{channel.public_id}"' in listing
    assert f"/f/{personas.webform.public_id}" in listing


def test_admin_edits_and_disables_a_channel(client, personas, db):
    login(client, personas.admin)
    url = f"/admin/channels/{personas.webform.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        url,
        data={"name": "Contatti 2", "queue_id": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        channel = s.get(Channel, personas.webform.id)
        assert (channel.name, channel.queue_id, channel.is_active) == ("Contatti 2", None, False)
    assert client.post(url, data={"name": " ", "csrf_token": token}).status_code == 422


def test_invalid_channel_input_is_shown_on_the_form(client, personas):
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/channels").text)
    response = client.post(
        "/admin/channels",
        data={"kind": "api", "name": "X", "reply_url": "ftp://nope", "csrf_token": token},
    )
    assert response.status_code == 422
    assert "URL di risposta deve iniziare" in response.text
    assert (
        client.post(
            "/admin/channels", data={"kind": "smoke", "name": "X", "csrf_token": token}
        ).status_code
        == 404
    )


def test_supervisors_read_agents_are_kept_out(client, personas):
    login(client, personas.supervisor)
    page = client.get("/admin/channels")
    assert page.status_code == 200 and "Contatti" in page.text
    token = csrf_from(page.text)
    assert client.get("/admin/channels/new?kind=api").status_code == 403
    assert (
        client.post(
            "/admin/channels", data={"kind": "api", "name": "X", "csrf_token": token}
        ).status_code
        == 403
    )
    client.cookies.clear()
    login(client, personas.luca)
    assert client.get("/admin/channels").status_code == 403


def test_admin_creates_a_chat_channel_and_gets_the_widget_snippet(client, personas, db):
    login(client, personas.admin)
    listing = client.get("/admin/channels")
    assert "/admin/channels/new?kind=chat" in listing.text
    form = client.get("/admin/channels/new?kind=chat")
    assert form.status_code == 200
    for field in ("color", "greeting_it", "allowed_origins", "prechat", "max_upload_mb"):
        assert f'name="{field}"' in form.text
    response = client.post(
        "/admin/channels",
        data={
            "kind": "chat",
            "name": "Chat sito",
            "color": "#aa3300",
            "greeting_it": "Ciao! Come possiamo aiutarti?",
            "allowed_origins": "https://www.negozio.example",
            "prechat": "optional",
            "topics": "Ordini, Resi",
            "max_upload_mb": "5",
            # an unticked box: only its hidden "off" field is posted
            "offline_when_no_agent": "off",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert 'type="hidden" name="offline_when_no_agent" value="off"' in form.text
    assert response.status_code == 201, response.text
    assert re.search(r'value="(chid_[^"]+)"', response.text)  # the identity secret, once
    with db.session() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "Chat sito"))
        assert channel.kind == "chat"
        assert channel.settings["color"] == "#aa3300"
        assert channel.settings["prechat"] == "optional"
        assert channel.settings["allowed_origins"] == ["https://www.negozio.example"]
        assert channel.settings["topics"] == ["Ordini", "Resi"]
        assert channel.settings["offline_when_no_agent"] is False  # the box was not ticked
        assert channel.settings["max_upload_bytes"] == 5 * 1024 * 1024
        public_id = channel.public_id
    snippet = re.compile(
        r'&lt;script src="https?://[^"]+/static/widget/widget\.js" '
        rf'data-channel="{public_id}" async&gt;&lt;/script&gt;'
    )
    assert snippet.search(response.text)
    assert snippet.search(client.get("/admin/channels").text)


def test_a_bad_chat_setting_shows_the_form_again(client, personas):
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/channels/new?kind=chat").text)
    response = client.post(
        "/admin/channels",
        data={"kind": "chat", "name": "Chat", "color": "red", "csrf_token": token},
    )
    assert response.status_code == 422
    assert 'name="greeting_it"' in response.text
