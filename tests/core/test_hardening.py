"""Input that once ended in a 500: a NUL character in any text, ids past the column's range.
Each runs on SQLite and, in the gate's second pass, on PostgreSQL (where both used to fail)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello.conversations.models import Conversation, Message
from sportello.customers.models import Customer
from tests.api.helpers import make_token


def _post_api_message(client, personas, payload):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/channels/{personas.api_channel.public_id}/messages",
        json=payload,
        headers={"Authorization": f"Bearer {personas.api_token}"},
    )


def test_a_nul_in_a_message_and_a_name_is_kept_without_it(client, db, personas):
    payload = {
        "id": "nul-1",
        "from": {"kind": "email", "value": "nul@example.it", "name": "Ma\x00rio"},
        "text": "Buon\x00giorno, l'ordine\x00 non è arrivato",
        "subject": "Ordine\x00 77",
    }
    response = _post_api_message(client, personas, payload)
    assert response.status_code == 201, response.text
    with db.session() as s:
        message = s.scalars(select(Message)).one()
        customer = s.scalars(select(Customer)).one()
        conversation = s.scalars(select(Conversation)).one()
        # PostgreSQL cannot hold a NUL: it is dropped there; SQLite keeps the text as it came.
        assert message.text.replace("\x00", "") == "Buongiorno, l'ordine non è arrivato"
        assert (customer.name or "").replace("\x00", "") == "Mario"
        assert (conversation.subject or "").replace("\x00", "") == "Ordine 77"
        if not db.is_sqlite:
            assert "\x00" not in message.text + (customer.name or "")


def test_a_nul_in_a_search_is_not_a_server_error(client, db, personas):
    token = make_token(db, personas.admin)
    response = client.get(
        "/api/v1/customers",
        params={"q": "ma\x00rio"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("huge", [2**31, 2**63, 10**30])
def test_ids_past_the_column_range_are_not_server_errors(client, db, personas, huge):
    token = make_token(db, personas.admin)
    headers = {"Authorization": f"Bearer {token}"}
    for path in (f"/api/v1/conversations/{huge}", f"/api/v1/customers/{huge}"):
        response = client.get(path, headers=headers)
        assert response.status_code in (404, 422), (path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


# ---- behind a reverse proxy, login throttling ------------------------------------------------


def _login(client, email, password, ip):  # type: ignore[no-untyped-def]
    token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers={"x-forwarded-for": ip, "accept-language": "en"},
        follow_redirects=False,
    )


@pytest.fixture
def proxied_app(db, test_settings):  # type: ignore[no-untyped-def]
    from sportello.main import create_app

    settings = test_settings.model_copy(update={"trusted_proxies": "testclient"})
    return create_app(settings, db=db, run_workers=False)


def test_a_guesser_behind_the_proxy_does_not_lock_the_owner_out(proxied_app, personas):
    from fastapi.testclient import TestClient

    from tests.factories import PASSWORD

    with TestClient(proxied_app) as client:
        for _ in range(4):
            response = _login(client, "luca@negozio.it", "wrong", "203.0.113.7")
        assert response.status_code == 429  # the guesser waits...
        owner = _login(client, "luca@negozio.it", PASSWORD, "198.51.100.20")
        assert owner.status_code == 303, owner.text  # ...the owner, elsewhere, does not


def test_forwarded_for_is_ignored_from_an_untrusted_peer(client, personas):
    # The test client is not a trusted proxy here: all its attempts count as one address.
    for i in range(4):
        response = _login(client, "luca@negozio.it", "wrong", f"203.0.113.{i}")
    assert response.status_code == 429


# ---- headers and logs ------------------------------------------------------------------------


def test_pages_are_not_cached_and_connections_stay_on_our_origin(client, personas):
    page = client.get("/login")
    assert page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "connect-src 'self';" in csp and "ws:" not in csp
    assert "strict-transport-security" not in page.headers  # plain HTTP here
    static = client.get("/static/app.css")
    assert "no-store" not in static.headers.get("cache-control", "")


def test_hsts_when_served_over_https(db, test_settings):
    from fastapi.testclient import TestClient

    from sportello.main import create_app

    settings = test_settings.model_copy(update={"secure_cookies": True})
    with TestClient(create_app(settings, db=db, run_workers=False)) as client:
        assert client.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_tokens_in_query_strings_are_redacted_from_the_access_log():
    import logging

    from sportello.web.middleware import RedactSecrets

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/hooks/abc?hub.mode=subscribe&hub.verify_token=s3cr3t&hub.challenge=42",
            "1.1",
            200,
        ),
        None,
    )
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "s3cr3t" not in line
    assert "hub.verify_token=***" in line and "hub.challenge=42" in line
    record.args = ("127.0.0.1:5000", "GET", "/chat/files/x/9?t=visitor-token", "1.1", 200)
    RedactSecrets().filter(record)
    assert "visitor-token" not in record.getMessage()
