"""Hot statements executed straight on the DB-API cursor.

SQLAlchemy's Core execution costs about 100 µs of Python per statement on top of the driver's
own ~15 µs (execution context, events, parameter and result processing through generic
machinery). The one door runs six statements per message of every channel, so that overhead
was most of its cost. A ``Prepared`` statement is a Core statement compiled ONCE per dialect:
its SQL text, the order of its parameters, and the very bind and result processors SQLAlchemy
would apply, so the values stored and read are the same as through the ORM. It then runs on the
session's own DB-API connection, inside the session's transaction.

What it does not do, on purpose: Python-side column defaults (an INSERT must name every column
that has no server default: a missing one raises at compile time, not as a NULL later),
expanding ``IN`` parameters given at execution time, and ``after_cursor_execute`` events
(``before_cursor_execute`` listeners are called: statement counters and tracing still work).
Use it only for statements on a measured hot path; everything else stays ordinary Core or ORM.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any] | None


class _Compiled:
    __slots__ = ("binds", "defaults", "named", "result", "row", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=list(keys) if isinstance(statement, Insert) else None
        )
        self.sql: str = compiled.string
        if "__[POSTCOMPILE_" in self.sql:
            raise ValueError("prepared statements take no IN lists: write them as OR")
        processors: Mapping[str, Any] = compiled._bind_processors
        self.named = compiled.positiontup is None
        # Columns whose defaults SQLAlchemy computes in Python: a constant one is taken here,
        # a callable one must be given.
        column_defaults: dict[str, Any] = {}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            if column.key in keys:
                continue
            default = column.default if compiled.isinsert else column.onupdate
            if default is None or not default.is_scalar:
                raise ValueError(f"give {column.key!r}: its default is computed per row")
            column_defaults[column.key] = default.arg
        bind_names: dict[Any, str] = compiled.bind_names
        names = list(bind_names.values()) if self.named else list(compiled.positiontup or ())
        # Parameters the statement carries itself (literal OR lists, `count + 1`): their values.
        self.defaults: dict[str, Any] = {}
        for bind, name in bind_names.items():
            if bind.callable is not None:
                raise ValueError(f"prepared statements take no callable defaults ({name})")
            if name in column_defaults:
                self.defaults[name] = column_defaults[name]
            elif name not in keys:
                if bind.required:
                    raise ValueError(
                        f"{name!r} has no value: give it, or use an ordinary statement"
                        " (column defaults are not applied here)"
                    )
                self.defaults[name] = bind.effective_value
        self.binds: list[tuple[str, Processor]] = [(n, processors.get(n)) for n in names]
        columns = compiled._result_columns or []
        self.result: list[Processor] = [
            col[3]._cached_result_processor(dialect, None) for col in columns
        ]
        fields = [col[0] for col in columns]
        self.row: Any = namedtuple("Row", fields, rename=True)  # type: ignore[misc]


class Prepared:
    """A Core statement run on the raw driver: ``Prepared(stmt).execute(session, a=1, b=2)``. It
    compiles for the names the call gives (an INSERT writes exactly those columns), once per
    dialect and set of names."""

    __slots__ = ("_compiled_for", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled_for: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def _compiled(self, dialect: Dialect, keys: frozenset[str]) -> _Compiled:
        found = self._compiled_for.get((dialect.name, keys))
        if found is None:
            found = _Compiled(self.statement, dialect, sorted(keys))
            self._compiled_for[(dialect.name, keys)] = found
        return found

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        compiled = self._compiled(conn.dialect, frozenset(params))
        if compiled.defaults:
            params = {**compiled.defaults, **params}
        if compiled.named:
            values: Any = {n: (p(params[n]) if p else params[n]) for n, p in compiled.binds}
        else:
            values = [p(params[n]) if p else params[n] for n, p in compiled.binds]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if conn._has_events or conn.engine._has_events:
            # Instrumentation (statement counters in tests, tracing) still sees the statement.
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, compiled.sql, values, None, False)
        cursor.execute(compiled.sql, values)
        return compiled, cursor

    def _convert(self, compiled: _Compiled, raw: Sequence[Any]) -> Any:
        return compiled.row._make(
            [p(v) if p else v for p, v in zip(compiled.result, raw, strict=True)]
        )

    def execute(self, session: Session | Connection, **params: Any) -> int:
        """Run a statement whose rows nobody reads; returns how many rows it changed."""
        cursor = self._run(_connection(session), params)[1]
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def first(self, session: Session | Connection, **params: Any) -> Any:
        """The first row (a named tuple, values as SQLAlchemy gives them), or None."""
        compiled, cursor = self._run(_connection(session), params)
        try:
            raw = cursor.fetchone()
        finally:
            cursor.close()
        return None if raw is None else self._convert(compiled, raw)

    def all(self, session: Session | Connection, **params: Any) -> list[Any]:
        compiled, cursor = self._run(_connection(session), params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [self._convert(compiled, raw) for raw in rows]

    def scalar(self, session: Session | Connection, **params: Any) -> Any:
        """The first column of the first row (an INSERT's RETURNING id, say), or None."""
        row = self.first(session, **params)
        return None if row is None else row[0]


def _connection(session: Session | Connection) -> Connection:
    return session if isinstance(session, Connection) else session.connection()
