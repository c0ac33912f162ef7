"""Who is acting and from where, for the audit log, without passing the request around.

A small ASGI middleware keeps the current request's scope in a context variable; the sync views
run in a copy of that context (Starlette's thread pool), so ``audit.actions.record`` reads the
client's address (as the proxy-headers middleware rewrote it), the user agent and the signed-in
user (``request.state.user``, set by the auth dependencies) from there. Outside a request (CLI,
jobs) there is no context: the actor is the system.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

_scope: ContextVar[Scope | None] = ContextVar("sportello_audit_scope", default=None)


@dataclass(frozen=True)
class Origin:
    ip: str | None
    user_agent: str | None
    user: Any | None


def current_origin() -> Origin:
    scope = _scope.get()
    if scope is None:
        return Origin(None, None, None)
    client = scope.get("client")
    agent = None
    for key, value in scope.get("headers") or ():
        if key == b"user-agent":
            agent = value.decode("latin-1")[:300]
            break
    state = scope.get("state") or {}
    return Origin(client[0] if client else None, agent, state.get("user"))


class AuditContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        token = _scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)
