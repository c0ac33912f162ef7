"""Single sign-on with OpenID Connect: the providers an admin configures, and the code flow.

The flow (Authlib's OAuth 2 client for the requests, joserfc for the id_token):

1. ``start``: discovery (``<issuer>/.well-known/openid-configuration``), then the browser goes to
   the provider's authorization endpoint with a random ``state``, a ``nonce`` and a PKCE
   challenge (S256); the three secrets travel in a signed, short-lived cookie.
2. ``finish``: the ``state`` must match; the code is exchanged (client secret + PKCE verifier);
   the id_token's signature is checked against the provider's JWKS, and its ``iss``, ``aud``
   (and ``azp``), ``exp`` and ``nonce``.
3. The user: the account already linked to the provider's ``sub``; else the user with the same
   verified email (linked now); else, when the provider allows it, a new user with its default
   role; else refused. The email's domain must be among the provider's allowed domains.

Two-factor sign-in: SSO replaces the password, not Sportello's second factor. A user who has an
authenticator is asked for its code after the provider, and roles the security policy requires
to use one still enrol at their first sign-in; the provider's own MFA (Google, Entra) comes on
top. Secrets: the client secret is encrypted at rest (core.security) and never shown again.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import OidcLink, OidcProvider, Role, User
from sportello.audit import actions as audit
from sportello.config import get_settings
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound, SportelloError
from sportello.core.security import decrypt_secret, encrypt_secret

SCOPE = "openid email profile"
HTTP_TIMEOUT = 10.0
CACHE_SECONDS = 600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]

# Presets: where each product's issuer lives; the admin fills the placeholders.
PRESETS: dict[str, dict[str, str]] = {
    "google": {"name": "Google Workspace", "issuer": "https://accounts.google.com"},
    "entra": {
        "name": "Microsoft Entra ID",
        "issuer": "https://login.microsoftonline.com/<tenant-id>/v2.0",
    },
    "keycloak": {"name": "Keycloak", "issuer": "https://sso.example.com/realms/<realm>"},
    "generic": {"name": "OpenID Connect", "issuer": ""},
}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


class SsoFailed(SportelloError):
    """The sign-in with the provider did not succeed; ``reason`` says why (for the log)."""

    status_code = 401
    title = "Single sign-on failed"


# --------------------------------------------------------------------------- providers


def _check_issuer(issuer: str) -> str:
    issuer = issuer.strip().rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or "<" in issuer:
        raise InvalidInput(
            "the issuer is a URL like https://sso.example.com/realms/shop", field="issuer"
        )
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidInput("the issuer must use https", field="issuer")
    if parts.query or parts.fragment:
        raise InvalidInput("the issuer has no query or fragment", field="issuer")
    return issuer


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_domains(domains: Sequence[str]) -> list[str]:
    cleaned = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    for domain in cleaned:
        if not _DOMAIN.match(domain):
            raise InvalidInput(f"not a domain: {domain}", field="allowed_domains")
    return cleaned


def do_save_provider(
    session: Session,
    *,
    provider: OidcProvider | None = None,
    slug: str,
    name: str,
    preset: str,
    issuer: str,
    client_id: str,
    client_secret: str = "",
    allowed_domains: Sequence[str] = (),
    auto_provision: bool = False,
    default_role: Role = Role.AGENT,
    is_active: bool = True,
) -> OidcProvider:
    """Create or change a provider. A blank ``client_secret`` keeps the stored one."""
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise InvalidInput("a short name of lowercase letters, digits and dashes", field="slug")
    clash = session.scalar(select(OidcProvider.id).where(OidcProvider.slug == slug))
    if clash is not None and (provider is None or clash != provider.id):
        raise Conflict(f"a provider named {slug!r} already exists")
    if preset not in PRESETS:
        raise InvalidInput("choose a kind of provider", field="preset")
    name = name.strip() or PRESETS[preset]["name"]
    if len(name) > 80:
        raise InvalidInput("the name is too long (at most 80 characters)", field="name")
    issuer = _check_issuer(issuer or PRESETS[preset]["issuer"])
    client_id = client_id.strip()
    if not client_id or len(client_id) > 300:
        raise InvalidInput("the client id the provider gave you", field="client_id")
    if provider is None and not client_secret.strip():
        raise InvalidInput("the client secret the provider gave you", field="client_secret")
    if len(client_secret) > 1000:
        raise InvalidInput("the client secret is too long", field="client_secret")
    domains = check_domains(allowed_domains)
    if auto_provision and not domains:
        raise InvalidInput(
            "new users are created only for the allowed domains: list at least one",
            field="allowed_domains",
        )
    before = _facts(provider) if provider is not None else {}
    if provider is None:
        provider = OidcProvider(slug=slug)
        session.add(provider)
    provider.slug = slug
    provider.name = name
    provider.preset = preset
    provider.issuer = issuer
    provider.client_id = client_id
    if client_secret.strip():
        provider.client_secret = encrypt_secret(client_secret.strip(), _key())
    provider.allowed_domains = domains
    provider.auto_provision = auto_provision
    provider.default_role = default_role
    provider.is_active = is_active
    session.flush()
    after = _facts(provider)
    audit.record(
        session,
        "sso.provider_saved",
        target=("oidc_provider", provider.id, provider.slug),
        changes=audit.diff(before, after),
    )
    return provider


def do_delete_provider(session: Session, *, provider: OidcProvider) -> None:
    audit.record(
        session, "sso.provider_deleted", target=("oidc_provider", provider.id, provider.slug)
    )
    session.delete(provider)
    session.flush()


def _facts(provider: OidcProvider) -> dict[str, Any]:
    return {
        "slug": provider.slug,
        "name": provider.name,
        "preset": provider.preset,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,  # the ciphertext; the diff masks it anyway
        "allowed_domains": list(provider.allowed_domains or []),
        "auto_provision": provider.auto_provision,
        "default_role": provider.default_role.value if provider.default_role else None,
        "is_active": provider.is_active,
    }


def providers(session: Session, *, active_only: bool = False) -> list[OidcProvider]:
    stmt = select(OidcProvider).order_by(OidcProvider.name)
    if active_only:
        stmt = stmt.where(OidcProvider.is_active.is_(True))
    return list(session.scalars(stmt))


def get_provider(session: Session, provider_id: int) -> OidcProvider:
    provider = session.get(OidcProvider, provider_id)
    if provider is None:
        raise NotFound("provider not found")
    return provider


def active_provider(session: Session, slug: str) -> OidcProvider:
    provider = session.scalar(
        select(OidcProvider).where(OidcProvider.slug == slug, OidcProvider.is_active.is_(True))
    )
    if provider is None:
        raise NotFound("provider not found")
    return provider


def _key() -> str:
    return get_settings().effective_secret_key()


# --------------------------------------------------------------------------- discovery, JWKS

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def _get_json(url: str, *, fresh: bool = False) -> dict[str, Any]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(url)
    if hit is not None and not fresh and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed("the provider cannot be reached", reason="unreachable") from exc
    if not isinstance(data, dict):
        raise SsoFailed("the provider cannot be reached", reason="unreachable")
    with _cache_lock:
        _cache[url] = (now, data)
    return data


def discovery(provider: OidcProvider) -> dict[str, Any]:
    meta = _get_json(f"{provider.issuer}/.well-known/openid-configuration")
    if str(meta.get("issuer", "")).rstrip("/") != provider.issuer:
        raise SsoFailed("the provider's settings do not match its issuer", reason="issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(meta.get(key), str):
            raise SsoFailed("the provider's settings are incomplete", reason="discovery")
    return meta


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------- the flow


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    verifier: str


def _client(provider: OidcProvider, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=decrypt_secret(provider.client_secret, _key()),
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT,
    )


def start(provider: OidcProvider, *, redirect_uri: str, login_hint: str = "") -> Started:
    meta = discovery(provider)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
    extra = {"login_hint": login_hint} if login_hint else {}
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            **extra,
        )
    return Started(url, state, nonce, verifier)


def finish(
    provider: OidcProvider, *, redirect_uri: str, code: str, nonce: str, verifier: str
) -> dict[str, Any]:
    """Exchange the code and return the id_token's claims, all checked."""
    meta = discovery(provider)
    try:
        with _client(provider, redirect_uri) as client:
            token = client.fetch_token(
                meta["token_endpoint"],
                code=code,
                code_verifier=verifier,
                grant_type="authorization_code",
            )
    except Exception as exc:  # Authlib raises its own errors and httpx's
        raise SsoFailed("the provider refused the sign-in", reason="token") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailed("the provider sent no identity", reason="id_token")
    return validate_id_token(provider, meta, id_token, nonce=nonce)


def validate_id_token(
    provider: OidcProvider, meta: dict[str, Any], id_token: str, *, nonce: str
) -> dict[str, Any]:
    keys = KeySet.import_key_set(_get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
    try:
        try:
            decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except JoseError:
            # A rotated key: fetch the JWKS again, once.
            keys = KeySet.import_key_set(_get_json(meta["jwks_uri"], fresh=True))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        claims = dict(decoded.claims)
        JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (JoseError, ValueError) as exc:
        raise SsoFailed("the provider's answer did not pass the checks", reason="id_token") from exc
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != provider.client_id:
        raise SsoFailed("the provider's answer did not pass the checks", reason="azp")
    return claims


def _email_allowed(provider: OidcProvider, email: str) -> bool:
    domains = provider.allowed_domains or []
    return not domains or email.rpartition("@")[2] in domains


def do_sign_in_user(session: Session, *, provider: OidcProvider, claims: dict[str, Any]) -> User:
    """The Sportello user for the provider's claims (see the module's docstring), audited."""
    from sportello.accounts import actions as accounts_actions

    subject = str(claims["sub"])[:255]
    email = str(claims.get("email") or "").strip().lower()
    link = session.scalar(
        select(OidcLink).where(OidcLink.provider_id == provider.id, OidcLink.subject == subject)
    )
    user = session.get(User, link.user_id) if link is not None else None
    if user is None:
        if not email or claims.get("email_verified") is False:
            raise _refuse(
                session, provider, None, "email", "the provider did not confirm your email"
            )
        if not _email_allowed(provider, email):
            raise _refuse(
                session, provider, None, "domain", "your email's domain is not allowed here"
            )
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            if not provider.auto_provision:
                raise _refuse(
                    session,
                    provider,
                    None,
                    "unknown",
                    "there is no Sportello account for your email: ask an administrator",
                )
            name = str(claims.get("name") or email.partition("@")[0])[:200]
            user = accounts_actions.do_create_user(
                session, email=email, name=name, role=provider.default_role, password=None
            )
        session.add(OidcLink(provider_id=provider.id, subject=subject, user_id=user.id))
        session.flush()
    elif email and not _email_allowed(provider, user.email):
        raise _refuse(session, provider, user, "domain", "your email's domain is not allowed here")
    if not user.is_active:
        raise _refuse(session, provider, user, "inactive", "this account is switched off")
    session.execute(
        update(OidcLink)
        .where(OidcLink.provider_id == provider.id, OidcLink.subject == subject)
        .values(last_login_at=utcnow())
    )
    return user


def _refuse(
    session: Session, provider: OidcProvider, user: User | None, reason: str, message: str
) -> SsoFailed:
    audit.record(
        session,
        "login.failed",
        target=user if user else ("oidc_provider", provider.id, provider.slug),
        actor=user,
        reason=f"sso:{reason}",
        provider=provider.slug,
    )
    return SsoFailed(message, reason=reason)
