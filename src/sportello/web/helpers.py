"""Small helpers the page modules share: redirects, htmx detection, safe ``next`` targets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import available_timezones

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from sportello.core.errors import SportelloError


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def back_to(request: Request, url: str) -> Response:
    """After a POST: htmx follows ``HX-Redirect``, plain forms a 303."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return see_other(url)


def local_path(value: str | None, default: str = "/inbox/mine") -> str:
    """``value`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ch in value for ch in "\r\n\t") or value.startswith("/\t"):
        return default
    return value


def form_error(exc: SportelloError) -> dict[str, str | None]:
    return {"message": exc.message, "field": getattr(exc, "field", None)}


_TIMEZONES: list[str] | None = None


def timezones() -> list[str]:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = sorted(
            tz
            for tz in available_timezones()
            if "/" in tz and not tz.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
        )
    return _TIMEZONES


@contextmanager
def translating(request: Request) -> Iterator[None]:
    """Translate in the request's language outside a template (``i18n.gettext``)."""
    from sportello.core import i18n
    from sportello.web.render import request_language

    token = i18n.current_language.set(request_language(request))
    try:
        yield
    finally:
        i18n.current_language.reset(token)


@contextmanager
def user_errors(request: Request) -> Iterator[None]:
    """Domain errors raised inside keep their status but carry a translated message."""
    from sportello.core import i18n

    try:
        yield
    except SportelloError as exc:
        with translating(request):
            exc.message = i18n.gettext(exc.message)
        exc.args = (exc.message,)
        raise
