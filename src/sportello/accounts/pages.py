"""Console pages for accounts: log in and out, the profile, admin pages for users and teams."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy.orm import Session

from sportello.accounts import actions, service, sso
from sportello.accounts.models import Role, Team, User
from sportello.core import i18n
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from sportello.web.auth import (
    SESSION_COOKIE,
    AdminUser,
    CsrfChecked,
    CurrentUser,
    OptionalUser,
    SupervisorUser,
)
from sportello.web.helpers import form_error, local_path, see_other, timezones, translating
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])

LANGUAGE_NAMES = {"it": "Italiano", "en": "English"}


def _login_page(
    request: Request,
    *,
    session: Session | None = None,
    next_url: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "login.html",
        {
            "next": next_url,
            "email": email,
            "error": error,
            # "Sign in with ..." buttons (accounts/sso.py)
            "sso_providers": sso.providers(session, active_only=True) if session else [],
        },
        status_code=status_code,
        headers=headers,
    )


def _throttled(request: Request, exc: TooManyRequests) -> tuple[int, str]:
    """The wait a throttled sign-in step must respect, and the sentence that says so."""
    wait = int(exc.extra.get("retry_after", 1))
    with translating(request):
        message = i18n.ngettext(
            "Too many failed attempts: try again in %(num)d second.",
            "Too many failed attempts: try again in %(num)d seconds.",
            wait,
        )
    return wait, message


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(
    request: Request, session: SessionDep, user: OptionalUser, next: str = ""
) -> Response:
    if user is not None:
        return see_other(local_path(next))
    return _login_page(request, session=session, next_url=local_path(next))


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    settings = request.app.state.settings
    next_url = local_path(next)
    # The throttle must count this failure, so the error is rendered (and the request commits).
    try:
        _user, token = actions.do_login(
            session,
            email=email,
            password=password,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            days=settings.session_days,
        )
    except TooManyRequests as exc:
        wait, message = _throttled(request, exc)
        return _login_page(
            request,
            session=session,
            next_url=next_url,
            email=email,
            error=message,
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    except actions.SecondFactorRequired as exc:
        response = _code_page(request, next_url=next_url)
        response.set_cookie(
            PENDING_COOKIE,
            _pending_signer(request).dumps(int(exc.extra["user_id"])),
            max_age=PENDING_SECONDS,
            path="/login",
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
        )
        return response
    except InvalidInput:
        with translating(request):
            message = i18n.gettext("Wrong email or password.")
        return _login_page(
            request, session=session, next_url=next_url, email=email, error=message, status_code=401
        )
    return _signed_in(request, token, next_url)


def _signed_in(request: Request, token: str, next_url: str) -> Response:
    settings = request.app.state.settings
    response = see_other(next_url)
    response.delete_cookie(PENDING_COOKIE, path="/login")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    return response


# --- the second step of a sign-in: a code ---------------------------------------------------------

PENDING_COOKIE = "sportello_login_2fa"
PENDING_SECONDS = 300  # the code must follow the password within five minutes


def _pending_signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        request.app.state.settings.effective_secret_key(), salt="login-second-factor"
    )


def _code_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "accounts/login_code.html",
        {"next": next_url, "error": error},
        status_code=status_code,
        headers=headers,
    )


@router.post("/login/code", response_class=HTMLResponse, include_in_schema=False)
def login_code(
    request: Request,
    session: SessionDep,
    code: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    settings = request.app.state.settings
    next_url = local_path(next)
    try:
        user_id = int(
            _pending_signer(request).loads(
                request.cookies.get(PENDING_COOKIE, ""), max_age=PENDING_SECONDS
            )
        )
    except (BadSignature, ValueError, TypeError):
        with translating(request):
            message = i18n.gettext("The sign-in took too long: enter your password again.")
        return _login_page(
            request, session=session, next_url=next_url, error=message, status_code=401
        )
    try:
        _user, token = actions.do_login_second_factor(
            session,
            user_id=user_id,
            code=code,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            days=settings.session_days,
        )
    except TooManyRequests as exc:
        wait, message = _throttled(request, exc)
        return _code_page(
            request,
            next_url=next_url,
            error=message,
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    except InvalidInput:
        with translating(request):
            message = i18n.gettext("That code is not right. Try the next one from the app.")
        return _code_page(request, next_url=next_url, error=message, status_code=401)
    return _signed_in(request, token, next_url)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        actions.do_logout(session, token=token)
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- profile -----------------------------------------------------------------------------------


def _profile(
    request: Request, user: User, *, saved: bool = False, error: object = None
) -> Response:
    return render(
        request,
        "accounts/profile.html",
        {
            "languages": LANGUAGE_NAMES,
            "timezones": timezones(),
            "saved": saved,
            "error": error,
            "current_path": "/profile",
        },
        status_code=422 if error else 200,
    )


@router.get("/profile", response_class=HTMLResponse, include_in_schema=False)
def profile(request: Request, user: CurrentUser, saved: int = 0) -> Response:
    return _profile(request, user, saved=bool(saved))


@router.post("/profile", response_class=HTMLResponse, include_in_schema=False)
def profile_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    language: Annotated[str, Form(max_length=8)],
    timezone: Annotated[str, Form(max_length=64)],
) -> Response:
    try:
        actions.do_update_user(session, user=user, language=language, timezone=timezone)
    except InvalidInput as exc:
        session.rollback()
        return _profile(request, user, error=form_error(exc))
    return see_other("/profile?saved=1")


# --- profile: two-factor sign-in -----------------------------------------------------------------


def _security_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    secret: str | None = None,
    codes: list[str] | None = None,
    error: object = None,
) -> Response:
    qr = None
    if secret is not None:
        qr = segno.make(actions.two_factor_uri(user), error="m").svg_inline(
            scale=5, dark="#1d1d1f", light="#ffffff"
        )
    return render(
        request,
        "accounts/security.html",
        {
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            if secret
            else None,
            "qr": Markup(qr) if qr else None,  # noqa: S704  (segno's own SVG, no user input)
            "codes": codes,
            "required": service.two_factor_required(session, user),
            "error": error,
            "current_path": "/profile",
        },
        status_code=422 if error else 200,
    )


@router.get("/profile/security", response_class=HTMLResponse, include_in_schema=False)
def profile_security(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _security_page(request, session, user)


@router.post("/profile/security/start", response_class=HTMLResponse, include_in_schema=False)
def two_factor_start(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    try:
        secret = actions.do_start_two_factor(session, user=user)
    except Conflict as exc:
        session.rollback()
        return _security_page(request, session, user, error=form_error(exc))
    return _security_page(request, session, user, secret=secret)


@router.post("/profile/security/confirm", response_class=HTMLResponse, include_in_schema=False)
def two_factor_confirm(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        codes = actions.do_confirm_two_factor(session, user=user, code=code)
    except (InvalidInput, Conflict) as exc:
        # The secret stays as it was: the same QR code is shown again.
        from sportello.core.security import decrypt_secret

        secret = (
            decrypt_secret(user.totp_secret, request.app.state.settings.effective_secret_key())
            if user.totp_secret and not user.has_two_factor
            else None
        )
        return _security_page(request, session, user, secret=secret, error=form_error(exc))
    return _security_page(request, session, user, codes=codes)


@router.post("/profile/security/codes", response_class=HTMLResponse, include_in_schema=False)
def two_factor_codes(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        codes = actions.do_regenerate_recovery_codes(session, user=user, code=code)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _security_page(request, session, user, error=form_error(exc))
    return _security_page(request, session, user, codes=codes)


@router.post("/profile/security/disable", response_class=HTMLResponse, include_in_schema=False)
def two_factor_disable(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        actions.do_disable_two_factor(session, user=user, password=password)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _security_page(request, session, user, error=form_error(exc))
    return see_other("/profile/security")


# --- admin: security policy ----------------------------------------------------------------------


@router.get("/admin/security", response_class=HTMLResponse, include_in_schema=False)
def admin_security(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _policy_page(request, session)


def _policy_page(
    request: Request, session: SessionDep, *, saved: bool = False, error: object = None
) -> Response:
    return render(
        request,
        "accounts/admin_security.html",
        {
            "policy_roles": service.two_factor_roles(session),
            "roles": list(Role),
            "users": service.get_all_users(session),
            "saved": saved,
            "error": error,
            "admin_tab": "security",
        },
        status_code=422 if error else 200,
    )


@router.post("/admin/security", response_class=HTMLResponse, include_in_schema=False)
def admin_security_save(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    two_factor_roles: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    try:
        actions.do_set_security_policy(session, two_factor_roles=two_factor_roles)
    except InvalidInput as exc:
        session.rollback()
        return _policy_page(request, session, error=form_error(exc))
    return _policy_page(request, session, saved=True)


@router.post(
    "/admin/users/{user_id}/security/reset", response_class=HTMLResponse, include_in_schema=False
)
def admin_two_factor_reset(
    request: Request, session: SessionDep, admin: AdminUser, user_id: int
) -> Response:
    actions.do_reset_two_factor(session, user=_user_by_id(session, user_id))
    return see_other(f"/admin/users/{user_id}")


# --- admin: users ------------------------------------------------------------------------------


def _teams_by_id(session: SessionDep, ids: list[int]) -> list[Team]:
    teams = {t.id: t for t in service.get_all_teams(session)}
    return [teams[i] for i in ids if i in teams]


def _user_by_id(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def _users_page(
    request: Request,
    session: SessionDep,
    *,
    error: object = None,
    values: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "accounts/admin_users.html",
        {
            "users": service.get_all_users(session),
            "teams": service.get_all_teams(session),
            "roles": list(Role),
            "languages": LANGUAGE_NAMES,
            "error": error,
            "values": values or {},
            "admin_tab": "users",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin", include_in_schema=False)
def admin_home(user: SupervisorUser) -> Response:
    return see_other("/admin/users")


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def admin_users(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _users_page(request, session)


@router.post("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def admin_user_create(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    email: Annotated[str, Form(max_length=320)],
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=8)] = "it",
    team_ids: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    try:
        actions.do_create_user(
            session,
            email=email,
            name=name,
            role=role,
            password=password or None,
            language=language,
            teams=_teams_by_id(session, team_ids),
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        values = {"email": email, "name": name, "role": role.value, "language": language}
        return _users_page(request, session, error=form_error(exc), values=values)
    return see_other("/admin/users")


@router.get("/admin/users/{user_id}", response_class=HTMLResponse, include_in_schema=False)
def admin_user(
    request: Request, session: SessionDep, user: SupervisorUser, user_id: int
) -> Response:
    return render(
        request,
        "accounts/admin_user.html",
        {
            "subject": _user_by_id(session, user_id),
            "teams": service.get_all_teams(session),
            "roles": list(Role),
            "languages": LANGUAGE_NAMES,
            "timezones": timezones(),
            "error": None,
            "admin_tab": "users",
        },
    )


@router.post("/admin/users/{user_id}", response_class=HTMLResponse, include_in_schema=False)
def admin_user_save(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    user_id: int,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[Role, Form()],
    language: Annotated[str, Form(max_length=8)],
    timezone: Annotated[str, Form(max_length=64)] = "Europe/Rome",
    active: Annotated[str, Form()] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    team_ids: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    subject = _user_by_id(session, user_id)
    try:
        if subject.id == admin.id and (role != Role.ADMIN or not active):
            raise InvalidInput("you cannot demote or deactivate yourself", field="role")
        actions.do_update_user(
            session,
            user=subject,
            name=name,
            role=role,
            language=language,
            timezone=timezone,
            is_active=bool(active),
            teams=_teams_by_id(session, team_ids),
            password=password or None,
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return render(
            request,
            "accounts/admin_user.html",
            {
                "subject": _user_by_id(session, user_id),
                "teams": service.get_all_teams(session),
                "roles": list(Role),
                "languages": LANGUAGE_NAMES,
                "timezones": timezones(),
                "error": form_error(exc),
                "admin_tab": "users",
            },
            status_code=422,
        )
    return see_other("/admin/users")


# --- admin: teams ------------------------------------------------------------------------------


def _teams_page(request: Request, session: SessionDep, *, error: object = None) -> Response:
    return render(
        request,
        "accounts/admin_teams.html",
        {
            "teams": service.get_all_teams(session),
            "users": service.get_all_users(session, active_only=True),
            "error": error,
            "admin_tab": "teams",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/teams", response_class=HTMLResponse, include_in_schema=False)
def admin_teams(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _teams_page(request, session)


@router.post("/admin/teams", response_class=HTMLResponse, include_in_schema=False)
def admin_team_create(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    name: Annotated[str, Form(max_length=200)],
    member_ids: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    members = [u for u in service.get_all_users(session) if u.id in set(member_ids)]
    try:
        actions.do_create_team(session, name=name, members=members)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _teams_page(request, session, error=form_error(exc))
    return see_other("/admin/teams")


@router.post("/admin/teams/{team_id}", response_class=HTMLResponse, include_in_schema=False)
def admin_team_save(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    team_id: int,
    name: Annotated[str, Form(max_length=200)],
    member_ids: Annotated[list[int], Form()] = [],  # noqa: B006
) -> Response:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound("team not found")
    members = [u for u in service.get_all_users(session) if u.id in set(member_ids)]
    try:
        actions.do_update_team(session, team=team, name=name, members=members)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _teams_page(request, session, error=form_error(exc))
    return see_other("/admin/teams")
