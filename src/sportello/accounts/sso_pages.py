"""Single sign-on pages: "Sign in with ..." (the start and the provider's callback) and the
admins' provider settings. The flow itself is in accounts/sso.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from sportello.accounts import actions, sso
from sportello.accounts.models import OidcProvider, Role
from sportello.accounts.pages import (
    PENDING_COOKIE,
    PENDING_SECONDS,
    _code_page,
    _login_page,
    _pending_signer,
    _signed_in,
)
from sportello.audit import actions as audit
from sportello.core import i18n
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput
from sportello.web.auth import AdminUser, CsrfChecked
from sportello.web.helpers import form_error, local_path, see_other, translating
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])  # (only unsafe methods are checked)

FLOW_COOKIE = "sportello_sso"
FLOW_SECONDS = 600  # the provider's page must come back within ten minutes


def _flow_signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        request.app.state.settings.effective_secret_key(), salt="sso-login"
    )


def _redirect_uri(request: Request, slug: str) -> str:
    return str(request.url_for("sso_callback", slug=slug))


def _failed(request: Request, session: SessionDep, message: str, next_url: str = "") -> Response:
    with translating(request):
        text = i18n.gettext(message)
    response = _login_page(
        request, session=session, next_url=local_path(next_url), error=text, status_code=401
    )
    response.delete_cookie(FLOW_COOKIE, path="/login/sso")
    return response


@router.get("/login/sso/{slug}", include_in_schema=False)
def sso_start(request: Request, session: SessionDep, slug: str, next: str = "") -> Response:
    provider = sso.active_provider(session, slug[:40])
    try:
        started = sso.start(provider, redirect_uri=_redirect_uri(request, provider.slug))
    except sso.SsoFailed as exc:
        return _failed(request, session, exc.message, next)
    response = see_other(started.url)
    response.set_cookie(
        FLOW_COOKIE,
        _flow_signer(request).dumps(
            {
                "p": provider.slug,
                "s": started.state,
                "n": started.nonce,
                "v": started.verifier,
                "next": local_path(next),
            }
        ),
        max_age=FLOW_SECONDS,
        path="/login/sso",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: the cookie comes along
        secure=request.app.state.settings.secure_cookies,
    )
    return response


@router.get("/login/sso/{slug}/callback", name="sso_callback", include_in_schema=False)
def sso_callback(
    request: Request,
    session: SessionDep,
    slug: str,
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    settings = request.app.state.settings
    try:
        flow: dict[str, Any] = _flow_signer(request).loads(
            request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_SECONDS
        )
    except BadSignature:
        return _failed(request, session, "The sign-in took too long: try again.")
    next_url = str(flow.get("next") or "")
    if flow.get("p") != slug or not state or state != flow.get("s"):
        return _failed(request, session, "The sign-in took too long: try again.", next_url)
    provider = sso.active_provider(session, slug[:40])
    if error or not code:
        return _failed(request, session, "The provider refused the sign-in.", next_url)
    ip = request.client.host if request.client else None
    try:
        claims = sso.finish(
            provider,
            redirect_uri=_redirect_uri(request, slug),
            code=code[:2000],
            nonce=str(flow["n"]),
            verifier=str(flow["v"]),
        )
        user = sso.do_sign_in_user(session, provider=provider, claims=claims)
        token = actions.do_login_sso(
            session,
            user=user,
            provider_slug=provider.slug,
            ip=ip,
            user_agent=request.headers.get("user-agent"),
            days=settings.session_days,
        )
    except sso.SsoFailed as exc:
        if exc.extra.get("reason") in ("token", "id_token", "azp", "unreachable", "issuer"):
            audit.record(
                session,
                "login.failed",
                target=("oidc_provider", provider.id, provider.slug),
                reason=f"sso:{exc.extra.get('reason')}",
                provider=provider.slug,
            )
        return _failed(request, session, exc.message, next_url)
    except actions.SecondFactorRequired as exc:
        response: Response = _code_page(request, next_url=local_path(next_url))
        response.set_cookie(
            PENDING_COOKIE,
            _pending_signer(request).dumps(int(exc.extra["user_id"])),
            max_age=PENDING_SECONDS,
            path="/login",
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
        )
        response.delete_cookie(FLOW_COOKIE, path="/login/sso")
        return response
    response = _signed_in(request, token, local_path(next_url))
    response.delete_cookie(FLOW_COOKIE, path="/login/sso")
    return response


# --------------------------------------------------------------------------- admin


def _admin_page(
    request: Request,
    session: SessionDep,
    *,
    editing: OidcProvider | None = None,
    error: object = None,
    values: dict[str, Any] | None = None,
    saved: bool = False,
) -> Response:
    return render(
        request,
        "accounts/admin_sso.html",
        {
            "providers": sso.providers(session),
            "presets": sso.PRESETS,
            "roles": list(Role),
            "editing": editing,
            "values": values or {},
            "error": error,
            "saved": saved,
            "callback_base": str(request.base_url).rstrip("/") + "/login/sso/",
            "admin_tab": "sso",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/sso", response_class=HTMLResponse, include_in_schema=False)
def admin_sso(request: Request, session: SessionDep, user: AdminUser, saved: int = 0) -> Response:
    return _admin_page(request, session, saved=bool(saved))


@router.get("/admin/sso/{provider_id}", response_class=HTMLResponse, include_in_schema=False)
def admin_sso_edit(
    request: Request, session: SessionDep, user: AdminUser, provider_id: int
) -> Response:
    return _admin_page(request, session, editing=sso.get_provider(session, provider_id))


@router.post("/admin/sso", response_class=HTMLResponse, include_in_schema=False)
@router.post("/admin/sso/{provider_id}", response_class=HTMLResponse, include_in_schema=False)
def admin_sso_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    provider_id: int | None = None,
    slug: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=80)] = "",
    preset: Annotated[str, Form(max_length=20)] = "generic",
    issuer: Annotated[str, Form(max_length=500)] = "",
    client_id: Annotated[str, Form(max_length=300)] = "",
    client_secret: Annotated[str, Form(max_length=1000)] = "",
    allowed_domains: Annotated[str, Form(max_length=2000)] = "",
    auto_provision: Annotated[str, Form(max_length=5)] = "",
    default_role: Annotated[Role, Form()] = Role.AGENT,
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    editing = sso.get_provider(session, provider_id) if provider_id is not None else None
    try:
        sso.do_save_provider(
            session,
            provider=editing,
            slug=slug,
            name=name,
            preset=preset,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            allowed_domains=allowed_domains.replace(",", " ").split(),
            auto_provision=bool(auto_provision),
            default_role=default_role,
            is_active=bool(active),
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        values = {
            "slug": slug,
            "name": name,
            "preset": preset,
            "issuer": issuer,
            "client_id": client_id,
            "allowed_domains": allowed_domains,
            "auto_provision": bool(auto_provision),
            "default_role": default_role.value,
            "active": bool(active),
        }
        editing = sso.get_provider(session, provider_id) if provider_id is not None else None
        return _admin_page(request, session, editing=editing, error=form_error(exc), values=values)
    return see_other("/admin/sso?saved=1")


@router.post("/admin/sso/{provider_id}/delete", include_in_schema=False)
def admin_sso_delete(session: SessionDep, user: AdminUser, provider_id: int) -> Response:
    sso.do_delete_provider(session, provider=sso.get_provider(session, provider_id))
    return see_other("/admin/sso")
