"""Rules on a real database through the real dispatcher: a trigger on an inbound message, the
periodic sweep escalating a conversation whose SLA is about to breach, "pending for 3 days →
remind, then close", loop protection, the dry run, the API and the admin page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from sportello.accounts.models import User
from sportello.automation import actions, handlers
from sportello.automation.models import Rule, RuleRun
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Direction, Message, Priority, Status
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.jobs import Job
from sportello.routing import sla
from tests.api.helpers import make_token
from tests.factories import csrf_from, inbound, login, receive


def drain(db) -> None:  # type: ignore[no-untyped-def]
    Dispatcher(db, name="test").drain()


def rule(db, personas, **fields):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        made = actions.do_save_rule(s, brand_id=personas.brand_id, rule=None, **fields)
        return made.id


def sweep_now(db) -> None:  # type: ignore[no-untyped-def]
    """Run the periodic sweep job now, as the dispatcher would when it falls due."""
    handlers.ensure_sweep(db)
    with db.transaction() as s:
        s.execute(
            update(Job)
            .where(Job.kind == handlers.SWEEP_JOB, Job.done_at.is_(None))
            .values(run_at=utcnow())
        )
    drain(db)


def test_trigger_on_a_complaint(db, personas):  # type: ignore[no-untyped-def]
    rule_id = rule(
        db,
        personas,
        name="Reclami",
        kind="event",
        events=["message.received"],
        conditions=[
            {"field": "text", "op": "matches", "value": r"\b(rimborso|reclamo)\b"},
            {"field": "channel", "op": "is", "value": "api"},
        ],
        actions=[
            {"action": "set_priority", "value": "high"},
            {"action": "add_tag", "value": "reclamo"},
            {"action": "assign_queue", "value": str(personas.queue_vendite.id)},
            {"action": "note", "value": "Reclamo: rispondere entro oggi."},
        ],
    )
    hit = receive(db, personas.api_channel, inbound("Voglio un rimborso subito"))
    miss = receive(db, personas.api_channel, inbound("Grazie mille", email="b@example.it"))
    drain(db)
    with db.session() as s:
        c = s.get(Conversation, hit.conversation.id)
        assert c is not None
        assert c.priority == Priority.HIGH and [t.name for t in c.tags] == ["reclamo"]
        assert c.queue_id == personas.queue_vendite.id
        note = s.scalars(
            select(Message).where(
                Message.conversation_id == c.id, Message.direction == Direction.NOTE
            )
        ).one()
        assert note.text.startswith("Reclamo")
        other = s.get(Conversation, miss.conversation.id)
        assert other is not None and other.priority == Priority.NORMAL
        runs = s.scalars(select(RuleRun)).all()
        assert [(r.rule_id, r.conversation_id, r.trigger) for r in runs] == [
            (rule_id, c.id, "message.received")
        ]
        assert "priority → high" in runs[0].done


def test_sweep_escalates_a_conversation_whose_sla_is_about_to_breach(db, personas):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Prima risposta in un'ora",
            first_response_seconds=3600,
            escalate_priority=False,
        )
    rule_id = rule(
        db,
        personas,
        name="SLA in scadenza",
        kind="time",
        events=[],
        conditions=[
            {"field": "sla_minutes_left", "op": "lt", "value": "30"},
            {"field": "priority", "op": "is_not", "value": "urgent"},
        ],
        actions=[
            {"action": "set_priority", "value": "urgent"},
            {"action": "assign_agent", "value": str(personas.supervisor.id)},
            {"action": "notify", "value": "assignee"},
        ],
    )
    result = receive(db, personas.api_channel, inbound("Il pacco è danneggiato"))
    drain(db)
    sweep_now(db)  # an hour to go: nothing to do
    with db.session() as s:
        assert s.get(Conversation, result.conversation.id).priority == Priority.NORMAL  # type: ignore[union-attr]
    from sportello.routing.models import SlaClockRow

    with db.transaction() as s:  # 40 minutes later: 20 minutes left
        s.execute(
            update(SlaClockRow)
            .where(SlaClockRow.conversation_id == result.conversation.id)
            .values(due_at=utcnow() + timedelta(minutes=20))
        )
    sweep_now(db)
    sweep_now(db)  # the next sweep does not act again
    with db.session() as s:
        c = s.get(Conversation, result.conversation.id)
        assert c is not None and c.priority == Priority.URGENT
        assert c.assignee_id == personas.supervisor.id
        runs = s.scalars(select(RuleRun).where(RuleRun.rule_id == rule_id)).all()
        assert len(runs) == 1 and runs[0].trigger == "time"
        from sportello.core.outbox import OutboxEvent

        notice = s.scalars(select(OutboxEvent).where(OutboxEvent.name == "automation.notice")).one()
        assert notice.payload["user_id"] == personas.supervisor.id


def test_pending_three_days_remind_then_close(db, personas):  # type: ignore[no-untyped-def]
    from sportello.replies import actions as replies_actions

    with db.transaction() as s:
        admin = s.get(User, personas.admin.id)
        reply = replies_actions.do_create_reply(
            s,
            brand_id=personas.brand_id,
            by=admin,
            title="Promemoria",
            shortcut="promemoria",
            body="Gentile {{cliente.nome}}, ci servono ancora le sue informazioni.",
            shared=True,
        )
        reply_id = reply.id
    pending = [{"field": "status", "op": "is", "value": "pending"}]
    rule(
        db,
        personas,
        name="Promemoria",
        kind="time",
        events=[],
        conditions=[*pending, {"field": "hours_since_update", "op": "gt", "value": "72"}],
        actions=[{"action": "reply", "value": str(reply_id)}],
    )
    rule(
        db,
        personas,
        name="Chiusura",
        kind="time",
        events=[],
        conditions=[*pending, {"field": "hours_since_update", "op": "gt", "value": "120"}],
        actions=[{"action": "set_status", "value": "resolved"}],
    )
    result = receive(db, personas.api_channel, inbound("Ecco il numero d'ordine"))
    cid = result.conversation.id
    with db.transaction() as s:
        c = s.get(Conversation, cid)
        conversations_actions.do_change_status(s, conversation=c, status=Status.PENDING, by=None)
    drain(db)

    def age(hours: int) -> None:
        with db.transaction() as s:
            s.execute(
                update(Conversation)
                .where(Conversation.id == cid)
                .values(updated_at=utcnow() - timedelta(hours=hours))
            )

    age(80)
    sweep_now(db)
    with db.session() as s:
        c = s.get(Conversation, cid)
        assert c is not None and c.status == Status.PENDING
        sent = s.scalars(
            select(Message).where(
                Message.conversation_id == cid, Message.direction == Direction.OUTBOUND
            )
        ).one()
        assert sent.text == "Gentile Mario, ci servono ancora le sue informazioni."
    age(130)
    sweep_now(db)
    with db.session() as s:
        assert s.get(Conversation, cid).status == Status.RESOLVED  # type: ignore[union-attr]
        assert (
            len(
                s.scalars(
                    select(Message).where(
                        Message.conversation_id == cid, Message.direction == Direction.OUTBOUND
                    )
                ).all()
            )
            == 1
        )


def test_rules_that_feed_each_other_stop(db, personas):  # type: ignore[no-untyped-def]
    """Two rules toggling a tag on every change would loop forever; each acts once."""
    for name, add, remove in (("A", "uno", "due"), ("B", "due", "uno")):
        rule(
            db,
            personas,
            name=name,
            kind="event",
            events=["conversation.updated", "message.received"],
            conditions=[],
            actions=[
                {"action": "add_tag", "value": add},
                {"action": "remove_tag", "value": remove},
            ],
        )
    receive(db, personas.api_channel, inbound("Ciao"))
    drain(db)
    with db.session() as s:
        runs = s.scalars(select(RuleRun)).all()
        assert 1 <= len(runs) <= 2
        assert len({r.rule_id for r in runs}) == len(runs)


def test_dry_run_api_and_page(client, db, personas):  # type: ignore[no-untyped-def]
    receive(db, personas.api_channel, inbound("Spedizione in ritardo"))
    receive(db, personas.api_channel, inbound("Complimenti", email="c@example.it"))
    h = {"Authorization": f"Bearer {make_token(db, personas.admin, ('read', 'write', 'admin'))}"}
    body = {
        "name": "Ritardi",
        "kind": "event",
        "events": ["message.received"],
        "conditions": [{"field": "text", "op": "contains", "value": "ritardo"}],
        "actions": [{"action": "add_tag", "value": "ritardo"}],
    }
    made = client.post("/api/v1/rules", json=body, headers=h)
    assert made.status_code == 201, made.text
    matches = client.get(f"/api/v1/rules/{made.json()['id']}/dry-run", headers=h).json()
    assert [m["subject"] or "" for m in matches] and len(matches) == 1
    bad = client.post(
        "/api/v1/rules",
        json={**body, "conditions": [{"field": "text", "op": "matches", "value": "("}]},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "conditions"
    bad = client.post("/api/v1/rules", json={**body, "actions": [{"action": "explode"}]}, headers=h)
    assert bad.status_code == 422
    agent = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    assert client.get("/api/v1/rules", headers=agent).status_code == 403
    assert (
        "sla_minutes_left" in client.get("/api/v1/rules/registry", headers=h).json()["conditions"]
    )

    login(client, personas.admin)
    page = client.get(f"/admin/rules?edit={made.json()['id']}&dry=1")
    assert page.status_code == 200 and "Prova a vuoto" in page.text
    saved = client.post(
        "/admin/rules",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Fuori orario",
            "kind": "event",
            "events": "message.received",
            "c0_field": "business_hours",
            "c0_op": "is",
            "c0_value": "closed",
            "a0_action": "note",
            "a0_value": "Arrivato fuori orario",
            "is_active": "1",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with db.session() as s:
        assert (
            s.scalars(select(Rule).where(Rule.name == "Fuori orario")).one().conditions[0]["field"]
            == "business_hours"
        )
