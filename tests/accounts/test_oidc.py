"""Single sign-on with OpenID Connect against a real local provider (tests/accounts/
oidc_provider.py): PKCE, state and nonce, the id_token's signature and claims, matching users
by email, provisioning, allowed domains, the second factor after SSO, and the admin's settings
with a secret that is never shown again."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts import sso
from sportello.accounts.models import OidcLink, OidcProvider, Role, User
from sportello.audit.models import AuditEntry
from sportello.web.auth import SESSION_COOKIE
from tests.accounts.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Account,
    Provider,
    running_provider,
)
from tests.api.helpers import assert_problem, make_token
from tests.factories import csrf_from, login

HTML = {"accept": "text/html", "accept-language": "en"}


@pytest.fixture(scope="module")
def idp_server() -> Iterator[Provider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture
def idp(idp_server: Provider) -> Iterator[Provider]:
    sso.clear_cache()
    idp_server.reset()
    idp_server.accounts["sara@negozio.it"] = Account("kc-sara", "Sara Conti")
    idp_server.accounts["nuova@negozio.it"] = Account("kc-nuova", "Nuova Collega")
    idp_server.accounts["estraneo@altrove.it"] = Account("kc-x", "Estraneo")
    idp_server.auto_email = "sara@negozio.it"
    yield idp_server
    sso.clear_cache()


def _configure(db, idp: Provider, **extra) -> int:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        provider = sso.do_save_provider(
            s,
            slug="keycloak",
            name="Keycloak Casa Lavanda",
            preset="keycloak",
            issuer=idp.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            allowed_domains=extra.pop("allowed_domains", ["negozio.it"]),
            **extra,
        )
        return provider.id


def _sign_in(client, next_url: str = "") -> httpx.Response:  # type: ignore[no-untyped-def]
    """Sportello -> the provider (a real HTTP round trip) -> Sportello's callback."""
    start = client.get(f"/login/sso/keycloak?next={next_url}", follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    back = httpx.get(authorize, follow_redirects=False)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["location"])
    return client.get(f"{callback.path}?{callback.query}", headers=HTML, follow_redirects=False)


def test_login_page_shows_the_button_and_an_existing_user_signs_in(
    client, db, personas, idp
) -> None:  # type: ignore[no-untyped-def]
    _configure(db, idp)
    page = client.get("/login", headers=HTML)
    assert "Sign in with Keycloak Casa Lavanda" in page.text
    done = _sign_in(client, "/customers")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/customers"
    assert client.cookies.get(SESSION_COOKIE)
    assert client.get("/profile", headers=HTML).status_code == 200
    # the token request carried the PKCE verifier and the redirect URI
    [request] = idp.token_requests
    assert len(request["code_verifier"]) >= 43
    assert request["redirect_uri"].endswith("/login/sso/keycloak/callback")
    with db.session() as s:
        link = s.scalar(select(OidcLink))
        assert link.subject == "kc-sara" and link.user_id == personas.sara.id
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "login.succeeded"))
        assert entry.details == {"method": "sso:keycloak"} and entry.actor_id == personas.sara.id


@pytest.mark.parametrize("misbehave", ["aud", "nonce", "expired", "signature", "iss"])
def test_a_token_failing_any_check_is_refused(client, db, personas, idp, misbehave) -> None:  # type: ignore[no-untyped-def]
    _configure(db, idp)
    idp.misbehave = misbehave
    done = _sign_in(client)
    assert done.status_code == 401
    assert "did not pass the checks" in done.text
    assert not client.cookies.get(SESSION_COOKIE)
    with db.session() as s:
        failed = s.scalar(select(AuditEntry).where(AuditEntry.action == "login.failed"))
        assert failed.details["reason"] == "sso:id_token"


def test_state_must_match(client, db, personas, idp) -> None:  # type: ignore[no-untyped-def]
    _configure(db, idp)
    start = client.get("/login/sso/keycloak", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False)
    callback = urlsplit(back.headers["location"])
    forged = callback.query.replace("state=", "state=x")
    done = client.get(f"{callback.path}?{forged}", headers=HTML)
    assert done.status_code == 401 and not client.cookies.get(SESSION_COOKIE)
    client.cookies.clear()  # another browser: no flow cookie at all
    done = client.get(f"{callback.path}?{callback.query}", headers=HTML)
    assert done.status_code == 401 and "took too long" in done.text


def test_unknown_email_is_refused_unless_provisioning(client, db, personas, idp) -> None:  # type: ignore[no-untyped-def]
    provider_id = _configure(db, idp)
    idp.auto_email = "nuova@negozio.it"
    refused = _sign_in(client)
    assert refused.status_code == 401 and "no Sportello account" in refused.text
    with db.transaction() as s:
        provider = s.get(OidcProvider, provider_id)
        sso.do_save_provider(
            s,
            provider=provider,
            slug="keycloak",
            name=provider.name,
            preset="keycloak",
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            allowed_domains=["negozio.it"],
            auto_provision=True,
            default_role=Role.AGENT,
        )
    created = _sign_in(client)
    assert created.status_code == 303
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == "nuova@negozio.it"))
        assert user.role == Role.AGENT and user.name == "Nuova Collega"
        assert user.password_hash is None


def test_other_domains_are_refused(client, db, personas, idp) -> None:  # type: ignore[no-untyped-def]
    _configure(db, idp, auto_provision=True)
    idp.auto_email = "estraneo@altrove.it"
    refused = _sign_in(client)
    assert refused.status_code == 401 and "domain is not allowed" in refused.text
    with db.session() as s:
        assert s.scalar(select(User).where(User.email == "estraneo@altrove.it")) is None


def test_second_factor_is_still_asked_after_sso(client, db, personas, idp) -> None:  # type: ignore[no-untyped-def]
    _configure(db, idp)
    with db.transaction() as s:
        sara = s.get(User, personas.sara.id)
        secret = accounts_actions.do_start_two_factor(s, user=sara)
        accounts_actions.do_confirm_two_factor(s, user=sara, code=pyotp.TOTP(secret).now())
    asked = _sign_in(client)
    assert asked.status_code == 200 and 'action="/login/code"' in asked.text
    assert not client.cookies.get(SESSION_COOKIE)
    # the next time step: the enrolment's code may not be used twice
    code = pyotp.TOTP(secret).at(int(__import__("time").time()) + 30)
    done = client.post(
        "/login/code",
        data={"code": code, "csrf_token": csrf_from(asked.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and client.cookies.get(SESSION_COOKIE)


def test_admin_settings_page_and_api_never_show_the_secret(client, db, personas, idp) -> None:  # type: ignore[no-untyped-def]
    login(client, personas.admin)
    page = client.get("/admin/sso", headers=HTML)
    bad = client.post(
        "/admin/sso",
        data={
            "csrf_token": csrf_from(page.text),
            "slug": "entra",
            "preset": "entra",
            "issuer": "http://login.example.com/tenant/v2.0",
            "client_id": "abc",
            "client_secret": "s3cr3t-entra",
            "active": "1",
        },
        headers=HTML,
    )
    assert bad.status_code == 422 and "https" in bad.text
    saved = client.post(
        "/admin/sso",
        data={
            "csrf_token": csrf_from(page.text),
            "slug": "entra",
            "preset": "entra",
            "issuer": "https://login.microsoftonline.com/0000-1111/v2.0",
            "client_id": "abc",
            "client_secret": "s3cr3t-entra",
            "allowed_domains": "casalavanda.example",
            "active": "1",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    listing = client.get("/admin/sso", headers=HTML)
    with db.session() as s:
        provider = s.scalar(select(OidcProvider))
        assert provider.client_secret != "s3cr3t-entra"  # encrypted at rest
        edit = client.get(f"/admin/sso/{provider.id}", headers=HTML)
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "sso.provider_saved"))
    for text in (listing.text, edit.text, str(entry.details)):
        assert "s3cr3t-entra" not in text
    token = make_token(db, personas.admin, ["admin"])
    auth = {"authorization": f"Bearer {token}"}
    api = client.get("/api/v1/sso/providers", headers=auth).json()
    assert api[0]["slug"] == "entra" and "client_secret" not in api[0]
    problem = client.post(
        "/api/v1/sso/providers",
        json={"slug": "Bad Slug!", "client_id": "x", "client_secret": "y"},
        headers=auth,
    )
    assert "slug" in str(assert_problem(problem, 422))
    agent = {"authorization": f"Bearer {make_token(db, personas.sara)}"}
    assert client.get("/api/v1/sso/providers", headers=agent).status_code == 403


def test_inactive_provider_has_no_button_and_no_door(client, db, personas, idp) -> None:  # type: ignore[no-untyped-def]
    _configure(db, idp, is_active=False)
    assert "Sign in with" not in client.get("/login", headers=HTML).text
    assert client.get("/login/sso/keycloak", follow_redirects=False).status_code == 404
