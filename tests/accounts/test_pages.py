"""Login, logout, CSRF, throttling, redirects, the profile, admin pages for users and teams."""

from __future__ import annotations

from sqlalchemy import select

from sportello.accounts.models import Role, User
from sportello.web.auth import SESSION_COOKIE
from tests.factories import PASSWORD, csrf_from, login

HTML = {"accept": "text/html"}


def login_token(client) -> str:
    return csrf_from(client.get("/login").text)


def test_login_sets_a_safe_session_cookie_and_redirects(client, personas):
    token = login_token(client)
    response = client.post(
        "/login",
        data={"email": "sara@negozio.it", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox/mine"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/inbox/mine", headers=HTML).status_code == 200


def test_secure_cookie_when_configured(client, personas, app):
    app.state.settings = app.state.settings.model_copy(update={"secure_cookies": True})
    token = login_token(client)
    response = client.post(
        "/login",
        data={"email": "sara@negozio.it", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "Secure" in cookie


def test_login_without_csrf_token_is_refused(client, personas):
    client.get("/login")
    response = client.post(
        "/login", data={"email": "sara@negozio.it", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    forged = client.post(
        "/login",
        data={"email": "sara@negozio.it", "password": PASSWORD, "csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert forged.status_code == 403


def test_every_console_post_needs_the_csrf_token(client, personas):
    login(client, personas.sara)
    assert client.post("/profile", data={"language": "en", "timezone": "UTC"}).status_code == 403
    assert client.post("/logout").status_code == 403


def test_wrong_password_shows_a_message_in_the_users_language(client, personas):
    token = login_token(client)
    response = client.post(
        "/login",
        data={"email": "sara@negozio.it", "password": "sbagliata", "csrf_token": token},
        headers={"accept-language": "it-IT,it;q=0.9"},
    )
    assert response.status_code == 401
    assert "Email o password errati." in response.text
    response = client.post(
        "/login",
        data={"email": "nobody@negozio.it", "password": "x", "csrf_token": token},
        headers={"accept-language": "en-GB"},
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


def test_repeated_failures_are_throttled(client, personas):
    token = login_token(client)
    data = {"email": "luca@negozio.it", "password": "wrong-password", "csrf_token": token}
    for _ in range(3):
        assert (
            client.post("/login", data=data, headers={"accept-language": "en"}).status_code == 401
        )
    response = client.post("/login", data=data, headers={"accept-language": "en"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many failed attempts: try again in" in response.text
    # even the right password waits until the delay is over
    right = {**data, "password": PASSWORD}
    assert client.post("/login", data=right, follow_redirects=False).status_code == 429


def test_next_is_followed_only_when_it_is_a_local_path(client, personas):
    token = login_token(client)
    creds = {"email": "sara@negozio.it", "password": PASSWORD, "csrf_token": token}
    for target, expected in [
        ("/customers", "/customers"),
        ("https://evil.example/", "/inbox/mine"),
        ("//evil.example/x", "/inbox/mine"),
        ("/\\evil.example", "/inbox/mine"),
    ]:
        client.cookies.delete(SESSION_COOKIE)
        response = client.post("/login", data={**creds, "next": target}, follow_redirects=False)
        assert response.headers["location"] == expected, target


def test_browsers_without_a_session_are_sent_to_the_login_page(client, personas):
    response = client.get("/inbox/unassigned", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/inbox/unassigned"
    # htmx requests are told where to go; JSON clients get a problem document
    htmx = client.get(
        "/inbox/counts",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/c/1001?x=1"},
    )
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login?next=/c/1001"
    assert client.get("/inbox/mine").headers["content-type"].startswith("application/problem+json")
    assert client.get("/", follow_redirects=False).headers["location"] == "/inbox/mine"


def test_logout_ends_the_session(client, personas):
    login(client, personas.sara)
    token = csrf_from(client.get("/profile").text)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/inbox/mine", headers=HTML, follow_redirects=False).status_code == 303


def test_profile_sets_language_and_time_zone(client, personas, db):
    login(client, personas.sara)
    page = client.get("/profile")
    assert "Il tuo profilo" in page.text
    response = client.post(
        "/profile",
        data={"language": "en", "timezone": "America/New_York", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "Your profile" in client.get("/profile").text
    with db.session() as s:
        sara = s.get(User, personas.sara.id)
        assert (sara.language, sara.timezone) == ("en", "America/New_York")
    bad = client.post(
        "/profile",
        data={"language": "fr", "timezone": "Mars/Olympus", "csrf_token": csrf_from(page.text)},
    )
    assert bad.status_code == 422


def test_admin_creates_edits_and_deactivates_a_user(client, personas, db):
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/users").text)
    response = client.post(
        "/admin/users",
        data={
            "name": "Elena Greco",
            "email": "elena@negozio.it",
            "role": "agent",
            "language": "it",
            "password": "una-password-lunga",
            "team_ids": [str(personas.assistenza.id)],
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        elena = s.scalar(select(User).where(User.email == "elena@negozio.it"))
        assert elena.role == Role.AGENT and [t.name for t in elena.teams] == ["Assistenza"]
        elena_id = elena.id
    duplicate = client.post(
        "/admin/users",
        data={"name": "Elena", "email": "elena@negozio.it", "role": "agent", "csrf_token": token},
    )
    assert duplicate.status_code == 422 and "elena@negozio.it" in duplicate.text
    response = client.post(
        f"/admin/users/{elena_id}",
        data={
            "name": "Elena Greco",
            "role": "supervisor",
            "language": "en",
            "timezone": "Europe/Rome",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        elena = s.get(User, elena_id)
        assert elena.role == Role.SUPERVISOR and not elena.is_active and elena.teams == []


def test_admin_cannot_lock_themselves_out(client, personas):
    login(client, personas.admin)
    token = csrf_from(client.get("/admin/users").text)
    response = client.post(
        f"/admin/users/{personas.admin.id}",
        data={
            "name": "Giulia Bianchi",
            "role": "agent",
            "language": "it",
            "active": "1",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422


def test_admin_pages_are_for_admins_supervisors_may_look(client, personas):
    login(client, personas.sara)
    assert client.get("/admin/users").status_code == 403
    client.cookies.delete(SESSION_COOKIE)
    login(client, personas.supervisor)
    page = client.get("/admin/users")
    assert page.status_code == 200 and "Sara Conti" in page.text
    token = csrf_from(page.text)
    response = client.post(
        "/admin/users",
        data={"name": "X", "email": "x@negozio.it", "role": "admin", "csrf_token": token},
    )
    assert response.status_code == 403


def test_admin_manages_teams(client, personas, db):
    login(client, personas.admin)
    page = client.get("/admin/teams")
    assert "Assistenza" in page.text and "Vendite" in page.text
    token = csrf_from(page.text)
    response = client.post(
        "/admin/teams",
        data={"name": "Resi", "member_ids": [str(personas.luca.id)], "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    response = client.post(
        f"/admin/teams/{personas.vendite.id}",
        data={
            "name": "Vendite",
            "member_ids": [str(personas.luca.id), str(personas.sara.id)],
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        luca = s.get(User, personas.luca.id)
        assert sorted(t.name for t in luca.teams) == ["Resi", "Vendite"]
