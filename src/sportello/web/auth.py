"""Who is calling: session cookies for the console, bearer tokens for the API; CSRF for forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session, lazyload

from sportello.accounts import service as accounts_service
from sportello.accounts.models import ApiToken, User
from sportello.audit import actions as audit
from sportello.config import get_settings
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import PermissionDenied, SportelloError
from sportello.core.security import csrf_valid
from sportello.web.render import CSRF_COOKIE

SESSION_COOKIE = "sportello_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(SportelloError):
    status_code = 401
    title = "Login required"


class CsrfFailed(SportelloError):
    status_code = 403
    title = "CSRF check failed"


def _session_user(request: Request, session: Session) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return accounts_service.user_for_session_token(session, token)


async def check_csrf(request: Request) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    submitted = request.headers.get("x-csrf-token")
    if submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            submitted = value if isinstance(value, str) else None
    if not csrf_valid(
        request.cookies.get(CSRF_COOKIE), submitted, get_settings().effective_secret_key()
    ):
        raise CsrfFailed("the form expired or came from another site: reload the page and retry")


def optional_user(request: Request, session: SessionDep) -> User | None:
    user = _session_user(request, session)
    request.state.user = user
    return user


class TwoFactorEnrolmentRequired(SportelloError):
    status_code = 403
    title = "Two-factor sign-in required"


# Pages a user who must enrol a second factor can still reach (the enrolment itself, leaving).
ENROLMENT_PATHS = ("/profile/security", "/logout")


def current_user(request: Request, session: SessionDep) -> User:
    user = optional_user(request, session)
    if user is None:
        raise LoginRequired("please log in", login_url=f"/login?next={quote(request.url.path)}")
    if (
        not user.has_two_factor
        and not request.url.path.startswith(ENROLMENT_PATHS)
        and accounts_service.two_factor_required(session, user)
    ):
        raise TwoFactorEnrolmentRequired(
            "your role must sign in with a second factor: set it up to continue",
            redirect_to="/profile/security",
        )
    return user


def supervisor_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_supervisor:
        raise PermissionDenied("supervisors and admins only")
    return user


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise PermissionDenied("admins only")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
SupervisorUser = Annotated[User, Depends(supervisor_user)]
AdminUser = Annotated[User, Depends(admin_user)]
CsrfChecked = Depends(check_csrf)


@dataclass(frozen=True)
class ApiCaller:
    user: User
    scopes: frozenset[str]
    via_token: bool

    def require(self, scope: str) -> None:
        granted = set(self.scopes)
        if "write" in granted or "admin" in granted:
            granted.add("read")  # who may write may read
        if scope not in granted and "admin" not in granted:
            raise PermissionDenied(f"this token lacks the {scope!r} scope")


class Unauthorized(SportelloError):
    status_code = 401
    title = "Unauthorized"


def api_caller(request: Request, session: SessionDep) -> ApiCaller:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token:
        grant = accounts_service.api_grant(session, token.strip())
        if grant is None:
            raise Unauthorized("invalid or revoked API token")
        if grant.last_used_at is None or (utcnow() - grant.last_used_at).total_seconds() > 60:
            # Once a minute at most; a @group_commit view hands this change to its writer.
            used = session.get(ApiToken, grant.token_id, options=[lazyload("*")])
            if used is not None:
                used.last_used_at = utcnow()
                if not session.info.get("group_commit"):  # that view adds no rows of its own
                    audit.record(session, "api_token.used", target=used, actor=grant.user)
        request.state.user = grant.user
        return ApiCaller(grant.user, grant.scopes, True)
    user = _session_user(request, session)
    if user is None:
        raise Unauthorized("log in or send 'Authorization: Bearer <token>'")
    # A browser session must prove the request is its own (the console sends X-CSRF-Token).
    if request.method in UNSAFE_METHODS and not csrf_valid(
        request.cookies.get(CSRF_COOKIE),
        request.headers.get("x-csrf-token"),
        get_settings().effective_secret_key(),
    ):
        raise CsrfFailed("missing or invalid X-CSRF-Token header")
    request.state.user = user
    scopes = {"read", "write"} | ({"admin"} if user.is_admin else set())
    return ApiCaller(user, frozenset(scopes), False)


ApiCallerDep = Annotated[ApiCaller, Depends(api_caller)]
