"""Rendering templates with the caller's language, time zone and CSRF token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, select_autoescape
from markupsafe import Markup

from sportello.core import i18n
from sportello.core.db import utcnow
from sportello.core.html import text_to_html
from sportello.core.security import csrf_token_for

WEB_DIR = Path(__file__).resolve().parent
CSRF_COOKIE = "sportello_csrf"

env = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(["html", "xml"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
    # Compiled templates kept on disk (the user's temp folder, keyed by the source's checksum):
    # a restarted process, or each test process, renders its first page in milliseconds instead
    # of compiling the page's templates for seconds.
    bytecode_cache=FileSystemBytecodeCache(),
)
env.install_gettext_callables(  # type: ignore[attr-defined]
    lambda s: i18n.translations(i18n.current_language.get()).gettext(s),
    lambda s, p, n: i18n.translations(i18n.current_language.get()).ngettext(s, p, n),
    newstyle=True,
)


def _text(value: str | None) -> Markup:
    return Markup(text_to_html(value or ""))  # noqa: S704 (text_to_html escapes first)


env.filters["text"] = _text


def user_tz(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return user.timezone if user is not None else "Europe/Rome"


def request_language(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return i18n.pick_language(
        request.headers.get("accept-language"), user.language if user else None
    )


def csrf_token(request: Request) -> str:
    from sportello.config import get_settings

    cookie = getattr(request.state, "csrf_cookie", None) or request.cookies.get(CSRF_COOKIE, "")
    return csrf_token_for(cookie, get_settings().effective_secret_key())


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    language = request_language(request)
    token = i18n.current_language.set(language)
    try:
        tz = user_tz(request)
        now = utcnow()

        def dt(value: datetime | None, fmt: str = "short") -> str:
            return i18n.format_dt(value, tz, fmt)

        def ago(value: datetime | None) -> str:
            return i18n.format_relative(value, now)

        ctx = {
            "request": request,
            "user": getattr(request.state, "user", None),
            "lang": language,
            "csrf_token": csrf_token(request),
            "dt": dt,
            "ago": ago,
            "now": now,
            **(context or {}),
        }
        html = env.get_template(template).render(ctx)
    finally:
        i18n.current_language.reset(token)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def render_error(
    request: Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    # The failed request's session was rolled back and closed, which expired the user it loaded:
    # read the user again (for the page's language and time zone) in a short session of our own.
    from sqlalchemy import inspect as sa_inspect

    user = getattr(request.state, "user", None)
    if user is not None and sa_inspect(user).detached:
        from sportello.accounts.models import User

        with request.app.state.db.session() as session:
            request.state.user = session.get(User, sa_inspect(user).identity[0])
            return render_error(request, status, message, headers=headers)
    return render(
        request,
        "error.html",
        {"status": status, "message": message},
        status_code=status,
        headers=headers,
    )
