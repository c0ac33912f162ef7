"""Database plumbing: declarative Base, engines for SQLite and PostgreSQL, request sessions."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Engine, MetaData, Table, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


# A session that replays history (the demo loader) sets these in ``session.info``: a clock that
# Core writes stamp their rows with, and that outgoing messages were delivered long ago.
SESSION_CLOCK = "clock"
SESSION_HISTORY = "history"


def session_now(session: Any) -> datetime:
    """The time a write in ``session`` happens: now, or the replayed moment (SESSION_CLOCK)."""
    clock = session.info.get(SESSION_CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, typed as one (``__table__`` is typed as any FromClause), for the
    Core statements of the hot paths."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front: a deferred transaction that reads
        # and then writes would fail with SQLITE_BUSY_SNAPSHOT under concurrency.
        # Straight on the driver: through exec_driver_sql this cost ~100 µs of Python, paid by
        # every transaction of the process (the chat writer runs hundreds a second).
        driver = conn.connection.driver_connection
        assert driver is not None
        if conn.get_execution_options().get("sqlite_immediate"):
            driver.execute("BEGIN IMMEDIATE")
        else:
            driver.execute("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if "poolclass" not in kwargs and ":memory:" not in url:
            # More than the request thread pool's 40 threads: requests waiting in the pool must
            # not starve the writer, the dispatcher and the widget sockets' reads of connections.
            kwargs.update(pool_size=20, max_overflow=60)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        _sqlite_setup(engine)
        return engine
    if "poolclass" not in kwargs:
        kwargs.update(pool_size=20, max_overflow=60)  # as for SQLite: above the 40 threads
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if engine.dialect.driver == "psycopg":
        _postgres_setup(engine)
    return engine


def _postgres_setup(engine: Engine) -> None:
    """PostgreSQL refuses a NUL character in text ("text fields cannot contain NUL"), so one in a
    customer's message, a name or a search would end the request with a 500 (and a provider's
    webhook would be retried until the message is dropped). NUL has no meaning in any of our
    text: every string bound on a PostgreSQL connection goes without it, ORM and prepared
    statements alike. SQLite stores it as it is."""
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    class NulFreeBinary(StrBinaryDumper):
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "") if "\x00" in obj else obj)

    class NulFreeText(StrDumperUnknown):
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "") if "\x00" in obj else obj)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The last one registered is psycopg's choice for str: text, as by default.
        dbapi_connection.adapters.register_dumper(str, NulFreeBinary)
        dbapi_connection.adapters.register_dumper(str, NulFreeText)


class Database:
    """One engine and its session factory; an app and its workers share one."""

    def __init__(self, url: str, *, process_lock: bool = False, **engine_kwargs: Any) -> None:
        """``process_lock``: other processes write to this SQLite file all the time (`serve
        --no-workers` beside `sportello worker`): queue their writers on a lock file too."""
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue on a Python lock, and
        # with process_lock the processes sharing the file on an flock(2) lock file: both let
        # the next writer in within a millisecond or two, where SQLite's busy handler sleeps in
        # steps of up to 100 ms and lets a busy process starve the other. (Not by default: each
        # flock call hands the GIL over, which a single busy process pays for.)
        self.write_lock: WriteLock | None = (
            WriteLock(_lock_file_for(url) if process_lock else None) if self.is_sqlite else None
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def session(self, *, write: bool = False) -> Session:
        """``write``: a write transaction from the start (BEGIN IMMEDIATE and the write lock on
        SQLite: a transaction that read first and wrote later could act on stale reads)."""
        session = self.sessionmaker()
        if write:
            if self.write_lock is not None:
                _take_write_lock(session, self.write_lock)
            try:
                begin_write(session)
            except BaseException:
                session.close()  # ends the transaction, which releases the lock
                lock = session.info.pop("write_lock", None)
                if lock is not None:
                    lock.release()
                raise
        return session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction that commits on success and rolls back on any error."""
        session = self.session(write=True)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_lock is not None:
            self.write_lock.close()


WRITE_LOCK_WAIT = 10.0


def _lock_file_for(url: str) -> str | None:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or ":memory:" in url or not url.startswith("sqlite:///"):
        return None
    return f"{path}.writelock"


class FairLock:
    """A thread lock handed over in arrival order. ``threading.Lock`` is not fair: a thread that
    releases and acquires again in a loop (the chat's group-commit writer, the dispatcher) wins
    nearly every race against a thread woken from its wait, and a console request starved for
    seconds behind it. Here ``release`` passes the lock straight to the oldest waiter."""

    __slots__ = ("_locked", "_mutex", "_waiters")

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._locked = False

    def acquire(self, timeout: float = -1) -> bool:
        with self._mutex:
            if not self._locked:
                self._locked = True
                return True
            ticket = threading.Lock()
            ticket.acquire()
            self._waiters.append(ticket)
        if ticket.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            try:
                self._waiters.remove(ticket)
            except ValueError:
                return True  # handed over while the wait was timing out: it is ours
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # the lock stays taken, by the next in line
            else:
                self._locked = False


class WriteLock:
    """The database's writer lock: a fair thread lock, plus an exclusive flock(2) on a file
    beside the database when it is a file (released by the kernel if the process dies)."""

    def __init__(self, path: str | None) -> None:
        self._thread_lock = FairLock()
        self._path = path
        self._fd: int | None = None

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def acquire(self, timeout: float) -> bool:
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        try:
            fd = self._file()
            if fd is not None:
                _flock(fd, timeout)
        except BaseException:
            self._thread_lock.release()
            raise
        return True

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _flock(fd: int, timeout: float) -> None:
    """Exclusive flock. A blocked writer sleeps in the kernel, which wakes it the moment the
    other process unlocks: polling would lose every race to a busy process that unlocks and
    locks again within a millisecond, and SQLite's busy handler sleeps up to 100 ms a try.
    No timeout (flock has none; the kernel frees the lock of a process that dies)."""
    fcntl.flock(fd, fcntl.LOCK_EX)


def _take_write_lock(session: Session, lock: WriteLock) -> None:
    # After the wait, go on without it: SQLite's own locking still keeps the data safe.
    try:
        taken = lock.acquire(timeout=WRITE_LOCK_WAIT)
    except TimeoutError:
        taken = False
    if taken:
        session.info["write_lock"] = lock


@event.listens_for(Session, "after_transaction_end")
def _release_write_lock(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        lock = session.info.pop("write_lock", None)
        if lock is not None:
            lock.release()


def begin_write(session: Session) -> None:
    """Mark the session's next transaction as a writer (BEGIN IMMEDIATE on SQLite)."""
    session.connection(execution_options={"sqlite_immediate": True})


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_GATE = 1


async def sqlite_write_gate(request: Request) -> AsyncIterator[None]:
    """On SQLite, let one writing request at a time into the thread pool; the others wait here,
    in the event loop, holding no thread. Without it, dozens of pool threads block on the write
    lock and the one request holding it can starve for a thread to finish on."""
    db = get_database(request)
    if not db.is_sqlite or request.method in SAFE_METHODS or _group_commit(request):
        yield
        return
    gate: asyncio.Semaphore | None = getattr(request.app.state, "sqlite_write_gate", None)
    if gate is None:
        gate = request.app.state.sqlite_write_gate = asyncio.Semaphore(WRITE_GATE)
    async with gate:
        yield


def get_session(
    request: Request, _gate: Annotated[None, Depends(sqlite_write_gate, scope="function")]
) -> Iterator[Session]:
    """The request owns the transaction: commit after the view, roll back on any error.

    A view marked ``core.writer.group_commit`` gets a reading session instead, and writes
    through the app's writer; changes left in its session are handed to the writer at the end."""
    db = get_database(request)
    group_commit = _group_commit(request)
    session = db.session(write=request.method not in SAFE_METHODS and not group_commit)
    if group_commit:
        session.info["group_commit"] = True
        session.autoflush = False  # a reader: what its dependencies change waits for hand_over
    try:
        yield session
        if group_commit:
            from sportello.core.writer import hand_over

            hand_over(session, request.app.state.writer)
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _group_commit(request: Request) -> bool:
    return bool(getattr(request.scope.get("endpoint"), "group_commit", False))


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
