"""The dispatcher: delivers outbox events to their handlers and runs due jobs.

It runs as an asyncio task inside ``sportello serve`` (embedded mode) or inside ``sportello worker``
processes (scaled mode); several may run at once, each claiming different rows. Delivery is at
least once, so every handler is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from sportello.core import events, jobs, outbox
from sportello.core.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[Database, str, dict[str, Any]], None]
HANDLERS: dict[str, list[Handler]] = {}
MAX_EVENT_ATTEMPTS = 5


def subscribe(*names: str) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        for name in names:
            if name not in events.EVENTS:
                raise events.UnknownEvent(name)
            HANDLERS.setdefault(name, []).append(fn)
        return fn

    return decorator


class Dispatcher:
    def __init__(self, db: Database, *, name: str | None = None) -> None:
        self.db = db
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10000}"
        self._wake = threading.Event()
        self._extra: list[Handler] = []

    def add_handler(self, handler: Handler) -> None:
        """A handler for every event, local to this dispatcher (e.g. the realtime publisher)."""
        self._extra.append(handler)

    def wake(self) -> None:
        self._wake.set()

    def run_events_once(self, limit: int = 200) -> int:
        with self.db.transaction() as session:
            claimed = outbox.claim_events(session, worker=self.name, limit=limit)
            session.expunge_all()
        if not claimed:
            return 0
        done: list[outbox.OutboxEvent] = []
        for event in claimed:
            try:
                for handler in [*HANDLERS.get(event.name, []), *self._extra]:
                    handler(self.db, event.name, event.payload)
            except Exception as exc:
                log.exception("handler failed for event %s #%s", event.name, event.id)
                if event.attempts >= MAX_EVENT_ATTEMPTS:
                    event.error = str(exc)[:2000]
                    done.append(event)
            else:
                done.append(event)
        with self.db.transaction() as session:
            outbox.mark_done(session, done)
            for event in done:
                if event.error:
                    session.execute(
                        update(outbox.OutboxEvent)
                        .where(outbox.OutboxEvent.id == event.id)
                        .values(error=event.error)
                    )
        return len(claimed)

    def run_jobs_once(self, limit: int = 50) -> int:
        with self.db.transaction() as session:
            claimed = jobs.claim_jobs(session, worker=self.name, limit=limit)
            session.expunge_all()
        for job in claimed:
            jobs.run_job(self.db, job)
        return len(claimed)

    def run_once(self) -> int:
        return self.run_events_once() + self.run_jobs_once()

    def drain(self, max_rounds: int = 100) -> None:
        """Process until nothing is due (tests and the CLI use it)."""
        for _ in range(max_rounds):
            if self.run_once() == 0:
                return

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        events.on_outbox_commit(self.wake)
        try:
            while not stop.is_set():
                try:
                    processed = await asyncio.to_thread(self.run_once)
                except Exception:
                    log.exception("dispatcher round failed")
                    processed = 0
                if processed:
                    continue
                self._wake.clear()
                await asyncio.to_thread(self._wake.wait, poll_seconds)
        finally:
            events.remove_outbox_listener(self.wake)
