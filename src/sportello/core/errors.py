"""Domain errors and their HTTP form: RFC 9457 problem+json for the API, a page for browsers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class SportelloError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(SportelloError):
    status_code = 404
    title = "Not found"


class PermissionDenied(SportelloError):
    status_code = 403
    title = "Forbidden"


class InvalidInput(SportelloError):
    status_code = 422
    title = "Invalid input"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.field = field


class Conflict(SportelloError):
    status_code = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    title = "Invalid status transition"


class TooManyRequests(SportelloError):
    status_code = 429
    title = "Too many requests"


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def _language(request: Request) -> str | None:
    """The language to answer an error in: the console user's, or the one the caller asked for
    (Accept-Language); None for an API caller who asked for none (English, the source)."""
    from sqlalchemy import inspect as sa_inspect

    from sportello.core import i18n

    asked = request.headers.get("accept-language")
    if request.url.path.startswith("/api/"):
        # Integrations get the source (English) unless they ask for a language.
        return i18n.pick_language(asked) if asked else None
    user = getattr(request.state, "user", None)
    # Read without a lazy load: the failed request's session may be closed already.
    preferred = sa_inspect(user).dict.get("language") if user is not None else None
    if preferred is None and asked is None and not request.headers.get("hx-request"):
        return None
    return i18n.pick_language(asked, preferred)


def translated(request: Request, message: str) -> str:
    from sportello.core import i18n

    language = _language(request)
    if language is None or "%" in message:
        return message
    return i18n.translations(language).gettext(message)


async def sportello_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SportelloError)
    extra = dict(exc.extra)
    message = translated(request, exc.message)
    if isinstance(exc, InvalidInput) and exc.field:
        extra["errors"] = [{"field": exc.field, "message": message}]
    login_url = extra.get("login_url") if exc.status_code == 401 else None
    redirect_to = extra.get("redirect_to")
    if wants_json(request) or request.headers.get("hx-request"):
        if redirect_to and request.headers.get("hx-request"):
            from urllib.parse import urlsplit

            current = urlsplit(request.headers.get("hx-current-url", "")).path
            if current.startswith(str(redirect_to)):
                # A fragment of the page we send people to: nothing to show there yet.
                return Response(status_code=204)
            response = problem(exc.status_code, exc.title, message, **extra)
            response.headers["HX-Redirect"] = str(redirect_to)
            return response
        response = problem(exc.status_code, exc.title, message, **extra)
        if login_url and request.headers.get("hx-request"):
            # back to the page the fragment was for, not to the fragment itself
            from urllib.parse import quote, urlsplit

            page = urlsplit(request.headers.get("hx-current-url", "")).path or "/"
            response.headers["HX-Redirect"] = f"/login?next={quote(page)}"
        return response
    redirect = login_url or redirect_to
    if redirect:  # a browser without a session: to the login page, then back (or where it says)
        from fastapi.responses import RedirectResponse

        return RedirectResponse(str(redirect), status_code=303)
    from sportello.web.render import render_error

    return render_error(request, exc.status_code, exc.message)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if wants_json(request):
        response = problem(exc.status_code, _reason(exc.status_code), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    from sportello.web.render import render_error

    return render_error(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "Invalid input", detail, errors=errors)


async def out_of_range_handler(request: Request, exc: Exception) -> Response:
    """A value the database cannot hold (an id past the column's range: 2^31-1 on PostgreSQL,
    2^63-1 on SQLite, in a path, a filter or a body) is the caller's mistake, not the server's."""
    message = translated(request, "a value is out of range")
    if wants_json(request):
        field = _out_of_range_field(request)
        extra = {"errors": [{"field": field, "message": message}]} if field else {}
        return problem(422, "Invalid input", message, **extra)
    from sportello.web.render import render_error

    return render_error(request, 422, message)


def _out_of_range_field(request: Request) -> str | None:
    """The parameter that most likely held the value: an integer past 32 bits in the path or
    the query, else a page cursor (it carries ids)."""
    params = {**request.path_params, **request.query_params}
    for name, value in params.items():
        text = str(value).lstrip("-")
        if text.isdigit() and int(text) > 2**31 - 1:
            return str(name)
    return "cursor" if "cursor" in params else None


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
