"""Outbox, dispatcher and jobs: at-least-once delivery, claims, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.events import (
    COPY_THRESHOLD,
    SILENCE_EVENTS,
    CustomerCreated,
    UnknownEvent,
    emit,
    emit_many,
)
from sportello.core.outbox import OutboxEvent, claim_events


def test_emit_refuses_unknown_events_and_wrong_payloads(db):
    with db.transaction() as s:
        with pytest.raises(UnknownEvent):
            emit(s, "no.such_event", CustomerCreated(customer_id=1))
        from sportello.core.events import CustomerMerged

        with pytest.raises(TypeError):
            emit(s, "customer.created", CustomerMerged(source_id=1, target_id=2, by_user_id=None))


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD + 3])
def test_emit_many_writes_each_event_once_in_order(db, count):
    """A small batch is one multi-row insert; from COPY_THRESHOLD on PostgreSQL it is a COPY."""
    seen: list[dict] = []
    with db.transaction() as s:
        with pytest.raises(TypeError):
            emit_many(s, "customer.created", [CustomerCreated(customer_id=1), object()])  # type: ignore[list-item]
        emit_many(s, "customer.created", [CustomerCreated(customer_id=i) for i in range(count)])
        emit_many(s, "customer.created", [])
    dispatcher = Dispatcher(db, name="many")
    dispatcher.add_handler(lambda _db, _name, payload: seen.append(payload))
    dispatcher.drain()
    assert seen == [{"customer_id": i} for i in range(count)]
    with db.transaction() as s:
        s.info[SILENCE_EVENTS] = True
        emit_many(s, "customer.created", [CustomerCreated(customer_id=99)] * count)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == count


def test_events_reach_handlers_once_and_are_marked_done(db):
    seen: list[tuple[str, dict]] = []
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=7))
        emit(s, "customer.created", CustomerCreated(customer_id=8))
    dispatcher = Dispatcher(db, name="t1")
    dispatcher.add_handler(lambda _db, name, payload: seen.append((name, payload)))
    dispatcher.drain()
    dispatcher.drain()
    assert seen == [
        ("customer.created", {"customer_id": 7}),
        ("customer.created", {"customer_id": 8}),
    ]
    with db.session() as s:
        assert all(e.done_at is not None for e in s.scalars(select(OutboxEvent)))


def test_two_workers_never_claim_the_same_event(db):
    with db.transaction() as s:
        for i in range(10):
            emit(s, "customer.created", CustomerCreated(customer_id=i))
    with db.transaction() as s:
        first = claim_events(s, worker="a", limit=6)
    with db.transaction() as s:
        second = claim_events(s, worker="b", limit=100)
    assert len(first) == 6 and len(second) == 4
    assert not {e.id for e in first} & {e.id for e in second}


def test_a_dead_workers_claim_expires_and_the_event_is_delivered_again(db):
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=1))
    with db.transaction() as s:
        (event,) = claim_events(s, worker="dies")
    with db.transaction() as s:  # leased: nobody else may take it yet
        assert claim_events(s, worker="too-soon") == []
    with db.transaction() as s:  # "dies" never reported back; its lease ran out long ago
        s.get_one(OutboxEvent, event.id).claimed_at = utcnow() - timedelta(minutes=5)
    seen = []
    dispatcher = Dispatcher(db, name="survivor")
    dispatcher.add_handler(lambda _db, name, payload: seen.append(payload))
    dispatcher.drain()
    assert seen == [{"customer_id": 1}]


def test_failing_handler_leaves_event_pending_for_retry(db):
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=1))
    dispatcher = Dispatcher(db, name="x")

    def broken(_db, _name, _payload):
        raise RuntimeError("boom")

    dispatcher.add_handler(broken)
    assert dispatcher.run_events_once() == 1
    with db.session() as s:
        event = s.scalars(select(OutboxEvent)).one()
        assert event.done_at is None and event.attempts == 1


def test_job_retries_with_backoff_then_fails_permanently(db):
    calls = []
    failures = []

    class Temporary(Exception):
        permanent = False

    def run(_db, payload):
        calls.append(payload["n"])
        raise Temporary("provider down")

    jobs.register_job(
        "test_flaky",
        jobs.JobKind(run=run, on_failure=lambda _db, p, err: failures.append(err), base_delay=10),
    )
    with db.transaction() as s:
        jobs.enqueue(s, "test_flaky", {"n": 1}, max_attempts=2, unique_key="flaky-1")
        jobs.enqueue(s, "test_flaky", {"n": 1}, max_attempts=2, unique_key="flaky-1")  # deduped
    dispatcher = Dispatcher(db, name="j")
    assert dispatcher.run_jobs_once() == 1
    with db.session() as s:
        job = s.scalars(select(jobs.Job)).one()
        assert job.attempts == 1 and job.failed_at is None
        wait = (job.run_at - utcnow()).total_seconds()
        assert 5 < wait <= 10
    assert dispatcher.run_jobs_once() == 0  # not due yet
    with db.transaction() as s:
        s.scalars(select(jobs.Job)).one().run_at = utcnow()
    dispatcher.run_jobs_once()
    with db.session() as s:
        job = s.scalars(select(jobs.Job)).one()
        assert job.failed_at is not None and job.error == "provider down"
    assert calls == [1, 1]
    assert failures == ["provider down"]


def test_permanent_error_fails_the_job_at_once(db):
    class Permanent(Exception):
        permanent = True

    def run(_db, _payload):
        raise Permanent("number does not exist")

    jobs.register_job("test_permanent", jobs.JobKind(run=run))
    with db.transaction() as s:
        jobs.enqueue(s, "test_permanent", {})
    Dispatcher(db).run_jobs_once()
    with db.session() as s:
        job = s.scalars(select(jobs.Job)).one()
        assert job.failed_at is not None and job.attempts == 1


def test_a_batch_handler_takes_the_whole_round_in_order(db):
    with db.transaction() as s:
        for i in range(5):
            emit(s, "customer.created", CustomerCreated(customer_id=i))
    calls: list[list[int]] = []
    dispatcher = Dispatcher(db, name="batch")
    dispatcher.add_batch_handler(
        lambda _db, batch: calls.append([payload["customer_id"] for _name, payload in batch])
    )
    dispatcher.drain()
    assert calls == [[0, 1, 2, 3, 4]]


def test_one_bad_event_in_a_batch_fails_alone(db):
    with db.transaction() as s:
        for i in range(4):
            emit(s, "customer.created", CustomerCreated(customer_id=i))
    handled: list[int] = []

    def picky(_db, batch):
        ids = [payload["customer_id"] for _name, payload in batch]
        if 2 in ids:
            raise RuntimeError("customer 2 is poison")
        handled.extend(ids)

    dispatcher = Dispatcher(db, name="picky")
    dispatcher.add_batch_handler(picky)
    assert dispatcher.run_events_once() == 4
    assert handled == [0, 1, 3]  # retried one by one after the batch failed
    with db.session() as s:
        pending = [
            e.payload["customer_id"] for e in s.scalars(select(OutboxEvent)) if e.done_at is None
        ]
    assert pending == [2]


def test_a_round_waits_for_the_writer_to_be_idle_between_steps(db, monkeypatch):
    """yield_to: each step of a round (claim, each handler, mark done) starts only once the
    writer is quiet, or after YIELD_WAIT if it stays busy."""
    import threading
    import time

    from sportello.core import dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "YIELD_WAIT", 5.0)
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=1))
    quiet = threading.Event()  # the writer is busy
    handled_at: list[float] = []
    dispatcher = Dispatcher(db, name="polite")
    dispatcher.add_handler(lambda _db, _name, _payload: handled_at.append(time.monotonic()))
    dispatcher.yield_to(quiet)
    round_ = threading.Thread(target=dispatcher.run_events_once)
    round_.start()
    time.sleep(0.3)
    assert handled_at == []  # still waiting for the writer
    released = time.monotonic()
    quiet.set()
    round_.join(timeout=5)
    assert len(handled_at) == 1 and handled_at[0] >= released

    # A writer that never goes quiet delays a round by at most YIELD_WAIT a step.
    monkeypatch.setattr(dispatcher_module, "YIELD_WAIT", 0.05)
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=2))
    quiet.clear()
    started = time.monotonic()
    assert dispatcher.run_events_once() == 1
    assert len(handled_at) == 2 and time.monotonic() - started < 2


def test_a_dead_dispatchers_events_are_claimed_again_within_seconds(db):
    from sportello.core import outbox

    assert timedelta(seconds=15) >= outbox.LEASE  # was a minute: a crash held events that long
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=9))
    with db.transaction() as s:
        assert len(claim_events(s, worker="died")) == 1
    with db.transaction() as s:
        assert claim_events(s, worker="alive") == []  # still leased
        # ...until the lease runs out, without a renewal from the dead one
        s.execute(OutboxEvent.__table__.update().values(claimed_at=utcnow() - outbox.LEASE))
    with db.transaction() as s:
        assert [e.payload for e in claim_events(s, worker="alive")] == [{"customer_id": 9}]


def test_a_long_round_renews_its_lease_so_nobody_takes_its_events(db, monkeypatch):
    import time

    from sportello.core import outbox

    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=0.4))
    monkeypatch.setattr(outbox, "RENEW_AFTER", timedelta(seconds=0.1))
    with db.transaction() as s:
        for i in range(4):
            emit(s, "customer.created", CustomerCreated(customer_id=i))
    stolen: list[int] = []

    def slow(_db, _name, _payload):  # type: ignore[no-untyped-def]
        time.sleep(0.25)  # four of these: a round of 1 s, well past the 0.4 s lease
        with db.transaction() as s:
            stolen.extend(e.id for e in claim_events(s, worker="other"))

    dispatcher = Dispatcher(db, name="slow")
    dispatcher.add_handler(slow)
    assert dispatcher.run_events_once() == 4
    assert stolen == []
    with db.session() as s:
        assert all(e.done_at for e in s.scalars(select(OutboxEvent)))


def test_jobs_of_a_dead_dispatcher_run_elsewhere_within_a_minute(db):
    ran: list[int] = []
    jobs.register_job("test.lease", jobs.JobKind(run=lambda _db, p: ran.append(p["n"])))
    try:
        with db.transaction() as s:
            jobs.enqueue(s, "test.lease", {"n": 1})
        with db.transaction() as s:
            assert len(jobs.claim_jobs(s, worker="died")) == 1
            s.execute(
                jobs.Job.__table__.update().values(claimed_at=utcnow() - timedelta(seconds=61))
            )
        Dispatcher(db, name="alive").run_jobs_once()
        assert ran == [1]
    finally:
        jobs.JOB_KINDS.pop("test.lease", None)


def test_a_batch_handler_that_waits_gets_several_rounds_at_once(db, monkeypatch):
    """subscribe_batch(max_wait=, min_batch=): the events are held over rounds, not marked done,
    and handed over together once the first has waited max_wait or min_batch are held; drain
    hands over at once. Other handlers are not held back."""
    import time

    from sportello.core import dispatcher as dispatcher_module

    with pytest.raises(ValueError):
        dispatcher_module.subscribe_batch("customer.created", max_wait=60.0)
    calls: list[list[int]] = []
    seen: list[int] = []
    monkeypatch.setattr(dispatcher_module, "BATCH_HANDLERS", [])
    monkeypatch.setattr(dispatcher_module, "HOLDS", {})

    @dispatcher_module.subscribe_batch("customer.created", max_wait=0.3, min_batch=5)
    def slow(_db, batch):
        calls.append([payload["customer_id"] for _name, payload in batch])

    def pending() -> int:
        with db.session() as s:
            return s.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.done_at.is_(None))
            )

    dispatcher = Dispatcher(db, name="holds")
    dispatcher.add_handler(lambda _db, _name, payload: seen.append(payload["customer_id"]))
    for i in range(2):  # two rounds of two: held
        with db.transaction() as s:
            emit(s, "customer.created", CustomerCreated(customer_id=2 * i))
            emit(s, "customer.created", CustomerCreated(customer_id=2 * i + 1))
        assert dispatcher.run_events_once() == 2
    assert calls == [] and seen == [0, 1, 2, 3] and pending() == 4
    assert dispatcher.run_events_once() == 0  # nothing new, nothing due yet
    time.sleep(0.35)
    assert dispatcher.run_events_once() == 4  # due: handed over without a new event
    assert calls == [[0, 1, 2, 3]] and pending() == 0
    # min_batch: the round that brings the fifth held event hands all over
    with db.transaction() as s:
        for i in range(10, 16):
            emit(s, "customer.created", CustomerCreated(customer_id=i))
    assert dispatcher.run_events_once() == 6
    assert calls[-1] == list(range(10, 16)) and pending() == 0
    # drain does not wait
    with db.transaction() as s:
        emit(s, "customer.created", CustomerCreated(customer_id=20))
    started = time.monotonic()
    dispatcher.drain()
    assert calls[-1] == [20] and pending() == 0 and time.monotonic() - started < 0.3


def test_a_held_event_another_handler_failed_is_retried_not_held(db, monkeypatch):
    from sportello.core import dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "BATCH_HANDLERS", [])
    monkeypatch.setattr(dispatcher_module, "HOLDS", {})
    calls: list[list[int]] = []

    @dispatcher_module.subscribe_batch("customer.created", max_wait=1.0)
    def slow(_db, batch):
        calls.append([payload["customer_id"] for _name, payload in batch])

    def picky(_db, _name, payload):
        if payload["customer_id"] == 2:
            raise RuntimeError("customer 2 is poison")

    with db.transaction() as s:
        for i in range(3):
            emit(s, "customer.created", CustomerCreated(customer_id=i))
    dispatcher = Dispatcher(db, name="picky-holds")
    dispatcher.add_handler(picky)
    assert dispatcher.run_events_once() == 3
    assert dispatcher.flush_held() == 2
    assert calls == [[0, 1]]  # 2 waits for its retry, then every handler runs again
    with db.session() as s:
        pending = [
            e.payload["customer_id"] for e in s.scalars(select(OutboxEvent)) if e.done_at is None
        ]
    assert pending == [2]


def test_a_running_dispatcher_hands_held_events_over_when_due_and_when_stopping(db, monkeypatch):
    """run_forever does not wait for its next poll (nor for another event) to hand over a held
    batch that is due; stopping hands over what is still held."""
    import asyncio
    import time

    from sportello.core import dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "BATCH_HANDLERS", [])
    monkeypatch.setattr(dispatcher_module, "HOLDS", {})
    handed: list[tuple[float, list[int]]] = []

    @dispatcher_module.subscribe_batch("customer.created", max_wait=0.3)
    def slow(_db, batch):
        handed.append((time.monotonic(), [payload["customer_id"] for _name, payload in batch]))

    dispatcher = Dispatcher(db, name="running")

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop, poll_seconds=5.0))
        with db.transaction() as s:
            emit(s, "customer.created", CustomerCreated(customer_id=1))
        started = time.monotonic()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if handed:
                break
        monkeypatch.setattr(dispatcher_module, "HOLDS", {slow: (4.0, 1000)})
        with db.transaction() as s:
            emit(s, "customer.created", CustomerCreated(customer_id=2))
        await asyncio.sleep(0.5)  # claimed and held (4 s now)
        stop.set()
        dispatcher.wake()
        await asyncio.wait_for(task, 5)
        return started

    started = asyncio.run(scenario())
    assert [ids for _at, ids in handed] == [[1], [2]]
    assert 0.25 <= handed[0][0] - started < 2  # due after max_wait, not at the 5 s poll
    with db.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.done_at.is_(None))
            )
            == 0
        )
