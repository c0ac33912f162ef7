"""Reads about accounts, and resolving the caller of a request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import ApiToken, Brand, Team, User, UserSession
from sportello.core.db import utcnow
from sportello.core.security import hash_token


def user_for_session_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    if row is None or row.expires_at < utcnow() or not row.user.is_active:
        return None
    return row.user


def api_token_for(session: Session, token: str) -> ApiToken | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    return row


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
