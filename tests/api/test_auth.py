"""Who may call the API: tokens, scopes, revocation, team scope, console sessions and CSRF."""

from __future__ import annotations

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import User
from sportello.core.security import csrf_token_for
from sportello.web.auth import SESSION_COOKIE
from sportello.web.render import CSRF_COOKIE
from tests.api.helpers import assert_problem, make_token
from tests.factories import PASSWORD


def test_no_token_is_401_problem(client, personas):
    body = assert_problem(client.get("/api/v1/conversations"), 401)
    assert body["title"] == "Unauthorized"


def test_unknown_token_is_401(client, personas):
    response = client.get("/api/v1/users/me", headers={"Authorization": "Bearer spt_nope"})
    assert_problem(response, 401)


def test_revoked_token_is_401(client, db, personas):
    token = make_token(db, personas.sara)
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/users/me", headers=headers)
    assert me.status_code == 200
    token_id = client.get("/api/v1/tokens", headers=headers).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=headers).status_code == 204
    assert_problem(client.get("/api/v1/users/me", headers=headers), 401)


def test_token_of_deactivated_user_is_401(client, db, personas, auth):
    headers = auth(personas.sara)
    with db.transaction() as s:
        accounts_actions.do_update_user(s, user=s.get_one(User, personas.sara.id), is_active=False)
    assert_problem(client.get("/api/v1/users/me", headers=headers), 401)


def test_read_only_token_reads_but_cannot_reply(client, personas, auth, assistenza_conversation):
    headers = auth(personas.sara, ["read"])
    url = f"/api/v1/conversations/{assistenza_conversation.id}"
    assert client.get(url, headers=headers).status_code == 200
    body = assert_problem(
        client.post(f"{url}/replies", json={"text": "Ciao"}, headers=headers), 403
    )
    assert "write" in body["detail"]


def test_write_scope_includes_read_but_not_admin(client, personas, auth):
    headers = auth(personas.sara, ["write"])
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    new_user = {
        "email": "x@negozio.it",
        "name": "X",
        "role": "agent",
        "password": "abbastanza-lunga",
    }
    assert_problem(client.post("/api/v1/users", json=new_user, headers=headers), 403)


def test_agent_token_cannot_see_another_teams_conversation(
    client, personas, auth, assistenza_conversation, vendite_conversation
):
    luca = auth(personas.luca)
    url = f"/api/v1/conversations/{assistenza_conversation.id}"
    body = assert_problem(client.get(url, headers=luca), 404)
    assert body["detail"] == "conversation not found"
    # Writes are scoped the same way, and the answer does not reveal that it exists.
    assert_problem(client.post(f"{url}/replies", json={"text": "x"}, headers=luca), 404)
    assert_problem(client.get(f"{url}/messages", headers=luca), 404)
    listed = client.get("/api/v1/conversations", headers=luca).json()["items"]
    assert [c["id"] for c in listed] == [vendite_conversation.id]
    # The supervisor sees both.
    every = client.get("/api/v1/conversations", headers=auth(personas.supervisor)).json()["items"]
    assert len(every) == 2


def test_token_cannot_mint_a_stronger_token(client, personas, auth):
    headers = auth(personas.admin, ["read", "write"])
    response = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["admin"]}, headers=headers
    )
    assert_problem(response, 403)


def test_admin_route_needs_admin_scope_and_role(client, personas, auth):
    new_user = {"email": "anna@negozio.it", "name": "Anna Verdi", "role": "agent"}
    # an admin's token without the admin scope
    no_scope = auth(personas.admin, ["read", "write"])
    assert_problem(client.post("/api/v1/users", json=new_user, headers=no_scope), 403)
    # a supervisor's session carries no admin scope either
    assert_problem(
        client.post("/api/v1/users", json=new_user, headers=auth(personas.supervisor)), 403
    )
    created = client.post("/api/v1/users", json=new_user, headers=auth(personas.admin, ["admin"]))
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "anna@negozio.it"


def _login(db, user) -> str:
    with db.transaction() as s:
        _, token = accounts_actions.do_login(
            s, email=user.email, password=PASSWORD, ip="127.0.0.1", user_agent="pytest"
        )
    return token


def test_session_cookie_without_csrf_header_is_403(
    client, db, test_settings, personas, assistenza_conversation
):
    client.cookies.set(SESSION_COOKIE, _login(db, personas.sara))
    client.cookies.set(CSRF_COOKIE, "browser-csrf-value")
    url = f"/api/v1/conversations/{assistenza_conversation.id}/notes"
    # Reads need no CSRF token...
    assert client.get("/api/v1/users/me").json()["email"] == personas.sara.email
    # ...writes do: a cross-site form or fetch riding on the cookie is refused.
    body = assert_problem(client.post(url, json={"text": "nota"}), 403)
    assert body["title"] == "CSRF check failed"
    assert_problem(client.post(url, json={"text": "nota"}, headers={"X-CSRF-Token": "forged"}), 403)
    good = csrf_token_for("browser-csrf-value", test_settings.effective_secret_key())
    response = client.post(url, json={"text": "nota"}, headers={"X-CSRF-Token": good})
    assert response.status_code == 201, response.text
