"""The widget sockets' group commit: one transaction for a batch, a failing write fails alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.channels.chat.writer import BatchWriter
from sportello.customers.models import Customer


def _add(name: str):
    def write(session: Session) -> str:
        session.add(Customer(name=name))
        session.flush()
        return name

    return write


def _broken(session: Session) -> str:
    session.add(Customer(name="half-written"))
    session.flush()
    raise ValueError("this write is refused")


def _names(db) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Customer.name)))


async def _together(writer: BatchWriter, *writes):
    # queued before the writer runs: they form one batch
    return await asyncio.gather(*(writer.run(w) for w in writes), return_exceptions=True)


def test_a_batch_commits_together_and_a_failing_write_fails_alone(db, personas):
    writer = BatchWriter(db)

    async def scenario():
        try:
            return await _together(writer, _add("Anna"), _broken, _add("Bruno"))
        finally:
            await writer.close()

    results = asyncio.run(scenario())
    assert results[0] == "Anna" and results[2] == "Bruno"
    assert isinstance(results[1], ValueError)
    names = _names(db)
    assert "Anna" in names and "Bruno" in names
    assert "half-written" not in names  # nothing of the failing write is stored


def test_a_clean_batch_is_one_transaction(db, personas):
    writer = BatchWriter(db)

    async def scenario():
        try:
            return await _together(writer, *(_add(f"Cliente {i}") for i in range(5)))
        finally:
            await writer.close()

    before = writer.batches
    assert asyncio.run(scenario()) == [f"Cliente {i}" for i in range(5)]
    assert writer.batches - before == 1 and writer.writes == 5
    with db.session() as s:
        count = s.scalar(
            select(func.count()).select_from(Customer).where(Customer.name.like("Cliente %"))
        )
    assert count == 5


@pytest.mark.parametrize("size", [1, 2])
def test_small_batches_report_errors_too(db, personas, size):
    writer = BatchWriter(db)

    async def scenario():
        try:
            return await _together(writer, *([_broken] * size))
        finally:
            await writer.close()

    assert all(isinstance(r, ValueError) for r in asyncio.run(scenario()))
    assert "half-written" not in _names(db)
