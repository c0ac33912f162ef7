"""The demo shop, loaded once per run and key: the domain demo tests each need the whole demo
(40 s or more of replayed history), and most need the same one. On SQLite the loaded database is
copied aside with SQLite's backup API (full-text tables included) and copied back for the next
test that asks for the same demo; on PostgreSQL each test loads its own."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from sportello import demo
from sportello.core.db import Database

# "Today" of the shared demo: fixed, so every test that shares it sees the same history.
DEMO_NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

_copies: dict[tuple[Any, ...], tuple[sqlite3.Connection, Any]] = {}


def load_demo(db: Database, *, seed: int = 7, now: datetime = DEMO_NOW) -> Any:
    """``demo.load(db, seed=seed, now=now, force=True)``, or a copy of its result from earlier in
    the run. Returns what ``demo.load`` returned."""
    key = (seed, now, demo.CONVERSATIONS, demo.CUSTOMERS, demo.BATCH)
    if not db.is_sqlite:
        return demo.load(db, seed=seed, now=now, force=True)
    found = _copies.get(key)
    if found is not None:
        copy, logins = found
        _backup(copy, db, into_db=True)
        return logins
    logins = demo.load(db, seed=seed, now=now, force=True)
    copy = sqlite3.connect(":memory:", check_same_thread=False)
    _backup(copy, db, into_db=False)
    _copies[key] = (copy, logins)
    return logins


def _backup(copy: sqlite3.Connection, db: Database, *, into_db: bool) -> None:
    db.engine.dispose()  # no pooled connection keeps a stale page cache or an open read
    raw = db.engine.raw_connection()
    try:
        live = raw.driver_connection
        assert isinstance(live, sqlite3.Connection)
        if into_db:
            copy.backup(live)
        else:
            live.backup(copy)
    finally:
        raw.close()
    db.engine.dispose()
