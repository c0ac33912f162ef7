"""create_app(): routers, middleware, lifespan (dispatcher, realtime relay)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from importlib import import_module
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from sportello import __version__, wiring
from sportello.audit.context import AuditContextMiddleware
from sportello.channels import registry
from sportello.config import Settings, get_settings
from sportello.core import errors, events, realtime
from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from sportello.core.writer import BatchWriter
from sportello.web.docs import install_openapi
from sportello.web.middleware import SecurityMiddleware, install_access_log_redaction
from sportello.web.render import WEB_DIR

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    run_workers: bool | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    workers = settings.run_workers if run_workers is None else run_workers
    database = db or Database(settings.database_url, process_lock=not workers)
    hub = realtime.Hub()
    writer = BatchWriter(database)  # group commit for the hot writes (chat, replies)
    registry.load_builtin()
    wiring.load_handlers()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.attach_loop(asyncio.get_running_loop())
        install_access_log_redaction()  # after the server configured its loggers
        writer.attach(asyncio.get_running_loop())
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if settings.redis_url:
            tasks.append(
                asyncio.create_task(
                    realtime.relay_from_redis(hub, settings.redis_url, stop, settings.redis_channel)
                )
            )
        wake_workers = None
        if settings.redis_url and not workers:  # scaled mode: wake the `sportello worker`s
            wake_workers = realtime.wake_publisher(settings.redis_url, settings.redis_channel)
            events.on_outbox_commit(wake_workers)
        if workers:
            dispatcher = Dispatcher(database)
            if settings.redis_url:
                dispatcher.add_batch_handler(
                    realtime.redis_publisher(settings.redis_url, settings.redis_channel)
                )
            else:
                dispatcher.add_batch_handler(realtime.local_publisher(hub))
            dispatcher.yield_to(writer.quiet)
            app.state.dispatcher = dispatcher
            tasks.append(
                asyncio.create_task(
                    dispatcher.run_forever(
                        stop,
                        settings.dispatcher_poll_seconds,
                        gather_seconds=settings.dispatcher_gather_ms / 1000,
                    )
                )
            )
            from sportello.channels.email.poller import MailPoller

            tasks.append(asyncio.create_task(MailPoller(database).run_forever(stop)))
            tasks.extend(asyncio.create_task(c) for c in wiring.long_running(database, stop))
            await asyncio.to_thread(wiring.schedule_periodic, database)
        hooks = contextlib.AsyncExitStack()
        for module in wiring.ROUTERS:  # a router module may need a loop-bound part of its own
            hook = getattr(import_module(module), "lifespan", None)
            if hook is not None:
                await hooks.enter_async_context(hook(app))
        try:
            yield
        finally:
            await hooks.aclose()
            await writer.close()
            stop.set()
            if wake_workers is not None:
                events.remove_outbox_listener(wake_workers)
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=settings.dispatcher_poll_seconds + 5)
            if db is None:
                database.dispose()

    app = FastAPI(
        title="Sportello",
        version=__version__,
        description="Omnichannel customer service: REST API v1.",
        docs_url=None,  # served by sportello.web.docs: vendored Swagger UI, CSP-clean
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.db = database
    app.state.hub = hub
    app.state.writer = writer
    app.state.settings = settings
    app.add_exception_handler(errors.SportelloError, errors.sportello_error_handler)
    app.add_exception_handler(StarletteHTTPException, errors.http_error_handler)
    app.add_exception_handler(RequestValidationError, errors.validation_error_handler)
    app.add_exception_handler(DataError, errors.out_of_range_handler)
    app.add_exception_handler(OverflowError, errors.out_of_range_handler)
    app.add_middleware(
        SecurityMiddleware,
        secure_cookies=settings.secure_cookies,
        body_limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        connect_src=settings.voice_ws_url,
    )
    # The audit log's "who and from where" (inside the proxy-headers middleware: the client IP).
    app.add_middleware(AuditContextMiddleware)
    # Outermost: everything below sees the client's address, not the proxy's.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    for module in wiring.ROUTERS:
        app.include_router(commit_in_view_thread(import_module(module).router))
    install_openapi(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def commit_in_view_thread(router: APIRouter) -> APIRouter:
    """Commit a sync view's session in the view's own thread, as soon as it returns.

    ``get_session`` would commit in its teardown, which FastAPI runs after a hop back to the
    event loop and into the thread pool again; on a loop busy with thousands of chat sockets
    that hop takes tens of milliseconds, and on SQLite the request holds the one write lock all
    that time. The teardown still rolls back on errors and closes the session.

    The endpoint itself is wrapped (signature kept), before the router is included: FastAPI
    0.16x builds the handlers of included routers lazily from each route's endpoint, so a
    wrapper on an already built dependant would never run."""
    for route in router.routes:
        nested = getattr(route, "original_router", None)  # a router included in this one
        if isinstance(nested, APIRouter):
            commit_in_view_thread(nested)
            continue
        if not isinstance(route, APIRoute):
            continue
        call = route.endpoint
        if (
            getattr(call, "commits_in_view_thread", False)
            or inspect.iscoroutinefunction(call)
            or inspect.isgeneratorfunction(call)
        ):
            continue
        route.endpoint = _committing(call)
        route.dependant.call = route.endpoint  # routes served without inclusion (older FastAPI)
    return router


def _committing(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def view(**values: Any) -> Any:
        result = call(**values)
        for value in values.values():
            if (
                isinstance(value, Session)
                and value.in_transaction()
                and not value.info.get("group_commit")  # it wrote through the writer
            ):
                value.commit()
        return result

    view.commits_in_view_thread = True  # type: ignore[attr-defined]
    return view
