from __future__ import annotations

import time

from sportello.core import security


def test_passwords_are_argon2_and_verify():
    h = security.hash_password("una-password-lunga")
    assert h.startswith("$argon2id$")
    assert security.verify_password(h, "una-password-lunga")
    assert not security.verify_password(h, "sbagliata")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not-a-hash", "x")


def test_csrf_token_is_bound_to_cookie_and_key():
    token = security.csrf_token_for("cookie-a", "key")
    assert security.csrf_valid("cookie-a", token, "key")
    assert not security.csrf_valid("cookie-b", token, "key")
    assert not security.csrf_valid("cookie-a", token, "other-key")
    assert not security.csrf_valid(None, token, "key")


def test_secrets_round_trip_and_need_the_key():
    sealed = security.encrypt_secret("imap-password", "k1")
    assert "imap-password" not in sealed
    assert security.decrypt_secret(sealed, "k1") == "imap-password"
    import pytest

    with pytest.raises(ValueError):
        security.decrypt_secret(sealed, "k2")


def test_webhook_signature_verifies_and_rejects_tampering_and_replays():
    body = b'{"text":"ciao"}'
    header = security.sign_webhook(body, "whsec_x")
    assert security.verify_webhook(body, header, "whsec_x")
    assert not security.verify_webhook(body + b" ", header, "whsec_x")
    assert not security.verify_webhook(body, header, "whsec_y")
    old = security.sign_webhook(body, "whsec_x", timestamp=int(time.time()) - 3600)
    assert not security.verify_webhook(body, old, "whsec_x")
    assert not security.verify_webhook(body, "garbage", "whsec_x")
