"""Prepared statements write and read what SQLAlchemy would, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, event, insert, select

from sportello.conversations.models import Conversation, Priority, Status
from sportello.core.outbox import OutboxEvent
from sportello.core.prepared import Prepared
from sportello.customers.models import Customer
from tests import factories

C = Customer.__table__.c
INSERT_CUSTOMER = Prepared(Customer.__table__.insert().returning(C.id))
BY_ID = Prepared(select(C.id, C.name, C.notes, C.created_at).where(C.id == bindparam("id")))


def test_a_row_written_raw_reads_back_through_the_orm(db):
    rome = timezone(timedelta(hours=1))
    at = datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=rome)
    with db.transaction() as s:
        customer_id = INSERT_CUSTOMER.scalar(s, name="Anna Neri", created_at=at, updated_at=at)
    with db.session() as s:
        customer = s.get_one(Customer, customer_id)
        # The column default (notes = "") was applied; the time was stored as UTC.
        assert (customer.name, customer.notes) == ("Anna Neri", "")
        assert customer.created_at == at
        assert customer.created_at.tzinfo is not None
        row = BY_ID.first(s, id=customer_id)
    assert row.id == customer_id and row.name == "Anna Neri"
    assert row.created_at == at.astimezone(UTC)
    with db.session() as s:
        assert BY_ID.first(s, id=customer_id + 1000) is None
        assert BY_ID.all(s, id=customer_id) == [row]


def test_enums_and_json_round_trip(db, personas):
    conversation = factories.receive(
        db, personas.api_channel, factories.inbound("ciao")
    ).conversation
    thread = Prepared(
        select(Conversation.status, Conversation.priority).where(Conversation.id == bindparam("id"))
    )
    with db.session() as s:
        status, priority = thread.first(s, id=conversation.id)
    assert status is Status.NEW and priority is Priority.NORMAL
    outbox = Prepared(insert(OutboxEvent))
    with db.transaction() as s:
        outbox.execute(
            s, name="x.y", payload={"a": [1, "è"]}, created_at=datetime.now(UTC), attempts=0
        )
    with db.session() as s:
        stored = s.scalars(select(OutboxEvent).where(OutboxEvent.name == "x.y")).one()
    assert stored.payload == {"a": [1, "è"]}


def test_statement_counters_still_see_prepared_statements(db):
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement.split()[0])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as s:
            BY_ID.first(s, id=1)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert "SELECT" in seen


def test_what_it_cannot_do_fails_at_once(db):
    with db.session() as s:
        # A missing value.
        with pytest.raises(ValueError, match="has no value"):
            Prepared(select(C.id).where(C.name == bindparam("name"))).first(s)
        # An IN list (expanded at execution time by SQLAlchemy).
        with pytest.raises(ValueError, match="IN lists"):
            Prepared(select(C.id).where(C.id.in_([1, 2]))).first(s)
        # A column whose default is computed per row.
        with pytest.raises(ValueError, match="computed per row"):
            Prepared(insert(OutboxEvent)).execute(s, name="x", payload={})
