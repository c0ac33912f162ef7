"""Two-factor sign-in (TOTP): enrolment with a QR code, the code step of a sign-in, recovery
codes, replayed codes, the admins' policy per role and the reset for a lost phone."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from sportello.accounts.models import RecoveryCode, User
from sportello.web.auth import SESSION_COOKIE
from tests.api.helpers import make_token
from tests.factories import PASSWORD, csrf_from, login

HTML = {"accept": "text/html", "accept-language": "en"}


def _post(client, url, data, **kwargs):  # type: ignore[no-untyped-def]
    page = client.get("/profile" if url.startswith("/profile") else "/login", headers=HTML)
    return client.post(
        url, data={**data, "csrf_token": csrf_from(page.text)}, headers=HTML, **kwargs
    )


def _enrol(client, user) -> tuple[pyotp.TOTP, list[str]]:  # type: ignore[no-untyped-def]
    login(client, user)
    started = _post(client, "/profile/security/start", {})
    assert started.status_code == 200, started.text
    assert "<svg" in started.text  # the QR code
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', started.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    wrong = _post(client, "/profile/security/confirm", {"code": "000000"})
    assert wrong.status_code == 422
    assert "il codice non è corretto" in wrong.text  # Italian: the user's language
    confirmed = _post(client, "/profile/security/confirm", {"code": totp.now()})
    assert confirmed.status_code == 200, confirmed.text
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", confirmed.text)
    assert len(codes) == 10
    return totp, codes


def _password_step(client, user):  # type: ignore[no-untyped-def]
    client.cookies.clear()
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )


def _code_step(client, code: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login/code",
        data={"code": code, "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30 s step: the one just used at enrolment may not be used again."""
    return totp.at(time.time() + 30)


def test_enrol_then_sign_in_with_a_code(client, personas):
    totp, _codes = _enrol(client, personas.sara)
    first = _password_step(client, personas.sara)
    assert first.status_code == 200
    assert "Enter the 6-digit code" in first.text
    assert SESSION_COOKIE not in first.cookies  # the password alone opens nothing
    assert _code_step(client, "123456").status_code == 401
    signed_in = _code_step(client, _next_code(totp))
    assert signed_in.status_code == 303
    assert signed_in.cookies.get(SESSION_COOKIE)
    assert client.get("/inbox/mine", headers=HTML).status_code == 200


def test_a_code_is_good_once(client, personas):
    totp, _codes = _enrol(client, personas.sara)
    code = _next_code(totp)
    _password_step(client, personas.sara)
    assert _code_step(client, code).status_code == 303
    _password_step(client, personas.sara)
    assert _code_step(client, code).status_code == 401  # seen over a shoulder: refused


def test_a_recovery_code_signs_in_once(client, db, personas):
    _totp, codes = _enrol(client, personas.sara)
    _password_step(client, personas.sara)
    assert _code_step(client, codes[3].upper().replace("-", " ")).status_code == 303
    _password_step(client, personas.sara)
    assert _code_step(client, codes[3]).status_code == 401
    with db.session() as s:
        used = s.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
        assert len(used) == 1
        assert all(codes[3] not in r.code_hash for r in used)  # only hashes are kept


def test_the_code_step_needs_a_fresh_password_step(client, personas):
    totp, _codes = _enrol(client, personas.sara)
    client.cookies.clear()
    response = _code_step(client, _next_code(totp))
    assert response.status_code == 401
    assert "enter your password again" in response.text


def test_wrong_codes_are_throttled(client, personas):
    _enrol(client, personas.sara)
    _password_step(client, personas.sara)
    statuses = [_code_step(client, "000000").status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429


def test_the_policy_sends_an_agent_to_enrol_before_working(client, db, personas):
    login(client, personas.admin)
    saved = _post(client, "/admin/security", {"two_factor_roles": "agent"})
    assert saved.status_code == 200 and "Salvato." in saved.text
    client.cookies.clear()
    login(client, personas.luca)
    inbox = client.get("/inbox/mine", headers=HTML, follow_redirects=False)
    assert inbox.status_code == 303
    assert inbox.headers["location"] == "/profile/security"
    page = client.get("/profile/security", headers=HTML)
    assert "chiede a ogni operatore di accedere con un secondo fattore" in page.text
    # API tokens are not sessions: an integration keeps working
    token = make_token(db, personas.luca, ("read",))
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["has_two_factor"] is False
    # once enrolled, the console opens
    client.cookies.clear()
    _enrol(client, personas.luca)
    assert client.get("/inbox/mine", headers=HTML).status_code == 200
    # and the second factor cannot be switched off while the role requires it
    refused = _post(client, "/profile/security/disable", {"password": PASSWORD})
    assert refused.status_code == 422


def test_turning_it_off_asks_for_the_password(client, db, personas):
    _enrol(client, personas.sara)
    assert _post(client, "/profile/security/disable", {"password": "nope"}).status_code == 422
    off = _post(client, "/profile/security/disable", {"password": PASSWORD}, follow_redirects=False)
    assert off.status_code == 303
    with db.session() as s:
        user = s.get_one(User, personas.sara.id)
        assert user.totp_secret is None and not user.has_two_factor
        assert s.scalars(select(RecoveryCode)).all() == []


def test_an_admin_resets_a_lost_phone_from_the_page_and_the_api(client, db, personas):
    _enrol(client, personas.sara)
    client.cookies.clear()
    login(client, personas.admin)
    page = client.get(f"/admin/users/{personas.sara.id}", headers=HTML)
    assert "Azzera (telefono perso)" in page.text
    reset = client.post(
        f"/admin/users/{personas.sara.id}/security/reset",
        data={"csrf_token": csrf_from(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert reset.status_code == 303
    with db.session() as s:
        assert not s.get_one(User, personas.sara.id).has_two_factor
    # again, through the API
    _enrol(client, personas.luca)
    token = make_token(db, personas.admin, ("read", "write", "admin"))
    response = client.post(
        f"/api/v1/users/{personas.luca.id}/two-factor/reset",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["has_two_factor"] is False


@pytest.mark.parametrize("role", ["admin", "supervisor"])
def test_the_policy_over_the_api_is_for_admins(client, db, personas, role):
    admin = make_token(db, personas.admin, ("read", "write", "admin"))
    headers = {"Authorization": f"Bearer {admin}"}
    assert client.get("/api/v1/security/policy", headers=headers).json() == {"two_factor_roles": []}
    put = client.put("/api/v1/security/policy", json={"two_factor_roles": [role]}, headers=headers)
    assert put.status_code == 200 and put.json() == {"two_factor_roles": [role]}
    bad = client.put(
        "/api/v1/security/policy", json={"two_factor_roles": ["boss"]}, headers=headers
    )
    assert bad.status_code == 422
    agent = make_token(db, personas.sara, ("read", "write"))
    denied = client.get("/api/v1/security/policy", headers={"Authorization": f"Bearer {agent}"})
    assert denied.status_code == 403
