"""Passwords, tokens, CSRF, secrets at rest and webhook signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    """argon2id with the library's (RFC 9106 low-memory) defaults; tests may make it cheaper."""
    from sportello.config import get_settings

    settings = get_settings()
    if settings.argon2_memory_kib and settings.argon2_time_cost:
        return PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
        )
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Compared against when the user does not exist, so both paths cost one verification.
    return _hasher().hash("sportello-timing-equaliser")


MIN_PASSWORD_LENGTH = 10


class WeakPassword(ValueError):
    pass


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are high-entropy, so one SHA-256 is enough (and fast on every API call)."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# CSRF: a random per-browser value in a cookie; forms carry an HMAC of it under the app's key
# (the "signed double-submit cookie" pattern), so a token cannot be forged without the key.
def csrf_token_for(cookie_value: str, key: str) -> str:
    return hmac.new(key.encode(), b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_valid(cookie_value: str | None, submitted: str | None, key: str) -> bool:
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(csrf_token_for(cookie_value, key), submitted)


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    digest = hashlib.sha256(b"sportello-secrets:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(plain: str, key: str) -> str:
    return _fernet(key).encrypt(plain.encode()).decode()


@lru_cache(maxsize=512)
def decrypt_secret(token: str, key: str) -> str:
    """Cached by ciphertext: every inbound webhook reads its channel's secrets, and a rotated
    secret has a new ciphertext, so the cache never serves a stale value."""
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured key") from exc


SIGNATURE_HEADER = "X-Sportello-Signature"
SIGNATURE_TOLERANCE = 300


def sign_webhook(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>`` (the scheme Stripe popularised)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_webhook(
    body: bytes, header: str, secret: str, *, tolerance: int = SIGNATURE_TOLERANCE
) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = sign_webhook(body, secret, timestamp=ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
