"""The public web form: renders standalone, creates conversations, resists bots and floods."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Message
from sportello.customers.models import Customer, CustomerIdentity

FORM = {
    "name": "Anna Neri",
    "email": "Anna.Neri@Example.it",
    "phone": "+39 333 765 4321",
    "subject": "Preventivo",
    "message": "Vorrei un preventivo per 20 sedie.",
    "website": "",
}


def url(personas) -> str:  # type: ignore[no-untyped-def]
    return f"/f/{personas.webform.public_id}"


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_form_renders_standalone_and_accessible(client, personas):
    page = client.get(url(personas))
    assert page.status_code == 200
    html = page.text
    assert 'action="/f/' in html
    for name in ("name", "email", "phone", "subject", "message"):
        match = re.search(rf'<(?:input|textarea)[^>]*id="(wf-{name})"[^>]*name="{name}"', html)
        assert match, name
        assert f'<label for="{match.group(1)}">' in html  # every field has a label
    assert 'name="topic"' not in html  # no topics configured
    honeypot = re.search(r'<div class="wf-hp" aria-hidden="true">.*?</div>', html, re.S)
    assert honeypot and 'name="website"' in honeypot.group(0)
    assert 'tabindex="-1"' in honeypot.group(0)
    assert "style=" not in html  # CSP: no inline styles...
    assert "<script" not in html  # ...and no scripts
    assert 'name="csrf_token"' not in html  # public and cross-site: no CSRF token
    assert '<link rel="stylesheet" href="/static/webform.css">' in html
    assert "app.css" not in html  # not the console layout
    assert 'name="viewport"' in html
    assert client.get("/static/webform.css").status_code == 200


def test_form_speaks_italian_and_english(client, personas):
    it = client.get(url(personas), headers={"Accept-Language": "it-IT,it;q=0.9"})
    en = client.get(url(personas), headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="it">' in it.text
    assert '<html lang="en">' in en.text
    assert "Email" in en.text and "Message" in en.text


def test_topics_come_from_the_channel_settings(client, db, personas):
    with db.transaction() as s:
        channels_actions.do_update_channel(
            s,
            channel=s.get_one(Channel, personas.webform.id),
            settings={"topics": ["Ordini", "Resi"], "title": "Scrivici"},
        )
    html = client.get(url(personas)).text
    assert '<select id="wf-topic" name="topic">' in html
    assert '<option value="Resi">Resi</option>' in html
    assert "<title>Scrivici</title>" in html
    response = client.post(url(personas), data={**FORM, "subject": "", "topic": "Resi"})
    assert response.status_code == 200
    with db.session() as s:
        conversation = s.scalars(select(Conversation)).one()
        assert conversation.subject == "Resi"


def test_submission_creates_a_conversation_for_the_customer_by_email(client, db, personas):
    response = client.post(url(personas), data=FORM)
    assert response.status_code == 200, response.text
    with db.session() as s:
        conversation = s.scalars(select(Conversation)).one()
        customer = s.get_one(Customer, conversation.customer_id)
        identities = {(i.kind.value, i.value) for i in s.scalars(select(CustomerIdentity))}
        message = s.scalars(select(Message)).one()
    assert f"#{conversation.number}" in response.text
    assert conversation.queue_id == personas.queue_vendite.id
    assert conversation.subject == "Preventivo"
    assert customer.name == "Anna Neri"
    assert identities == {("email", "anna.neri@example.it"), ("phone", "+393337654321")}
    assert message.text == "Vorrei un preventivo per 20 sedie."
    # The same person writing again is the same customer.
    client.post(url(personas), data={**FORM, "email": "anna.neri@example.it"})
    assert count(db, Customer) == 1


def test_honeypot_gets_thanks_but_nothing_is_stored(client, db, personas):
    response = client.post(url(personas), data={**FORM, "website": "http://spam.example"})
    assert response.status_code == 200
    assert "wf-thanks" in response.text
    assert count(db, Conversation) == 0
    assert count(db, Customer) == 0


def test_sixth_post_in_a_minute_from_one_ip_is_429(client, db, personas):
    for _ in range(5):
        assert client.post(url(personas), data=FORM).status_code == 200
    response = client.post(url(personas), data=FORM)
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert 'role="alert"' in response.text
    assert f"{retry} s" in response.text
    assert count(db, Message) == 5


def test_missing_email_is_422_with_the_error_shown(client, db, personas):
    response = client.post(
        url(personas), data={**FORM, "email": ""}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    html = response.text
    assert "Please give your email address." in html
    assert re.search(r'id="wf-email"[^>]*aria-invalid="true"', html, re.S)
    assert 'value="Anna Neri"' in html  # what was typed is kept
    assert "Vorrei un preventivo per 20 sedie." in html
    assert count(db, Conversation) == 0


def test_form_is_frameable_but_console_pages_are_not(client, personas):
    form = client.get(url(personas))
    assert "frame-ancestors *" in form.headers["content-security-policy"]
    assert "x-frame-options" not in form.headers
    thanks = client.post(url(personas), data=FORM)
    assert "frame-ancestors *" in thanks.headers["content-security-policy"]
    for path in ("/login", "/api/docs"):
        console = client.get(path)
        assert console.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in console.headers["content-security-policy"]


def test_unknown_or_non_webform_channel_is_404(client, personas):
    assert client.get("/f/no-such-form").status_code == 404
    assert client.get(f"/f/{personas.api_channel.public_id}").status_code == 404
