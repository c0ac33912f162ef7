"""Group commit: the hot writes of the whole process, many per transaction.

Every widget socket's write (a visitor message through the one door, a delivered or read mark, a
page change) and every reply an agent sends (console or REST API) is queued here; one loop takes
what is waiting and runs it in ONE transaction on a worker thread. When a write fails, the batch
is replayed one write per transaction, so the failing write fails alone and the others still
commit. On SQLite this replaces a crowd of threads queueing for the one write lock (each holding
it while it waits for the GIL) with one writer and one commit per batch; on PostgreSQL it turns
N commits into one. Nothing is acknowledged before its batch committed.

A write is a function of the writer's session. It may run twice (the replay), so it must load
what it changes from that session and do nothing outside it that a second run would repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from sportello.core.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = Callable[[Session], Any]


class WriterStopped(RuntimeError):
    pass


class BatchWriter:
    def __init__(self, db: Database, *, max_batch: int = 200) -> None:
        self.db = db
        self.max_batch = max_batch
        self.queue: asyncio.Queue[tuple[Write, asyncio.Future[Any]]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.writes = 0
        # Set while nothing is queued or being written: background work (the dispatcher) waits
        # for it between steps, so the writes people are waiting for get the GIL first.
        self.quiet = threading.Event()
        self.quiet.set()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that runs the batches; sync callers (views in the thread pool) hand their
        writes to it. Without one, ``run_sync`` writes in a transaction of its own."""
        self.loop = loop

    async def run(self, write: Callable[[Session], T]) -> T:
        loop = asyncio.get_running_loop()
        if self.queue is None or self.task is None or self.task.done() or self.loop is not loop:
            self.loop = loop
            self.queue = asyncio.Queue()
            self.task = asyncio.create_task(self._loop(self.queue))
        future: asyncio.Future[T] = loop.create_future()
        self.queue.put_nowait((write, future))
        return await future

    def run_sync(self, write: Callable[[Session], T]) -> T:
        """From a thread (a sync view): join the next batch and wait for its commit."""
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            with self.db.transaction() as session:
                return write(session)
        return asyncio.run_coroutine_threadsafe(self.run(write), loop).result()

    async def _loop(self, queue: asyncio.Queue[tuple[Write, asyncio.Future[Any]]]) -> None:
        while True:
            if queue.empty():
                self.quiet.set()
            batch = [await queue.get()]
            self.quiet.clear()
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._run_batch, [w for w, _ in batch])
            except BaseException as exc:  # cancelled while writing: tell the waiters
                for _, future in batch:
                    if not future.done():
                        future.set_exception(WriterStopped("the writer stopped"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("write batch failed")
                continue
            for (_, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _run_batch(self, writes: list[Write]) -> list[tuple[bool, Any]]:
        """All writes in one transaction; if one fails, the batch is rolled back and each write
        runs again in a transaction of its own, so the others still commit and the failing one
        fails alone. (A savepoint per write would isolate them too, but costs two statements and
        SQLAlchemy's bookkeeping on every message, to protect against something rare.)"""
        if len(writes) > 1:
            try:
                with self.db.transaction() as session:
                    results: list[tuple[bool, Any]] = [(True, write(session)) for write in writes]
            except Exception:
                log.info("a write batch of %d failed; writing them one by one", len(writes))
            else:
                self.batches += 1
                self.writes += len(writes)
                return results
        results = []
        for write in writes:
            try:
                with self.db.transaction() as session:
                    results.append((True, write(session)))
            except Exception as exc:
                results.append((False, exc))
        self.batches += len(writes)
        self.writes += len(writes)
        return results

    async def close(self) -> None:
        self.quiet.set()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None
        self.loop = None


def group_commit(endpoint: Callable[..., T]) -> Callable[..., T]:
    """Mark a write view that does its writing through the app's writer (``app.state.writer``):
    its request session is a reader (no write gate, no write lock), and changes left in it are
    handed to the writer at the end. For views an agent hits all day: a reply, say."""
    endpoint.group_commit = True  # type: ignore[attr-defined]
    return endpoint


async def get_writer(request: Request) -> BatchWriter:  # async: no thread-pool hop
    writer: BatchWriter = request.app.state.writer
    return writer


WriterDep = Annotated[BatchWriter, Depends(get_writer)]


def _detach_changes(session: Session) -> list[Any]:
    """End a group-commit view's read (giving its connection back: a view waiting for the
    writer holds none) and keep what its dependencies changed (an API token's last use)."""
    if session.new or session.deleted:
        raise RuntimeError("a group-commit view adds and deletes rows through the writer only")
    changed = [row for row in session.dirty if session.is_modified(row)]
    for row in changed:
        session.expunge(row)  # detached, it keeps the values set on it
    session.rollback()
    return changed


def hand_over(session: Session, writer: BatchWriter) -> None:
    """The end of a group-commit view: changes left in its session go through the writer."""
    changed = _detach_changes(session)
    if changed:

        def write(writer_session: Session) -> None:
            for row in changed:
                writer_session.merge(row)

        writer.run_sync(write)


def write_through(session: Session, writer: BatchWriter, write: Callable[[Session], T]) -> T:
    """In a group-commit view: run ``write`` in the writer's next batch (with what the view's
    dependencies changed), then let the view's session read again from a fresh snapshot, where
    it sees what was just written."""
    changed = _detach_changes(session)

    def combined(writer_session: Session) -> T:
        for row in changed:
            writer_session.merge(row)
        return write(writer_session)

    return writer.run_sync(combined)
