"""The aggregates follow the real actions through the dispatcher: hand-counted totals, replayed
events, rebuild equal to the incremental upkeep, merged customers, deleted agents, surveys."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from sportello.accounts.models import User
from sportello.conversations.models import Conversation, Status
from sportello.core.db import utcnow
from sportello.core.outbox import OutboxEvent
from sportello.customers import actions as customers_actions
from sportello.customers.models import Customer
from sportello.reports import actions, handlers, upkeep
from sportello.reports.models import ReportFact
from tests.reports.world import (
    assign,
    contact,
    drain,
    interval_rows,
    reply,
    report_for,
    status,
    totals,
)


def _backdate(db, conversation_id, minutes):
    with db.transaction() as s:
        s.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=utcnow() - timedelta(minutes=minutes))
        )


def test_totals_follow_the_actions_and_replays_change_nothing(db, personas):
    ch = personas.api_channel
    c1 = contact(db, ch, "mario@example.it")
    assign(db, c1, personas.sara)
    reply(db, c1, personas.sara)
    status(db, c1, Status.RESOLVED)
    c2 = contact(db, ch, "anna@example.it")
    _backdate(db, c2, 5)  # waited five minutes, then gave up
    status(db, c2, Status.CLOSED)
    c3 = contact(db, ch, "luigi@example.it")  # gave up at once: a short abandon
    status(db, c3, Status.CLOSED)
    c4 = contact(db, ch, "piera@example.it")
    assign(db, c4, personas.sara)
    assign(db, c4, personas.luca)  # a transfer
    reply(db, c4, personas.luca)
    status(db, c4, Status.RESOLVED)
    status(db, c4, Status.OPEN)  # reopened
    reply(db, c4, personas.luca, "Riprovo")
    status(db, c4, Status.RESOLVED)
    status(db, c1, Status.CLOSED)
    contact(db, ch, "mario@example.it", "Ancora io")  # a new contact: c1 is no FCR
    drain(db)

    t = totals(db)
    assert t["offered"] == 5
    assert t["answered"] == 2
    assert t["abandoned"] == 2 and t["abandoned_short"] == 1
    assert t["transfers"] == 1
    assert t["resolved"] == 2 and t["handled"] == 2
    assert t["reopened"] == 1
    assert t["fcr"] == 0
    assert t["messages_in"] == 5 and t["messages_out"] == 3

    # the same events once more (delivery is at least once): nothing changes
    before = interval_rows(db)
    with db.session() as s:
        delivered = [
            (e.name, e.payload) for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]
    mine = [e for e in delivered if e[0] in handlers.UPKEEP_EVENTS]
    handlers.upkeep_handler(db, mine)  # all at once
    for event in mine:  # and one by one
        handlers.upkeep_handler(db, [event])
    assert interval_rows(db) == before

    # a rebuild from the raw tables gives the same table
    with db.transaction() as s:
        assert upkeep.rebuild(s) == 5
    assert interval_rows(db) == before

    rep = report_for(db, personas.admin)
    k = rep.totals.kpis
    assert k["volume"] == 4  # the short abandon is excluded
    assert k["abandonment_rate"] == 1 / 4
    assert k["reopen_rate"] == 1 / 2
    assert k["fcr"] == 0
    assert k["transfer_rate"] == 1 / 2


def test_merging_customers_ends_first_contact_resolution(db, personas):
    ch = personas.api_channel
    c1 = contact(db, ch, "mario@example.it")
    reply(db, c1, personas.sara)
    status(db, c1, Status.RESOLVED)
    contact(db, ch, "mario.rossi@lavoro.it", "Sono Mario, scrivo dall'ufficio")
    drain(db)
    assert totals(db)["fcr"] == 1  # two different customers so far
    with db.transaction() as s:
        ids = dict(s.execute(select(Conversation.id, Conversation.customer_id)).all())
        source = s.get_one(Customer, ids[max(ids)])
        target = s.get_one(Customer, ids[c1])
        customers_actions.do_merge_customers(s, source=source, target=target, by=None)
    drain(db)
    assert totals(db)["fcr"] == 0
    assert totals(db)["resolved"] == 1


def test_a_deleted_agents_history_stays_in_the_totals(db, personas):
    ch = personas.api_channel
    c1 = contact(db, ch, "mario@example.it")
    assign(db, c1, personas.luca)
    reply(db, c1, personas.luca)
    status(db, c1, Status.RESOLVED)
    drain(db)
    before = totals(db)
    with db.transaction() as s:
        s.execute(delete(User).where(User.id == personas.luca.id))
    rep = report_for(db, personas.admin, group="agent")
    assert totals(db) == before
    rows = {r.key: r for r in rep.rows}
    assert rows[personas.luca.id].label == f"Operatore eliminato #{personas.luca.id}"
    assert rows[personas.luca.id].sums["resolved"] == 1
    # a later change of the conversation moves it to "no agent"; the totals stay
    status(db, c1, Status.CLOSED)
    drain(db)
    assert totals(db)["resolved"] == 1 and totals(db)["answered"] == 1


def test_survey_answers_count_once_each(db, personas):
    at = utcnow().isoformat()
    answers = [
        {
            "response_id": 1,
            "survey_kind": "csat",
            "score": 5,
            "answered_at": at,
            "agent_id": personas.sara.id,
        },
        {
            "response_id": 2,
            "survey_kind": "csat",
            "score": 2,
            "answered_at": at,
            "agent_id": personas.sara.id,
        },
        {"response_id": 3, "survey_kind": "nps", "score": 10, "answered_at": at},
        {"response_id": 4, "survey_kind": "nps", "score": 9, "answered_at": at},
        {"response_id": 5, "survey_kind": "nps", "score": 3, "answered_at": at},
        {"response_id": 6, "survey_kind": "nps", "score": 7, "answered_at": at},
        {"response_id": 7, "survey_kind": "ces", "score": 6, "answered_at": at},
    ]
    with db.transaction() as s:
        assert actions.do_record_survey_answers(s, answers=answers) == 7
    with db.transaction() as s:  # replayed
        assert actions.do_record_survey_answers(s, answers=answers[:3]) == 0
    handlers.survey_handler(db, [("survey.answered", a) for a in answers])
    k = report_for(db, personas.admin).totals.kpis
    assert k["csat"] == 0.5 and k["csat_avg"] == 3.5 and k["csat_n"] == 2
    assert k["nps"] == 100 * (2 - 1) / 4
    assert k["ces"] == 6
    # an agent sees their own answers only
    mine = report_for(db, personas.sara).totals.kpis
    assert mine["csat_n"] == 2 and mine["nps_n"] == 0
    with db.session() as s:
        assert s.scalar(select(ReportFact).limit(1)) is None  # surveys make no facts


def test_messages_in_an_open_conversation_are_counted_once_each(db, personas):
    ch = personas.api_channel
    cid = contact(db, ch, "mario@example.it")
    drain(db)
    for text in ("Ci siete?", "Ho un problema con l'ordine", "Grazie"):
        contact(db, ch, "mario@example.it", text)
    reply(db, cid, personas.sara)  # the first response: recomputed, not just counted
    drain(db)
    contact(db, ch, "mario@example.it", "Perfetto")  # the fast path: counted by message id
    drain(db)
    t = totals(db)
    assert (t["messages_in"], t["messages_out"], t["responded"]) == (5, 1, 1)
    before = interval_rows(db)
    with db.session() as s:
        delivered = [
            (e.name, e.payload) for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]
        fact = s.get_one(ReportFact, cid)
        assert fact.messages_in == 5 and fact.last_message_id > 0
    handlers.upkeep_handler(db, [e for e in delivered if e[0].startswith("message.")])
    assert interval_rows(db) == before
    with db.transaction() as s:
        upkeep.rebuild(s)
    assert interval_rows(db) == before


def test_a_write_goes_through_during_a_chunked_rebuild(db, personas):
    """The rebuild holds the write lock one chunk at a time: between two chunks a customer's
    message is stored (in another thread, while the rebuild waits for it), and after the
    rebuild and the message's upkeep the totals are those of a rebuild from scratch."""
    import threading

    from sportello.reports import upkeep

    ch = personas.api_channel
    for k in range(4):
        c = contact(db, ch, f"cliente{k}@example.it")
        assign(db, c, personas.sara)
        reply(db, c, personas.sara)
    drain(db)
    written: list[int] = []
    failed: list[BaseException] = []

    def write() -> None:
        try:
            written.append(contact(db, ch, "nuovo@example.it", "Scrivo durante la ricostruzione"))
        except BaseException as exc:
            failed.append(exc)

    chunks: list[int] = []

    def after_chunk(total: int) -> None:
        chunks.append(total)
        if len(chunks) == 2:
            writer = threading.Thread(target=write)
            writer.start()
            writer.join(timeout=20)
            assert not writer.is_alive(), "the write waited for the whole rebuild"

    # the new conversation (a higher id) is rebuilt by a later chunk too
    assert upkeep.rebuild_in_chunks(db, batch=1, on_chunk=after_chunk) == 5
    assert not failed and len(written) == 1 and chunks == [1, 2, 3, 4, 5]
    drain(db)  # the new message's upkeep
    incremental = interval_rows(db)
    with db.transaction() as s:
        assert upkeep.rebuild(s) == 5
    assert interval_rows(db) == incremental
    assert totals(db)["offered"] == 5
