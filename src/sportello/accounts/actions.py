"""Writes on accounts: users, teams, login sessions, throttling, API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sportello.accounts.models import ApiToken, LoginThrottle, Role, Team, User, UserSession
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, TooManyRequests
from sportello.core.security import (
    WeakPassword,
    check_password_strength,
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
    return user


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
    return team


def do_update_team(
    session: Session, *, team: Team, name: str | None = None, members: Sequence[User] | None = None
) -> Team:
    if name is not None:
        if not name.strip():
            raise InvalidInput("a team needs a name", field="name")
        team.name = name.strip()[:200]
    if members is not None:
        team.members = list(members)
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
    """
    keys = throttle_keys(email, ip)
    wait = throttle_wait(session, keys)
    if wait:
        raise TooManyRequests(
            f"too many failed attempts: try again in {wait} seconds", retry_after=wait
        )
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        _record_failure(session, keys)
        raise LoginFailed("wrong email or password")
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
    if user.password_hash and password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
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
    return user, token


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
    return row, token


def do_revoke_api_token(session: Session, *, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
