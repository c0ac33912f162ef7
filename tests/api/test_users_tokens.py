"""Users (read) and the caller's own API tokens."""

from __future__ import annotations

from tests.api.helpers import assert_problem


def test_me_list_and_get(client, personas, auth):
    headers = auth(personas.sara, ["read"])
    me = client.get("/api/v1/users/me", headers=headers).json()
    assert (me["name"], me["role"]) == ("Sara Conti", "agent")
    assert me["teams"] == [{"id": personas.assistenza.id, "name": "Assistenza"}]
    assert "password_hash" not in me
    users = client.get("/api/v1/users", headers=headers).json()
    assert [u["name"] for u in users] == [
        "Giulia Bianchi",
        "Luca Ferri",
        "Marco Rossi",
        "Sara Conti",
    ]
    luca = client.get(f"/api/v1/users/{personas.luca.id}", headers=headers).json()
    assert luca["email"] == "luca@negozio.it"
    assert_problem(client.get("/api/v1/users/424242", headers=headers), 404)


def test_token_is_shown_once_and_works(client, personas, auth):
    headers = auth(personas.sara)
    created = client.post(
        "/api/v1/tokens", json={"name": "Gestionale", "scopes": ["read"]}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"].startswith("spt_") and body["token"].startswith(body["prefix"])
    assert body["scopes"] == ["read"]
    listed = client.get("/api/v1/tokens", headers=headers).json()
    assert {t["name"] for t in listed} == {"Gestionale", "test"}
    assert all("token" not in t for t in listed)

    new = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/users/me", headers=new).json()["id"] == personas.sara.id
    assert client.get("/api/v1/tokens", headers=new).json()[0]["last_used_at"] is not None


def test_token_validation(client, personas, auth):
    headers = auth(personas.sara)
    bad_scope = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["root"]}, headers=headers
    )
    assert assert_problem(bad_scope, 422)["errors"][0]["field"].startswith("scopes")
    no_scope = client.post("/api/v1/tokens", json={"name": "x", "scopes": []}, headers=headers)
    assert assert_problem(no_scope, 422)["errors"][0]["field"] == "scopes"
    # An agent's token cannot mint an admin token (nor can an agent hold one at all).
    admin_scope = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["admin"]}, headers=headers
    )
    assert_problem(admin_scope, 403)


def test_revoke_only_own_tokens(client, personas, auth):
    sara, luca = auth(personas.sara), auth(personas.luca)
    saras_token = client.get("/api/v1/tokens", headers=sara).json()[0]["id"]
    assert_problem(client.delete(f"/api/v1/tokens/{saras_token}", headers=luca), 404)
    assert client.get("/api/v1/users/me", headers=sara).status_code == 200
    assert client.delete(f"/api/v1/tokens/{saras_token}", headers=sara).status_code == 204
    revoked = client.get("/api/v1/tokens", headers=luca).json()
    assert all(t["revoked_at"] is None for t in revoked)
    assert_problem(client.get("/api/v1/users/me", headers=sara), 401)
