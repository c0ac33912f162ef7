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
#: Batch handlers that wait for more events: (max_wait seconds, min_batch) by handler.
HOLDS: dict[BatchHandler, tuple[float, int]] = {}
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


def subscribe_batch(
    *names: str, max_wait: float = 0.0, min_batch: int = 1000
) -> Callable[[BatchHandler], BatchHandler]:
    """A handler that takes all of one round's events of these names at once, in outbox order.

    For work that is much cheaper done together: one index transaction for a hundred messages,
    one routing run for every queue that got new work. It must be idempotent like any handler;
    when a batch fails, the dispatcher retries its events one by one, so one bad event fails
    alone.

    With ``max_wait`` (seconds) the handler may lag: the dispatcher holds its events over
    rounds and hands them over together once the first has waited ``max_wait`` or
    ``min_batch`` are held (``drain`` and a stopping dispatcher hand over at once). For work
    with a fixed cost a call that nobody watches to the millisecond (the reports' aggregates).
    Held events stay claimed, not done: a dispatcher that dies before handing them over
    leaves them to be claimed again after the lease, every handler running again.
    """
    if not 0 <= max_wait < outbox.RENEW_AFTER.total_seconds():
        raise ValueError("max_wait must be shorter than the lease renewal")

    def decorator(fn: BatchHandler) -> BatchHandler:
        for name in names:
            if name not in events.EVENTS:
                raise events.UnknownEvent(name)
        BATCH_HANDLERS.append((frozenset(names), fn))
        if max_wait:
            HOLDS[fn] = (max_wait, min_batch)
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
        # Events held for a handler of HOLDS: (since, events), and a held event's error from
        # its own round (an event to be retried is not held).
        self._held: dict[BatchHandler, tuple[float, list[outbox.ClaimedEvent]]] = {}
        self._held_errors: dict[int, Exception] = {}

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
                return self.flush_held(force=False)
        self._yield()
        with self.db.transaction() as session:
            claimed = outbox.claim_events(session, worker=self.name, limit=limit)
        if not claimed:
            return self.flush_held(force=False)
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
            if mine and batch_handler not in HOLDS:
                self._yield()
                self._run_batch(batch_handler, mine, failed)
        retry = {e.id for e in claimed if e.id in failed and e.attempts < MAX_EVENT_ATTEMPTS}
        for names, batch_handler in BATCH_HANDLERS:
            mine = [e for e in claimed if e.name in names and e.id not in retry]
            if mine and batch_handler in HOLDS:
                since, held = self._held.get(batch_handler, (time.monotonic(), []))
                self._held[batch_handler] = (since, held + mine)
                self._held_errors.update((e.id, failed[e.id]) for e in mine if e.id in failed)
        released = self._release(force=False, failed=failed)
        self._mark([*claimed, *released], failed)
        return len(claimed)

    def _release(self, *, force: bool, failed: dict[int, Exception]) -> list[outbox.ClaimedEvent]:
        """Hand the held events over to their handlers: those due, or all (``force``)."""
        out: list[outbox.ClaimedEvent] = []
        now = time.monotonic()
        for handler, (since, held) in list(self._held.items()):
            max_wait, min_batch = HOLDS.get(handler, (0.0, 0))
            if force or len(held) >= min_batch or now - since >= max_wait:
                del self._held[handler]
                self._yield()
                self._run_batch(handler, held, failed)
                out.extend(held)
        return out

    def _mark(self, candidates: list[outbox.ClaimedEvent], failed: dict[int, Exception]) -> None:
        """Mark done the events handled, or failed for the last time (kept with their error, not
        retried again); not those a handler still holds."""
        held = {e.id for _since, events_ in self._held.values() for e in events_}
        seen: set[int] = set()
        done: list[outbox.ClaimedEvent] = []
        errors: dict[int, str] = {}
        for e in candidates:
            if e.id in seen or e.id in held:
                continue
            seen.add(e.id)
            error = failed.get(e.id, self._held_errors.pop(e.id, None))
            if error is not None and e.attempts < MAX_EVENT_ATTEMPTS:
                continue
            done.append(e)
            if error is not None:
                errors[e.id] = str(error)[:2000]
        if not done:
            return
        self._yield()
        with self.db.transaction() as session:
            outbox.mark_done(session, done, errors)

    def flush_held(self, *, force: bool = True) -> int:
        """Hand over the held events (all, or only those due) and mark them done. Returns how
        many were handed over."""
        failed: dict[int, Exception] = {}
        released = self._release(force=force, failed=failed)
        if released:
            self._mark(released, failed)
        return len(released)

    def _next_due(self) -> float | None:
        """Seconds until the first held batch is due, if any is held."""
        now = time.monotonic()
        waits = [since + HOLDS.get(h, (0.0, 0))[0] - now for h, (since, _e) in self._held.items()]
        return max(min(waits), 0.0) if waits else None

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
            if self.run_once() == 0 and self.flush_held() == 0:
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
                due = self._next_due()
                wait = poll_seconds if due is None else min(poll_seconds, due)
                if not processed and not await asyncio.to_thread(self._wake.wait, wait):
                    continue  # nothing woke us: poll again (other processes' events, held ones)
                if gather_seconds:
                    await asyncio.sleep(gather_seconds)
        finally:
            events.remove_outbox_listener(self.wake)
            try:
                await asyncio.to_thread(self.flush_held)
            except Exception:
                log.exception("could not hand over the held events")
