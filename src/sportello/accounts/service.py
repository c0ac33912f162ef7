"""Reads about accounts, and resolving the caller of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from sportello.accounts.models import ApiToken, Brand, SecurityPolicy, Team, User, UserSession
from sportello.core.db import utcnow
from sportello.core.prepared import Prepared
from sportello.core.security import hash_token


def user_for_session_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    if row is None or row.expires_at < utcnow() or not row.user.is_active:
        return None
    return row.user


@dataclass(frozen=True)
class ApiGrant:
    """What a valid bearer token grants: its user (teams load when asked), its scopes."""

    token_id: int
    user: User
    scopes: frozenset[str]
    last_used_at: datetime | None


class _Tokens:
    t, u = ApiToken.__table__.c, User.__table__.c
    # Every API request runs this: one row, no ORM token with its joined user and their teams.
    valid = Prepared(
        select(t.id, t.user_id, t.scopes, t.last_used_at)
        .select_from(ApiToken.__table__.join(User.__table__, u.id == t.user_id))
        .where(
            t.token_hash == bindparam("token_hash"),
            t.revoked_at.is_(None),
            u.is_active.is_(True),
        )
    )


def api_grant(session: Session, token: str) -> ApiGrant | None:
    """The grant of a bearer token; None if it is unknown, revoked, or its user is inactive."""
    row = _Tokens.valid.first(session, token_hash=hash_token(token))
    if row is None:
        return None
    user = session.get(User, row.user_id, options=[lazyload(User.teams)])
    if user is None:
        return None  # deleted meanwhile
    return ApiGrant(row.id, user, frozenset(row.scopes), row.last_used_at)


def get_all_users(session: Session, *, active_only: bool = False) -> list[User]:
    query = select(User).order_by(User.name)
    if active_only:
        query = query.where(User.is_active.is_(True))
    return list(session.scalars(query))


def get_all_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def default_brand(session: Session) -> Brand:
    brand = session.scalar(select(Brand).order_by(Brand.id).limit(1))
    if brand is None:
        raise LookupError("no brand: run 'sportello db upgrade'")
    return brand


def get_user(session: Session, user_id: int) -> User:
    from sportello.core.errors import NotFound

    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def get_teams(session: Session, team_ids: list[int]) -> list[Team]:
    from sportello.core.errors import InvalidInput

    teams = list(session.scalars(select(Team).where(Team.id.in_(team_ids))))
    if len(teams) != len(set(team_ids)):
        raise InvalidInput("unknown team id", field="team_ids")
    return teams


def api_tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def access_api_token(session: Session, user: User, token_id: int) -> ApiToken:
    """One of the user's own tokens; another user's token is reported as not found."""
    from sportello.core.errors import NotFound

    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("API token not found")
    return token


def two_factor_roles(session: Session) -> list[str]:
    """The roles whose members must sign in with a second factor (Admin → Security)."""
    policy = session.get(SecurityPolicy, 1)
    return list(policy.two_factor_roles) if policy else []


def two_factor_required(session: Session, user: User) -> bool:
    return user.role.value in two_factor_roles(session)
