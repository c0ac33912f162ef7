"""Group commit for the widget sockets' writes.

Every socket's write (a visitor message through the one door, a delivered or read mark, a page
change) is queued here; one thread takes what is waiting and runs it in ONE transaction; when a
write fails, the batch is replayed one write per transaction, so the failing write fails alone and
the others still commit (a batch is small, so the write lock is never held long). On
SQLite this replaces a crowd of threads fighting for the write lock (whose busy handler sleeps in
steps of milliseconds) with one writer and one commit per batch; on PostgreSQL it turns N commits
into one. Nothing is acknowledged to a widget before its batch committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from sportello.core.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = Callable[[Session], Any]


class BatchWriter:
    def __init__(self, db: Database, *, max_batch: int = 200) -> None:
        self.db = db
        self.max_batch = max_batch
        self.queue: asyncio.Queue[tuple[Write, asyncio.Future[Any]]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0

    async def run(self, write: Callable[[Session], T]) -> T:
        if self.queue is None or self.task is None or self.task.done():
            self.queue = asyncio.Queue()
            self.task = asyncio.create_task(self._loop(self.queue))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((write, future))
        return await future

    async def _loop(self, queue: asyncio.Queue[tuple[Write, asyncio.Future[Any]]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._run_batch, [w for w, _ in batch])
            except BaseException as exc:  # cancelled while writing: tell the waiters
                for _, future in batch:
                    if not future.done():
                        future.set_exception(RuntimeError("the chat writer stopped"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("chat batch failed")
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
                log.info("a chat batch of %d failed; writing them one by one", len(writes))
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
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None
