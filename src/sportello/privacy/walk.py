"""Everything the database holds about some customers (or some conversations), found by
following foreign keys from the metadata, so that a table another domain adds later (orders,
campaign consents, call records) is exported and erased without a change here.

A row belongs to the subject when one of its foreign keys that is not ``ON DELETE SET NULL``
points at a row that belongs (a conversation of the customer, a message of that
conversation, an answer to its survey, ...). Foreign keys with SET NULL only refer to the row
(a survey's queue, a raw mail's message); they are cleared on erasure, except the few listed in
``OWNED_THROUGH_SET_NULL`` (the raw mail of an erased message is the same personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Column, Table, delete, select, update
from sqlalchemy.orm import Session

from sportello.core.db import Base

# Never part of a customer's data: the audit log keeps that things happened (it names
# customers by number only), and the job queue holds no customer rows of its own.
EXCLUDED = frozenset({"audit_entry", "job", "outbox_event"})
OWNED_THROUGH_SET_NULL = frozenset({("email_raw", "conversation_message_id")})
# Derived copies, rebuilt from the rows above: erased with them, not exported.
DERIVED = frozenset({"kb_message_search"})
CHUNK = 500


def _chunks(ids: Iterable[object]) -> Iterator[list[object]]:
    batch: list[object] = []
    for value in ids:
        batch.append(value)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Subject:
    """Rows by table: ``ids`` for tables with a one-column key, ``links`` for the rest
    (association tables: deleted by the foreign key column)."""

    ids: dict[str, set[object]] = field(default_factory=dict)
    links: list[tuple[Table, Column[object], str]] = field(default_factory=list)

    def count(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in self.ids.items() if ids}


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in EXCLUDED]


def _owning_fks(table: Table) -> Iterator[tuple[Column[object], str]]:
    for fk in table.foreign_keys:
        parent = fk.column.table.name
        if parent == table.name:
            continue
        set_null = bool(fk.ondelete) and str(fk.ondelete).upper() == "SET NULL"
        if set_null and (table.name, fk.parent.name) not in OWNED_THROUGH_SET_NULL:
            continue
        yield fk.parent, parent


def collect(session: Session, *, root: str, ids: Iterable[int]) -> Subject:
    """Every row that belongs to the rows ``ids`` of table ``root`` (``customer`` or
    ``conversation``); parents come before children (the metadata's order)."""
    subject = Subject(ids={root: set(ids)})
    if root == "customer":  # a merged customer's tombstones are the same person
        customer = Base.metadata.tables["customer"]
        frontier = set(subject.ids["customer"])
        while frontier:
            found: set[object] = set()
            for batch in _chunks(frontier):
                found |= set(
                    session.scalars(
                        select(customer.c.id).where(customer.c.merged_into_id.in_(batch))
                    )
                )
            frontier = found - subject.ids["customer"]
            subject.ids["customer"] |= frontier
    for table in _tables():
        if table.name == root:
            continue
        keys = list(table.primary_key.columns)
        for column, parent in _owning_fks(table):
            owners = subject.ids.get(parent)
            if not owners:
                continue
            if len(keys) != 1:
                subject.links.append((table, column, parent))
                continue
            rows = subject.ids.setdefault(table.name, set())
            for batch in _chunks(owners):
                rows |= set(session.scalars(select(keys[0]).where(column.in_(batch))))
    return subject


def rows(session: Session, subject: Subject) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """(table, rows as dicts) for every table with rows of the subject, parents first."""
    for table in Base.metadata.sorted_tables:
        if table.name in DERIVED:
            continue
        found: list[dict[str, object]] = []
        wanted = subject.ids.get(table.name)
        if wanted:
            key = next(iter(table.primary_key.columns))
            for batch in _chunks(sorted(wanted, key=str)):
                found += [
                    dict(r._mapping) for r in session.execute(select(table).where(key.in_(batch)))
                ]
        for link_table, column, parent in subject.links:
            if link_table is table and subject.ids.get(parent):
                for batch in _chunks(subject.ids[parent]):
                    found += [
                        dict(r._mapping)
                        for r in session.execute(select(table).where(column.in_(batch)))
                    ]
        if found:
            yield table.name, found


def erase(session: Session, subject: Subject) -> dict[str, int]:
    """Delete the subject's rows, children first; clear the SET NULL references other rows
    hold to them. Returns the rows deleted per table."""
    counts: dict[str, int] = {}
    tables = list(reversed(Base.metadata.sorted_tables))
    for table in tables:
        if table.name in EXCLUDED:
            continue
        for fk in table.foreign_keys:
            parent_ids = subject.ids.get(fk.column.table.name)
            if not parent_ids or not fk.parent.nullable or fk.column.table.name == table.name:
                continue
            if fk.ondelete and fk.ondelete.upper() == "SET NULL":
                for batch in _chunks(parent_ids):
                    session.execute(
                        update(table).where(fk.parent.in_(batch)).values({fk.parent.name: None})
                    )
        for link_table, column, parent in subject.links:
            if link_table is table:
                for batch in _chunks(subject.ids.get(parent, ())):
                    session.execute(delete(table).where(column.in_(batch)))
        wanted = subject.ids.get(table.name)
        if wanted:
            key = next(iter(table.primary_key.columns))
            if table.name == "customer":  # tombstones point at each other: unlink first
                for batch in _chunks(wanted):
                    session.execute(update(table).where(key.in_(batch)).values(merged_into_id=None))
            deleted = 0
            for batch in _chunks(wanted):
                result = session.execute(delete(table).where(key.in_(batch)))
                deleted += int(getattr(result, "rowcount", 0) or 0)
            counts[table.name] = deleted
    return counts
