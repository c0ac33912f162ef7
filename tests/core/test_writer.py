"""Group commit: one transaction for a batch, a failing write fails alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.core.writer import BatchWriter
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


# --- group-commit views: an agent's reply joins the writer's batches ---------------------------


def test_concurrent_api_replies_commit_in_shared_batches(app, db, personas):
    """Twelve agents' replies at once, through the running app: every one is stored once and
    answered 201, the token's last use is recorded, and they took fewer commits than replies."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from sportello.accounts.models import ApiToken
    from sportello.conversations.models import Direction, Message
    from tests.api.helpers import make_token
    from tests.factories import inbound, receive

    conversation = receive(db, personas.api_channel, inbound(provider_id="gc-1")).conversation
    token = make_token(db, personas.sara, ("read", "write"))
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:  # the lifespan attaches the writer to the app's loop
        writer = app.state.writer
        before = writer.batches

        def reply(n: int) -> int:
            response = client.post(
                f"/api/v1/conversations/{conversation.id}/replies",
                json={"text": f"Risposta {n}"},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

        with ThreadPoolExecutor(12) as pool:
            ids = list(pool.map(reply, range(12)))
        batches = writer.batches - before
    assert len(set(ids)) == 12
    with db.session() as s:
        texts = s.scalars(
            select(Message.text).where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.OUTBOUND,
            )
        ).all()
        used = s.scalars(select(ApiToken.last_used_at)).all()
    assert sorted(texts) == sorted(f"Risposta {n}" for n in range(12))
    assert any(u is not None for u in used)  # changed by the dependency, written at hand-over
    assert 1 <= batches <= 12


def test_a_refused_group_commit_reply_stores_nothing(app, db, personas):
    from fastapi.testclient import TestClient

    from sportello.conversations.models import Direction, Message
    from tests.api.helpers import make_token
    from tests.factories import inbound, receive

    conversation = receive(db, personas.api_channel, inbound(provider_id="gc-2")).conversation
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara, ('read', 'write'))}"}
    with TestClient(app) as client:
        response = client.post(
            f"/api/v1/conversations/{conversation.id}/replies",
            json={"text": "   "},
            headers=headers,
        )
        other = client.post(
            "/api/v1/conversations/999999/replies", json={"text": "ciao"}, headers=headers
        )
    assert response.status_code == 422 and other.status_code == 404
    with db.session() as s:
        outbound = s.scalar(
            select(func.count()).select_from(Message).where(Message.direction == Direction.OUTBOUND)
        )
    assert outbound == 0


def test_quiet_is_cleared_while_a_batch_is_written_and_set_when_idle(db, personas):
    """The dispatcher waits on `quiet` between steps: it must be clear while writes are queued
    or being written, and set again once the queue is empty."""
    writer = BatchWriter(db)
    seen: list[bool] = []

    def probe(session: Session) -> str:
        seen.append(writer.quiet.is_set())
        return _add("Carla")(session)

    async def scenario():
        try:
            assert writer.quiet.is_set()
            await writer.run(probe)
            await asyncio.sleep(0.05)  # the loop comes back to an empty queue
            return writer.quiet.is_set()
        finally:
            await writer.close()

    assert asyncio.run(scenario()) is True
    assert seen == [False]
