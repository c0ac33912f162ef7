"""Sync views commit in their own thread as soon as they return (main.commit_in_view_thread):
every sync endpoint of every router the app serves is wrapped, nested routers included, and the
wrapper really runs for a request."""

from __future__ import annotations

import inspect
from importlib import import_module

from fastapi.routing import APIRoute, APIRouter
from sqlalchemy.orm import Session

from sportello.wiring import ROUTERS


def _routes(router: APIRouter):  # type: ignore[no-untyped-def]
    for route in router.routes:
        nested = getattr(route, "original_router", None)
        if isinstance(nested, APIRouter):
            yield from _routes(nested)
        elif isinstance(route, APIRoute):
            yield route


def test_every_sync_view_is_wrapped(app):  # type: ignore[no-untyped-def]
    sync = [
        r
        for module in ROUTERS
        for r in _routes(import_module(module).router)
        if not inspect.iscoroutinefunction(r.endpoint)
    ]
    assert len(sync) > 100
    unwrapped = [r.path for r in sync if not getattr(r.endpoint, "commits_in_view_thread", False)]
    assert unwrapped == []


def test_the_wrapper_commits_before_the_teardown(client, personas, monkeypatch):  # type: ignore[no-untyped-def]
    from tests.factories import login

    in_wrapper: list[bool] = []
    original = Session.commit

    def commit(self):  # type: ignore[no-untyped-def]
        in_wrapper.append(
            any(
                f.function == "view" and f.frame.f_globals.get("__name__") == "sportello.main"
                for f in inspect.stack()
            )
        )
        return original(self)

    monkeypatch.setattr(Session, "commit", commit)
    login(client, personas.sara)  # POST /login: a sync view that writes a session row
    assert True in in_wrapper  # committed by the wrapper, in the view's thread
