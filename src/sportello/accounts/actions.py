"""Writes on accounts: users, teams, login sessions, throttling, API tokens."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import (
    ApiToken,
    LoginThrottle,
    RecoveryCode,
    Role,
    SecurityPolicy,
    Team,
    User,
    UserSession,
)
from sportello.audit import actions as audit
from sportello.config import get_settings
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, SportelloError, TooManyRequests
from sportello.core.security import (
    WeakPassword,
    check_password_strength,
    decrypt_secret,
    encrypt_secret,
    hash_password,
    hash_token,
    new_token,
    password_needs_rehash,
    verify_password,
)
from sportello.customers.identities import normalize_email

LANGUAGES = ("it", "en")
API_SCOPES = ("read", "write", "admin")
# Login throttling: past a few free failures each one doubles the wait, counted separately for
# one account from one address (the common case: a forgotten password, a guesser), one address
# across accounts (a sprayer), and one account from everywhere (a distributed guesser). The last
# has a high allowance, so that nobody can lock a colleague out from one machine by typing their
# email a few times; behind a reverse proxy the address is the client's (SPORTELLO_TRUSTED_PROXIES).
FREE_FAILURES = {"pair": 3, "ip": 10, "user": 20}
MAX_DELAY = timedelta(minutes=15)
THROTTLE_FORGET_AFTER = timedelta(hours=1)


def _check_profile(language: str, timezone: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {timezone!r}", field="timezone") from None


def do_create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None,
    language: str = "it",
    timezone: str = "Europe/Rome",
    teams: Sequence[Team] = (),
) -> User:
    email = normalize_email(email)
    if not name.strip():
        raise InvalidInput("a user needs a name", field="name")
    _check_profile(language, timezone)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists")
    if password is not None:
        try:
            check_password_strength(password)
        except WeakPassword as exc:
            raise InvalidInput(str(exc), field="password") from None
    user = User(
        email=email,
        name=name.strip()[:200],
        role=role,
        password_hash=hash_password(password) if password else None,
        language=language,
        timezone=timezone,
    )
    user.teams = list(teams)
    session.add(user)
    session.flush()
    audit.record(session, "user.created", target=user, role=role.value, name=user.name)
    return user


def _user_facts(user: User) -> dict[str, object]:
    return {
        "name": user.name,
        "role": user.role.value,
        "language": user.language,
        "timezone": user.timezone,
        "is_active": user.is_active,
        "teams": sorted(t.name for t in user.teams),
    }


def do_update_user(
    session: Session,
    *,
    user: User,
    name: str | None = None,
    role: Role | None = None,
    language: str | None = None,
    timezone: str | None = None,
    is_active: bool | None = None,
    teams: Sequence[Team] | None = None,
    password: str | None = None,
) -> User:
    _check_profile(language or user.language, timezone or user.timezone)
    before = _user_facts(user)
    if name is not None:
        if not name.strip():
            raise InvalidInput("a user needs a name", field="name")
        user.name = name.strip()[:200]
    if role is not None:
        user.role = role
    if language is not None:
        user.language = language
    if timezone is not None:
        user.timezone = timezone
    if teams is not None:
        user.teams = list(teams)
    if password:
        try:
            check_password_strength(password)
        except WeakPassword as exc:
            raise InvalidInput(str(exc), field="password") from None
        user.password_hash = hash_password(password)
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    changes = audit.diff(before, _user_facts(user))
    if password:
        changes["password"] = {"before": audit.MASK, "after": audit.MASK}
    if changes:
        action = "user.role_changed" if "role" in changes else "user.updated"
        audit.record(session, action, target=user, changes=changes)
    return user


def do_create_team(session: Session, *, name: str, members: Sequence[User] = ()) -> Team:
    name = name.strip()
    if not name:
        raise InvalidInput("a team needs a name", field="name")
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(f"a team named {name!r} already exists")
    team = Team(name=name[:200])
    team.members = list(members)
    session.add(team)
    session.flush()
    audit.record(session, "team.created", target=team, members=sorted(u.email for u in members))
    return team


def do_update_team(
    session: Session, *, team: Team, name: str | None = None, members: Sequence[User] | None = None
) -> Team:
    if name is not None:
        if not name.strip():
            raise InvalidInput("a team needs a name", field="name")
        team.name = name.strip()[:200]
    before = {"name": team.name, "members": sorted(u.email for u in team.members)}
    if members is not None:
        team.members = list(members)
    changes = audit.diff(
        before, {"name": team.name, "members": sorted(u.email for u in team.members)}
    )
    if changes:
        audit.record(session, "team.updated", target=team, changes=changes)
    return team


def throttle_wait(session: Session, keys: Sequence[str]) -> int:
    """Seconds to wait before the next attempt is allowed for any of these keys."""
    now = utcnow()
    wait = 0.0
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        free = FREE_FAILURES[row.key.partition(":")[0]]
        if now - row.last_failed_at > THROTTLE_FORGET_AFTER or row.failures < free:
            continue
        delay = min(timedelta(seconds=2 ** (row.failures - free + 1)), MAX_DELAY)
        wait = max(wait, (row.last_failed_at + delay - now).total_seconds())
    return int(wait + 0.999) if wait > 0 else 0


def _record_failure(session: Session, keys: Sequence[str]) -> None:
    now = utcnow()
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            session.add(LoginThrottle(key=key, failures=1, last_failed_at=now))
        else:
            if now - row.last_failed_at > THROTTLE_FORGET_AFTER:
                row.failures = 0
            row.failures += 1
            row.last_failed_at = now


def throttle_keys(email: str, ip: str | None) -> list[str]:
    """The first key is the one a successful login clears (see FREE_FAILURES)."""
    account = email.strip().lower()
    return [f"pair:{account}|{ip or '-'}", f"user:{account}", *([f"ip:{ip}"] if ip else [])]


class LoginFailed(InvalidInput):
    status_code = 401
    title = "Login failed"


class SecondFactorRequired(SportelloError):
    """The password was right; the account also asks for a code (the page asks for it)."""

    status_code = 401
    title = "Second factor required"


def _check_throttle(session: Session, keys: Sequence[str]) -> None:
    wait = throttle_wait(session, keys)
    if wait:
        raise TooManyRequests(
            f"too many failed attempts: try again in {wait} seconds", retry_after=wait
        )


def do_login(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    days: int = 14,
) -> tuple[User, str]:
    """Check the credentials and open a session; returns the user and the cookie token.

    Failures are counted per account and per IP; past a few, each failure doubles the wait.
    An account with a second factor raises SecondFactorRequired (with ``user_id``) instead:
    the session opens in do_login_second_factor.
    """
    keys = throttle_keys(email, ip)
    _check_throttle(session, keys)
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        _record_failure(session, keys)
        audit.record(
            session,
            "login.failed",
            target=user if user else ("user", "", email.strip().lower()[:200]),
            actor=user,
            reason="inactive" if user is not None and valid else "password",
        )
        raise LoginFailed("wrong email or password")
    if user.password_hash and password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.has_two_factor:
        raise SecondFactorRequired("enter the code from your authenticator app", user_id=user.id)
    return user, _open_session(
        session, user=user, keys=keys, ip=ip, user_agent=user_agent, days=days
    )


def do_login_second_factor(
    session: Session,
    *,
    user_id: int,
    code: str,
    ip: str | None,
    user_agent: str | None,
    days: int = 14,
) -> tuple[User, str]:
    """The second step of a sign-in: a code from the authenticator app or an unused recovery
    code. Wrong codes count as failed logins (the same throttle)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or not user.has_two_factor:
        raise LoginFailed("wrong email or password")
    keys = throttle_keys(user.email, ip)
    _check_throttle(session, keys)
    if not (_accept_totp(user, code) or _use_recovery_code(session, user, code)):
        _record_failure(session, keys)
        audit.record(session, "login.failed", target=user, actor=user, reason="second_factor")
        raise LoginFailed("wrong code")
    return user, _open_session(
        session, user=user, keys=keys, ip=ip, user_agent=user_agent, days=days, method="totp"
    )


def do_login_sso(
    session: Session,
    *,
    user: User,
    provider_slug: str,
    ip: str | None,
    user_agent: str | None,
    days: int = 14,
) -> str:
    """Open a session for a user the identity provider vouched for (accounts/sso.py). A user
    with a second factor still gives its code first (SecondFactorRequired, as after a
    password)."""
    if user.has_two_factor:
        raise SecondFactorRequired("enter the code from your authenticator app", user_id=user.id)
    return _open_session(
        session,
        user=user,
        keys=throttle_keys(user.email, ip),
        ip=ip,
        user_agent=user_agent,
        days=days,
        method=f"sso:{provider_slug}",
    )


def _open_session(
    session: Session,
    *,
    user: User,
    keys: Sequence[str],
    ip: str | None,
    user_agent: str | None,
    days: int,
    method: str = "password",
) -> str:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
    token = new_token()
    now = utcnow()
    session.add(
        UserSession(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
            ip=ip,
            user_agent=(user_agent or "")[:300],
        )
    )
    user.last_login_at = now
    audit.record(session, "login.succeeded", target=user, actor=user, method=method)
    return token


# ---- second factor (TOTP) --------------------------------------------------------------------

RECOVERY_CODES = 10
TOTP_ISSUER = "Sportello"


def _secret_key() -> str:
    return get_settings().effective_secret_key()


def _totp(user: User) -> pyotp.TOTP:
    assert user.totp_secret is not None
    return pyotp.TOTP(decrypt_secret(user.totp_secret, _secret_key()))


def _accept_totp(user: User, code: str) -> bool:
    """A current code (one 30 s step of clock drift either way), never one already used."""
    digits = "".join(ch for ch in code if ch.isdigit())
    if len(digits) != 6 or user.totp_secret is None:
        return False
    totp = _totp(user)
    now = utcnow()
    for drift in (0, -1, 1):
        step = totp.timecode(now) + drift
        if hmac.compare_digest(totp.generate_otp(step), digits):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def _normalize_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    wanted = hash_token(_normalize_recovery(code))
    row = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == wanted,
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def two_factor_uri(user: User) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return _totp(user).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def do_start_two_factor(session: Session, *, user: User) -> str:
    """A new secret for an account without a second factor; active after do_confirm."""
    if user.has_two_factor:
        raise Conflict("two-factor sign-in is already on")
    secret = pyotp.random_base32()
    user.totp_secret = encrypt_secret(secret, _secret_key())
    user.totp_last_step = None
    return secret


def do_confirm_two_factor(session: Session, *, user: User, code: str) -> list[str]:
    """Switch the second factor on with a first code from the app; returns the recovery codes
    (shown once: only their hashes are kept)."""
    if user.has_two_factor:
        raise Conflict("two-factor sign-in is already on")
    if user.totp_secret is None:
        raise InvalidInput("start again: scan the new QR code", field="code")
    if not _accept_totp(user, code):
        raise InvalidInput("that code is not right: check the time on your phone", field="code")
    user.totp_enabled_at = utcnow()
    audit.record(session, "two_factor.enabled", target=user)
    return _new_recovery_codes(session, user)


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 10 hex characters, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=hash_token(raw)))
    return codes


def do_regenerate_recovery_codes(session: Session, *, user: User, code: str) -> list[str]:
    if not user.has_two_factor:
        raise Conflict("two-factor sign-in is off")
    if not _accept_totp(user, code):
        raise InvalidInput("that code is not right: check the time on your phone", field="code")
    audit.record(session, "two_factor.recovery_codes_renewed", target=user)
    return _new_recovery_codes(session, user)


def do_disable_two_factor(session: Session, *, user: User, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise InvalidInput("wrong password", field="password")
    if accounts_service.two_factor_required(session, user):
        raise Conflict("your role must sign in with a second factor: it cannot be switched off")
    _clear_two_factor(session, user)
    audit.record(session, "two_factor.disabled", target=user)


def do_reset_two_factor(session: Session, *, user: User) -> None:
    """An admin's door for a colleague who lost the phone and the recovery codes: the next
    sign-in asks to enrol again where the policy requires it."""
    _clear_two_factor(session, user)
    audit.record(session, "two_factor.reset", target=user)


def _clear_two_factor(session: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def do_set_security_policy(session: Session, *, two_factor_roles: Sequence[str]) -> SecurityPolicy:
    known = {role.value for role in Role}
    unknown = sorted(set(two_factor_roles) - known)
    if unknown:
        raise InvalidInput(f"unknown role: {', '.join(unknown)}", field="two_factor_roles")
    policy = session.get(SecurityPolicy, 1)
    if policy is None:
        policy = SecurityPolicy(id=1, two_factor_roles=[])
        session.add(policy)
    before = {"two_factor_roles": list(policy.two_factor_roles or [])}
    policy.two_factor_roles = sorted(set(two_factor_roles))
    changes = audit.diff(before, {"two_factor_roles": policy.two_factor_roles})
    if changes:
        audit.record(session, "settings.security_changed", changes=changes)
    return policy


def do_logout(session: Session, *, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == hash_token(token)))


def do_create_api_token(
    session: Session, *, user: User, name: str, scopes: Sequence[str]
) -> tuple[ApiToken, str]:
    if not name.strip():
        raise InvalidInput("a token needs a name", field="name")
    unknown = set(scopes) - set(API_SCOPES)
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be among {', '.join(API_SCOPES)}", field="scopes")
    if "admin" in scopes and not user.is_admin:
        raise InvalidInput("only admins can create admin tokens", field="scopes")
    token = new_token("spt_")
    row = ApiToken(
        name=name.strip()[:200],
        prefix=token[:10],
        token_hash=hash_token(token),
        scopes=sorted(set(scopes)),
        user_id=user.id,
    )
    session.add(row)
    session.flush()
    audit.record(session, "api_token.created", target=row, owner=user.email, scopes=row.scopes)
    return row, token


def do_revoke_api_token(session: Session, *, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, "api_token.revoked", target=token, owner=token.user.email)
