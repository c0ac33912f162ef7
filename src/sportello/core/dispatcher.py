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
import time
from collections.abc import Callable
from typing import Any

from sportello.core import events, jobs, outbox
from sportello.core.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[Database, str, dict[str, Any]], None]
BatchHandler = Callable[[Database, list[tuple[str, dict[str, Any]]]], None]
HANDLERS: dict[str, list[Handler]] = {}
BATCH_HANDLERS: list[tuple[frozenset[str], BatchHandler]] = []
MAX_EVENT_ATTEMPTS = 5
YIELD_WAIT = 0.05  # seconds a step of a round waits at most for the writer to be idle
FULL_ROUND = 100  # events + jobs in a round from which the next one starts at once


def subscribe(*names: str) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        for name in names:
            if name not in events.EVENTS:
                raise events.UnknownEvent(name)
            HANDLERS.setdefault(name, []).append(fn)
        return fn

    return decorator


def subscribe_batch(*names: str) -> Callable[[BatchHandler], BatchHandler]:
    """A handler that takes all of one round's events of these names at once, in outbox order.

    For work that is much cheaper done together: one index transaction for a hundred messages,
    one routing run for every queue that got new work. It must be idempotent like any handler;
    when a batch fails, the dispatcher retries its events one by one, so one bad event fails
    alone.
    """

    def decorator(fn: BatchHandler) -> BatchHandler:
        for name in names:
            if name not in events.EVENTS:
                raise events.UnknownEvent(name)
        BATCH_HANDLERS.append((frozenset(names), fn))
        return fn

    return decorator


def subscribe_batch_when_registered(*names: str) -> Callable[[BatchHandler], BatchHandler]:
    """``subscribe_batch`` for events that another package declares, perhaps later or not at all
    in this install (``survey.answered`` for the reports): the names are not checked, and the
    handler gets such events once something registers and emits them."""

    def decorator(fn: BatchHandler) -> BatchHandler:
        BATCH_HANDLERS.append((frozenset(names), fn))
        return fn

    return decorator


class Dispatcher:
    def __init__(self, db: Database, *, name: str | None = None) -> None:
        self.db = db
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10000}"
        self._wake = threading.Event()
        self._extra: list[Handler] = []
        self._extra_batch: list[BatchHandler] = []
        self._yield_to: threading.Event | None = None
        # The claim this dispatcher is working through: (token, renew, last renewed, interval).
        self._lease: tuple[str, Callable[[Any, str], None], float, float] | None = None

    def yield_to(self, quiet: threading.Event) -> None:
        """Before each step of a round, wait (at most YIELD_WAIT) until ``quiet`` is set: the
        app's writer is idle. In one process the dispatcher's Python competes with the writer
        for the GIL; the writer's commits are what visitors and agents wait for, handled events
        can come a few milliseconds later."""
        self._yield_to = quiet

    def _yield(self) -> None:
        if self._yield_to is not None:
            self._yield_to.wait(YIELD_WAIT)
        self._keep_lease()

    def _hold(self, token: str, renew: Callable[[Any, str], None], every: float) -> None:
        self._lease = (token, renew, time.monotonic(), every)

    def _keep_lease(self) -> None:
        """Between steps of a round: renew the claim when it is due, so that only a dispatcher
        that died (or one stuck in a single handler) lets its claim lapse."""
        if self._lease is None:
            return
        token, renew, since, every = self._lease
        now = time.monotonic()
        if now - since < every:
            return
        try:
            with self.db.transaction() as session:
                renew(session, token)
        except Exception:
            log.warning("could not renew the lease of %s", token, exc_info=True)
            return
        self._lease = (token, renew, now, every)

    def add_handler(self, handler: Handler) -> None:
        """A handler for every event, local to this dispatcher."""
        self._extra.append(handler)

    def add_batch_handler(self, handler: BatchHandler) -> None:
        """A handler for every round's events, local to this dispatcher, run before all others
        (the realtime publisher: people are watching)."""
        self._extra_batch.append(handler)

    def wake(self) -> None:
        self._wake.set()

    def run_events_once(self, limit: int = 200) -> int:
        with self.db.session() as session:
            if not outbox.has_claimable(session):
                return 0
        self._yield()
        with self.db.transaction() as session:
            claimed = outbox.claim_events(session, worker=self.name, limit=limit)
        if not claimed:
            return 0
        self._hold(claimed[0].token, outbox.renew, outbox.RENEW_AFTER.total_seconds())
        try:
            return self._handle(claimed)
        finally:
            self._lease = None

    def _handle(self, claimed: list[outbox.ClaimedEvent]) -> int:
        failed: dict[int, Exception] = {}
        for extra in self._extra_batch:
            self._run_batch(extra, claimed, failed)
        for event in claimed:
            for handler in [*self._extra, *HANDLERS.get(event.name, [])]:
                self._yield()
                try:
                    handler(self.db, event.name, event.payload)
                except Exception as exc:
                    log.exception("handler failed for event %s #%s", event.name, event.id)
                    failed.setdefault(event.id, exc)
        for names, batch_handler in BATCH_HANDLERS:
            mine = [event for event in claimed if event.name in names]
            if mine:
                self._yield()
                self._run_batch(batch_handler, mine, failed)
        # Done: handled, or failed for the last time (kept with its error, not retried again).
        done = [e for e in claimed if e.id not in failed or e.attempts >= MAX_EVENT_ATTEMPTS]
        errors = {e.id: str(failed[e.id])[:2000] for e in done if e.id in failed}
        self._yield()
        with self.db.transaction() as session:
            outbox.mark_done(session, done, errors)
        return len(claimed)

    def _run_batch(
        self,
        handler: BatchHandler,
        claimed: list[outbox.ClaimedEvent],
        failed: dict[int, Exception],
    ) -> None:
        if len(claimed) > 1:
            try:
                handler(self.db, [(event.name, event.payload) for event in claimed])
                return
            except Exception:
                log.warning("a batch of %d events failed; retrying one by one", len(claimed))
        for event in claimed:
            try:
                handler(self.db, [(event.name, event.payload)])
            except Exception as exc:
                log.exception("batch handler failed for event %s #%s", event.name, event.id)
                failed.setdefault(event.id, exc)

    def run_jobs_once(self, limit: int = 50) -> int:
        with self.db.session() as session:
            if not jobs.has_due(session):
                return 0
        with self.db.transaction() as session:
            claimed = jobs.claim_jobs(session, worker=self.name, limit=limit)
            session.expunge_all()
        if not claimed:
            return 0
        self._hold(str(claimed[0].claimed_by), jobs.renew, jobs.RENEW_AFTER.total_seconds())
        try:
            for job in claimed:
                self._keep_lease()
                jobs.run_job(self.db, job)
        finally:
            self._lease = None
        return len(claimed)

    def run_once(self) -> int:
        return self.run_events_once() + self.run_jobs_once()

    def drain(self, max_rounds: int = 100) -> None:
        """Process until nothing is due (tests and the CLI use it)."""
        for _ in range(max_rounds):
            if self.run_once() == 0:
                return

    async def run_forever(
        self, stop: asyncio.Event, poll_seconds: float = 1.0, gather_seconds: float = 0.01
    ) -> None:
        """Rounds until stopped. After a wake-up (a commit that wrote events or jobs) it waits
        ``gather_seconds`` so that the writes arriving together are handled in one round: a
        round has a fixed cost (claim, mark done, on SQLite the write lock twice), and a busy
        chat sends hundreds of events a second."""
        events.on_outbox_commit(self.wake)
        try:
            while not stop.is_set():
                self._wake.clear()  # before the round: a commit during it wakes the next one
                try:
                    processed = await asyncio.to_thread(self.run_once)
                except Exception:
                    log.exception("dispatcher round failed")
                    processed = 0
                if processed >= FULL_ROUND:
                    continue  # a backlog: no waiting
                if not processed and not await asyncio.to_thread(self._wake.wait, poll_seconds):
                    continue  # nothing woke us: poll again (other processes' events)
                if gather_seconds:
                    await asyncio.sleep(gather_seconds)
        finally:
            events.remove_outbox_listener(self.wake)
