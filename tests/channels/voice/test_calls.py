"""Calls through a real Kamailio and rtpengine (started by the test on loopback), placed and
answered by sipp; Sportello decides where each call goes and records it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.channels.voice import actions
from sportello.channels.voice.daemons import Stack, free_port
from sportello.channels.voice.models import VoiceCall
from sportello.conversations.models import Conversation, Message, Status
from sportello.core.db import Database
from sportello.routing import actions as routing_actions
from sportello.routing import presence, skills
from sportello.routing.calendar import BusinessCalendar
from sportello.routing.models import BusinessCalendarRow
from tests.channels.voice.harness import register_agent, sipp
from tests.factories import Personas

DID = "+390212345678"
CALLER = "+393331234567"


@dataclass
class Phones:
    passwords: dict[int, str]
    channel_id: int


def _setup(db: Database, p: Personas, **settings: str) -> Phones:
    """A phone channel on the Assistenza queue, which needs the skill "telefono": Sara has it,
    Luca (made a member of the queue too) has not. Both are available with a SIP account."""
    with db.transaction() as s:
        sara, luca = s.get_one(User, p.sara.id), s.get_one(User, p.luca.id)
        queue = p.queue_assistenza
        channel, _ = channels_actions.do_create_channel(
            s,
            brand_id=p.brand_id,
            kind="voice",
            name="Centralino",
            queue=queue,
            data={"dids": DID, "ring_seconds": "5", **settings},
        )
        skill = skills.do_create_skill(s, brand_id=p.brand_id, name="telefono")
        skills.do_set_queue_skill(s, queue=queue, skill=skill, min_level=2)
        skills.do_set_agent_skill(s, user=sara, skill=skill, level=4)
        skills.do_set_queue_members(s, queue=queue, users=[luca])
        passwords = {}
        for user in (sara, luca):
            _account, password = actions.do_generate_sip_account(s, user=user)
            passwords[user.id] = password
            presence.do_set_presence(s, user=user, presence=presence.Presence.AVAILABLE)
        return Phones(passwords, channel.id)


def _agent_phone(
    stack: Stack,
    tmp: Path,
    user: User,
    phones: Phones,
    scenario: str = "agent.xml",
    **variables: Any,
) -> Any:
    port = free_port(2)
    agent = sipp(
        stack,
        scenario,
        tmp / f"agent-{user.id}",
        service=f"u{user.id}",
        port=port,
        variables={"answer_after": 300, **variables},
    )
    time.sleep(0.2)
    register_agent(stack, tmp, f"u{user.id}", phones.passwords[user.id], port)
    return agent


def _calls(db: Database) -> list[VoiceCall]:
    with db.session() as s:
        return list(s.scalars(select(VoiceCall).order_by(VoiceCall.id)))


def _wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    assert check()


def _caller(
    stack: Stack, tmp: Path, scenario: str = "caller.xml", did: str = DID, **kw: Any
) -> Any:
    variables = {"caller": CALLER, "name": "Anna Verdi", "talk": 1000, **kw.pop("variables", {})}
    return sipp(stack, scenario, tmp / "caller", service=did, variables=variables, **kw)


def test_answered_call_goes_to_the_agent_with_the_skill(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    phones = _setup(db, personas)
    sara_phone = _agent_phone(stack, tmp_path, personas.sara, phones)
    caller = _caller(stack, tmp_path)
    assert caller.wait() == 0, caller.output() + stack.logs()
    assert sara_phone.wait() == 0, sara_phone.output()
    _wait_for(lambda: _calls(db) and _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.agent_id == personas.sara.id
    assert call.outcome == "answered" and call.ended_by == "customer"
    assert call.answered_at is not None and call.ended_at is not None
    assert call.caller == CALLER and call.did == DID
    with db.session() as s:
        conversation = s.get_one(Conversation, call.conversation_id)
        assert conversation.assignee_id == personas.sara.id
        assert conversation.customer.identity("phone") == CALLER  # type: ignore[arg-type]
        lines = [
            m.meta.get("outcome")
            for m in s.scalars(select(Message).where(Message.conversation_id == conversation.id))
            if m.meta.get("event") == "call"
        ]
        assert lines == ["answered", "answered"]
        state = presence.get_state(s, personas.sara.id)
        assert state is not None and state.presence == "busy"
        sara = s.get_one(User, personas.sara.id)
    # Wrap-up: Sara is available again, the conversation resolved, the wrap-up time kept.
    with db.transaction() as s:
        actions.do_finish_wrapup(
            s, call=s.get_one(VoiceCall, call.id), user=s.get_one(User, sara.id)
        )
    (call,) = _calls(db)
    assert call.wrapup_ended_at is not None
    with db.session() as s:
        assert s.get_one(Conversation, call.conversation_id).status == Status.RESOLVED
        assert presence.get_state(s, personas.sara.id).presence == "available"  # type: ignore[union-attr]


def test_unknown_number_is_refused_and_logged(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _setup(db, personas)
    caller = _caller(stack, tmp_path, "caller_refused.xml", did="+390299999999", code=404)
    assert caller.wait() == 0, caller.output() + stack.logs()
    assert _calls(db) == []
    assert "unknown number" in caplog.text


def test_withheld_number_is_one_anonymous_customer(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    _setup(db, personas)
    sara_phone = _agent_phone(stack, tmp_path, personas.sara, _setup_passwords(db, personas))
    caller = _caller(stack, tmp_path, variables={"caller": "anonymous", "name": "Anonymous"})
    assert caller.wait() == 0, caller.output() + stack.logs()
    sara_phone.wait()
    _wait_for(lambda: _calls(db) and _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.caller == "" and call.outcome == "answered"
    with db.session() as s:
        customer = s.get_one(Conversation, call.conversation_id).customer
        assert customer.identity("external") == actions.ANONYMOUS  # type: ignore[arg-type]
        assert customer.identity("phone") is None  # type: ignore[arg-type]


def _setup_passwords(db: Database, p: Personas) -> Phones:
    """New passwords for agents set up by ``_setup`` (the old ones are not kept)."""
    with db.transaction() as s:
        passwords = {}
        for user_id in (p.sara.id, p.luca.id):
            _account, passwords[user_id] = actions.do_generate_sip_account(
                s, user=s.get_one(User, user_id)
            )
        channel_id = s.scalar(select(Channel.id).where(Channel.kind == "voice"))
        assert channel_id is not None
        return Phones(passwords, channel_id)


def test_caller_who_hangs_up_while_waiting_is_an_abandon(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    _setup(db, personas, short_abandon_seconds="1")
    # Nobody with the skill is available: the caller hears the queue, then gives up.
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    caller = _caller(stack, tmp_path, "caller_abandon.xml", variables={"talk": 2500})
    assert caller.wait() == 0, caller.output() + stack.logs()
    _wait_for(lambda: _calls(db) and _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.outcome == "abandoned" and call.answered_at is None and call.agent_id is None
    assert (call.ended_at - call.started_at).total_seconds() >= 2  # type: ignore[operator]
    with db.session() as s:
        assert s.get_one(Conversation, call.conversation_id).status == Status.RESOLVED


def test_out_of_hours_call_is_refused_and_kept(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    _setup(db, personas)
    with db.transaction() as s:
        today = datetime.now(UTC).date()
        every_day = {
            day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
        closed = BusinessCalendar.from_dict(
            {
                "tz": "Europe/Rome",
                "weekly": every_day,
                # Closed for a few days around today (a shop's holiday).
                "closures": [
                    {"start": str(today - timedelta(days=2)), "end": str(today + timedelta(days=2))}
                ],
            }
        )
        row = BusinessCalendarRow(
            brand_id=personas.brand_id, name="Mai aperto", config=closed.to_dict()
        )
        s.add(row)
        s.flush()
        routing_actions.do_set_queue_routing(s, queue=personas.queue_assistenza, calendar_id=row.id)
    caller = _caller(stack, tmp_path, "caller_refused.xml", code=480)
    assert caller.wait() == 0, caller.output() + stack.logs()
    (call,) = _calls(db)
    assert call.outcome == "closed" and call.agent_id is None
    with db.session() as s:
        # The customer's call is in their timeline: someone can call back when the shop opens.
        assert s.get_one(Conversation, call.conversation_id).customer.identity("phone") == CALLER  # type: ignore[arg-type]


def test_unanswered_agent_then_overflow_queue(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    """Sara (the only one with the skill) lets it ring: after the ring time the call overflows to
    the Vendite queue, where Luca answers."""
    phones = _setup(db, personas)
    with db.transaction() as s:
        routing_actions.do_set_queue_routing(
            s,
            queue=personas.queue_assistenza,
            overflow_queue_id=personas.queue_vendite.id,
            overflow_after_seconds=3,
        )
    sara_phone = _agent_phone(stack, tmp_path, personas.sara, phones, "agent_noanswer.xml")
    luca_phone = _agent_phone(stack, tmp_path, personas.luca, phones)
    caller = _caller(stack, tmp_path)
    assert caller.wait(40) == 0, caller.output() + stack.logs()
    assert sara_phone.wait() == 0, sara_phone.output()
    assert luca_phone.wait() == 0, luca_phone.output()
    _wait_for(lambda: _calls(db) and _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.agent_id == personas.luca.id and call.outcome == "answered"
    assert call.ring_attempts == 2


def test_caller_presses_1_for_a_callback(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    """Past the longest wait (2 s) the caller hears the offer and presses 1 (an RFC 4733 event
    that rtpengine reports): the callback is booked and the call ends with a 480 after the
    confirmation."""
    _setup(db, personas, max_wait_seconds="2", callback="on", position_every_seconds="0")
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    caller = _caller(stack, tmp_path, "caller_press1.xml", code=480, variables={"wait": 4000})
    _wait_for(lambda: bool(_calls(db)) and _calls(db)[0].media == "offer", 8)
    (offered,) = _calls(db)
    assert offered.state == "queued" and offered.announced_at is not None
    pressed = time.monotonic()
    assert caller.wait() == 0, caller.output() + stack.logs()
    (call,) = _calls(db)
    assert call.outcome == "callback" and call.ended_by == "customer"
    assert call.media == "booked"  # the confirmation played before the 480
    assert time.monotonic() - pressed < 12
    with db.session() as s:
        conversation = s.get_one(Conversation, call.conversation_id)
        # Kept in the queue as a task, routed like any conversation, tagged for the agent.
        assert conversation.status in (Status.NEW, Status.OPEN)
        assert conversation.queue_id == personas.queue_assistenza.id
        assert "callback" in [t.name for t in conversation.tags]
        lines = [
            m.meta.get("outcome")
            for m in s.scalars(select(Message).where(Message.conversation_id == conversation.id))
            if m.meta.get("event") == "call"
        ]
        assert lines == ["callback"]


def test_caller_who_does_not_press_keeps_waiting(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    """The offer is made, the caller presses nothing: still queued, then hangs up (abandon)."""
    _setup(db, personas, max_wait_seconds="1", callback="on", short_abandon_seconds="1")
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    caller = _caller(stack, tmp_path, "caller_abandon.xml", variables={"talk": 4000})
    _wait_for(lambda: bool(_calls(db)) and _calls(db)[0].announced_at is not None, 8)
    assert caller.wait() == 0, caller.output() + stack.logs()
    _wait_for(lambda: _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.outcome == "abandoned"
    with db.session() as s:
        conversation = s.get_one(Conversation, call.conversation_id)
        assert "callback" not in [t.name for t in conversation.tags]


def test_keys_before_the_offer_or_other_keys_change_nothing(
    db: Database, personas: Personas
) -> None:
    """rtpengine's reports straight to the listener's handler: 1 before the longest wait, 5
    after it, garbage and unknown calls are ignored; 1 after it books."""
    from sportello.channels.voice import dtmf

    _setup(db, personas, max_wait_seconds="60", callback="on")
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    start = datetime.now(UTC)
    actions.route_call(db, sip_call_id="k-1", caller=CALLER, did=DID, now=start)
    actions.do_keypress(db, sip_call_id="k-1", event=1, now=start + timedelta(seconds=30))
    actions.do_keypress(db, sip_call_id="k-1", event=5, now=start + timedelta(seconds=61))
    dtmf.handle_datagram(db, b"not json", "")
    dtmf.handle_datagram(db, b'{"callid": "nope", "event": 1, "type": "DTMF"}', "")
    assert _calls(db)[0].state == "queued"
    with db.transaction() as s:  # the caller has now waited 61 s
        s.get_one(VoiceCall, _calls(db)[0].id).started_at = start - timedelta(seconds=61)
    dtmf.handle_datagram(db, b'{"callid": "k-1", "event": 1, "type": "DTMF"}', "")
    (call,) = _calls(db)
    assert call.state == "ended" and call.outcome == "callback"
    # Kamailio's next question ends the call.
    answer = actions.route_call(db, sip_call_id="k-1", caller=CALLER, did=DID)
    assert (answer.action, answer.code) == ("reject", 480)


def test_garbage_from_the_trunk_is_dropped_and_calls_go_on(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path
) -> None:
    import socket

    _setup(db, personas)
    garbage = [
        b"\x00\xff\xfe garbage",
        b"INVITE sip:+390212345678@127.0.0.1 SIP/2.0\r\nVia: broken\r\n\r\n",
        b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\nCSeq: notanumber OPTIONS\r\n\r\n",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in garbage:
            sock.sendto(payload, (stack.config.host, stack.config.sip_port))
    caller = _caller(stack, tmp_path, "caller_refused.xml", did="+390299999999", code=404)
    assert caller.wait() == 0, caller.output() + stack.logs()
    assert _calls(db) == []  # nothing recorded for the garbage
    log = (stack.directory / "kamailio.log").read_text(errors="replace")
    assert "core parsing of SIP message failed" in log  # Kamailio says what it dropped


def test_cancel_while_sportello_is_deciding_is_an_abandon(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller hangs up while Kamailio waits for Sportello's answer to a routing question
    (made slow here: what a loaded machine does): the CANCEL gets its 200, the INVITE its 487,
    and the call is an abandon."""
    _setup(db, personas, short_abandon_seconds="1")
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    real = actions.route_call
    asked: list[float] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        asked.append(time.monotonic())
        if len(asked) > 1:
            time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(actions, "route_call", slow)
    caller = _caller(stack, tmp_path, "caller_abandon.xml", variables={"talk": 2000})
    assert caller.wait() == 0, caller.output() + stack.logs()
    _wait_for(lambda: bool(_calls(db)) and _calls(db)[0].state == "ended", 10)
    (call,) = _calls(db)
    assert call.outcome == "abandoned"


def test_cancel_while_the_abandon_is_being_reported(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller hangs up; while Kamailio tells Sportello (slow here: a loaded machine), the
    queued call's next routing question comes and finds the call ended. The CANCEL still gets
    its 200 and the INVITE its 487 (never a 500), and the call is one abandon."""
    _setup(db, personas, short_abandon_seconds="1")
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    from sportello.channels.voice import kamailio_hooks

    real = kamailio_hooks.JSONResponse
    reported: list[str] = []

    def slow(content: Any, *args: Any, **kwargs: Any) -> Any:
        # Each report of the abandon answers Kamailio 2.5 s late, after its commit: the
        # routing question that comes meanwhile finds the call ended.
        if content == {"ok": True} and reported and reported[-1] == "abandoned":
            time.sleep(2.5)
        return real(content, *args, **kwargs)

    real_event = actions.do_call_event

    def event(*args: Any, **kwargs: Any) -> Any:
        reported.append(kwargs.get("event", ""))
        return real_event(*args, **kwargs)

    monkeypatch.setattr(kamailio_hooks, "JSONResponse", slow)
    monkeypatch.setattr(actions, "do_call_event", event)
    caller = _caller(stack, tmp_path, "caller_abandon.xml", variables={"talk": 1500})
    assert caller.wait() == 0, caller.output() + stack.logs()
    _wait_for(lambda: bool(_calls(db)) and _calls(db)[0].state == "ended", 10)
    (call,) = _calls(db)
    assert call.outcome == "abandoned"


def test_a_wait_longer_than_kamailio_can_hold_ends_cleanly(
    db: Database, personas: Personas, voice_server: str, tmp_path: Path
) -> None:
    """Each wait in the queue takes one of the call's SIP branches (8 here, 30 in production):
    when they are spent the caller gets a 480 (not Kamailio's "500 (1/TM)") and the record says
    so; with callbacks on, the callback is booked instead."""
    from tests.channels.voice.harness import run_stack

    _setup(db, personas, callback="", max_wait_seconds="0")
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, personas.sara.id), presence="away")
    for stack in run_stack(voice_server, tmp_path / "stack", db=db, max_branches=8):
        caller = _caller(stack, tmp_path, "caller_refused.xml", code=480)
        assert caller.wait(60) == 0, caller.output() + stack.logs()
        assert "maximum number of branches" not in stack.logs()
    (call,) = _calls(db)
    assert call.state == "ended" and call.outcome == "failed" and call.ended_by == "system"
    with db.session() as s:
        conversation = s.get_one(Conversation, call.conversation_id)
        assert conversation.status == Status.RESOLVED
        lines = [
            m.meta.get("outcome")
            for m in s.scalars(select(Message).where(Message.conversation_id == conversation.id))
            if m.meta.get("event") == "call"
        ]
        assert lines == ["failed"]
