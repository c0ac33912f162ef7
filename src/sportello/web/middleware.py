"""ASGI middleware: security headers, request-size limits and the CSRF cookie."""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import unquote_plus

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sportello.core.errors import problem
from sportello.web.render import CSRF_COOKIE

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: cid:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The public web form is meant to be embedded in the customer's own site.
CSP_EMBEDDABLE = CSP.replace("frame-ancestors 'none'", "frame-ancestors *")


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secure_cookies: bool,
        body_limit: int,
        upload_limit: int,
        connect_src: str = "",
    ) -> None:
        """``connect_src``: one more origin pages may connect to (the softphone's SIP
        WebSocket on Kamailio)."""
        self.app = app
        extra = connect_src.strip().split()[0] if connect_src.strip() else ""
        self.csp = (
            CSP.replace("connect-src 'self'", f"connect-src 'self' {extra}") if extra else CSP
        )
        self.csp_embeddable = self.csp.replace("frame-ancestors 'none'", "frame-ancestors *")
        self.secure_cookies = secure_cookies
        self.body_limit = body_limit
        self.upload_limit = upload_limit

    def _limit(self, scope: Scope) -> int:
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        path: str = scope.get("path", "")
        if content_type.startswith("multipart/form-data") or path.endswith("/messages"):
            # base64 attachments in JSON grow by a third
            return self.upload_limit * 4 // 3 + 1_000_000
        return self.body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = problem(413, "Payload too large", f"the request body is over {limit} bytes")
            await response(scope, receive, send)
            return

        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge(limit)
            return message

        csrf_cookie = _cookie(headers.get(b"cookie", b"").decode("latin-1"), CSRF_COOKIE)
        new_cookie = None
        if not csrf_cookie:
            new_cookie = secrets.token_urlsafe(24)
            scope.setdefault("state", {})["csrf_cookie"] = new_cookie
        path: str = scope.get("path", "")
        embeddable = path.startswith("/f/")
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if too_large:
                # The app turned the aborted read into an error of its own: answer 413 instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    response = problem(
                        413, "Payload too large", f"the request body is over {limit} bytes"
                    )
                    await response(scope, receive, send)
                return
            if message["type"] == "http.response.start":
                started = True
                h = MutableHeaders(scope=message)
                h.setdefault(
                    "Content-Security-Policy", self.csp_embeddable if embeddable else self.csp
                )
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "same-origin")
                if not embeddable:
                    h.setdefault("X-Frame-Options", "DENY")
                if self.secure_cookies:  # served over HTTPS: browsers keep to it
                    h.setdefault("Strict-Transport-Security", "max-age=31536000")
                if not path.startswith("/static/"):
                    # Pages and answers carry personal data: no shared or back-button cache
                    # (views that allow caching, e.g. attachments by hash, say so themselves).
                    h.setdefault("Cache-Control", "no-store")
                if path.startswith("/static/widget/"):
                    # The chat widget's script is loaded by customers' sites.
                    h.setdefault("Access-Control-Allow-Origin", "*")
                    h.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
                if new_cookie:
                    secure = "; Secure" if self.secure_cookies else ""
                    h.append(
                        "Set-Cookie",
                        f"{CSRF_COOKIE}={new_cookie}; Path=/; SameSite=Lax; HttpOnly{secure}",
                    )
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except BodyTooLarge:
            if started or not too_large:
                raise
            response = problem(413, "Payload too large", f"the request body is over {limit} bytes")
            await response(scope, receive, send)


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")


SECRET_QUERY_KEYS = frozenset({"t", "token", "hub.verify_token", "verify_token", "access_token"})


class RedactSecrets(logging.Filter):
    """Keeps tokens out of the access log: the chat visitor's file links (``?t=``) and the
    WhatsApp verification handshake (``?hub.verify_token=``) carry secrets in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if "?" in path:
                record.args = (*args[:2], redact_query(path), *args[3:])
        return True


def redact_query(path: str) -> str:
    base, _, query = path.partition("?")
    parts = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        parts.append(f"{key}=***" if eq and unquote_plus(key) in SECRET_QUERY_KEYS else part)
    return f"{base}?{'&'.join(parts)}"


def install_access_log_redaction() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


__all__: list[Any] = ["SecurityMiddleware"]
