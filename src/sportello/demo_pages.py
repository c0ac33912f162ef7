"""What only the demo shop serves: its product page with the chat widget, and its mail catcher.

- ``GET /demo/shop``: a product page of "Casa Lavanda" with the widget of the demo's chat
  channel (the one whose settings say ``demo_shop``), where a visitor meets the bot. Not found
  when no demo data is loaded.
- The lifespan hook starts a local SMTP server (aiosmtpd) when the demo's mailbox is configured
  (settings ``demo_catcher``): that mailbox sends its replies to it, so no demo reply fails for
  want of a mail server. Caught mail is kept as ``.eml`` files in ``<data dir>/demo-mail/``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from sportello.channels.models import Channel
from sportello.core.db import Database, SessionDep
from sportello.core.errors import NotFound
from sportello.web.render import render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def demo_channel(session: Any, flag: str) -> Channel | None:
    """The demo's channel marked with ``flag`` in its settings (``demo_shop``, ``demo_catcher``)."""
    for channel in session.scalars(select(Channel).where(Channel.kind.in_(("chat", "email")))):
        if channel.settings.get(flag):
            return channel  # type: ignore[no-any-return]
    return None


@router.get("/demo/shop", response_class=HTMLResponse)
def shop(request: Request, session: SessionDep, lang: str = "it") -> HTMLResponse:
    channel = demo_channel(session, "demo_shop")
    if channel is None or not channel.is_active:
        raise NotFound("the demo shop is not loaded (run: sportello demo)")
    return render(
        request, "demo/shop.html", {"channel": channel, "lang": "en" if lang == "en" else "it"}
    )


class _Catcher:
    """aiosmtpd handler: keeps every message as a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self.count):04d}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 OK (Sportello demo mail catcher: kept, not delivered)"


def start_catcher(host: str, port: int, folder: Path) -> Any | None:
    """A running aiosmtpd controller, or None when the port is taken (another process has it)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    # The mailbox logs in as any real one would: the catcher takes any name and password (it
    # listens on loopback only and delivers nothing).
    controller = Controller(
        _Catcher(folder),
        hostname=host,
        port=port,
        authenticator=lambda *_args: AuthResult(success=True),
        auth_require_tls=False,
    )
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        log.warning("demo mail catcher not started on %s:%s: %s", host, port, exc)
        with contextlib.suppress(Exception):
            controller.stop(no_assert=True)
        if not controller.loop.is_closed():
            controller.loop.close()  # its self-pipe sockets, or they leak
        return None
    log.info("demo mail catcher on %s:%s, mail kept in %s", host, port, folder)
    return controller


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    db: Database = app.state.db
    with db.session() as session:
        mailbox = demo_channel(session, "demo_catcher")
        address = (
            (str(mailbox.settings.get("smtp_host")), int(mailbox.settings.get("smtp_port") or 0))
            if mailbox is not None
            else None
        )
    controller = None
    if address is not None and address[1]:
        folder = app.state.settings.data_dir / "demo-mail"
        controller = start_catcher(address[0], address[1], folder)
    try:
        yield
    finally:
        if controller is not None:
            controller.stop()
