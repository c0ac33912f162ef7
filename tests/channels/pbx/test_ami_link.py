"""The PBX channel at protocol level: a fake Asterisk (a TCP server speaking AMI) sends the event
sequences of real calls to the worker's link; the calls land in the timeline and the call log
as the phone channel's own, and the actions the link sends are the ones Asterisk expects."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sportello.channels import actions as channels_actions
from sportello.channels.pbx import ami
from sportello.channels.pbx.models import PbxLink
from sportello.channels.voice.models import VoiceCall
from sportello.conversations.models import Conversation, Message
from sportello.core.db import Database
from sportello.core.outbox import OutboxEvent
from sportello.customers.models import CustomerIdentity
from tests.api.helpers import make_token
from tests.channels.pbx import scenarios
from tests.channels.pbx.conftest import running_links
from tests.channels.pbx.fake_ami import FakeAmi
from tests.factories import Personas


def make_pbx(db: Database, p: Personas, fake: FakeAmi, **extra: str) -> int:
    with db.transaction() as s:
        channel, _shown = channels_actions.do_create_channel(
            s,
            brand_id=p.brand_id,
            kind="pbx",
            name="Centralino FreePBX",
            queue=None,
            data={
                "ami_host": "127.0.0.1",
                "ami_port": str(fake.port),
                "ami_username": "sportello",
                "ami_secret": "s3greto",
                "extensions": f"201 = {p.sara.email}\n202 = {p.luca.email}",
                **extra,
            },
        )
        return channel.id


def wait(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def timed(blocks: list[dict[str, str]], start: float, step: float) -> list[dict[str, str]]:
    """Stamp events as Asterisk does with ``timestampevents = yes``."""
    return [{**b, "Timestamp": f"{start + i * step:.6f}"} for i, b in enumerate(blocks)]


def calls(db: Database) -> list[VoiceCall]:
    with db.transaction() as s:
        return list(s.scalars(select(VoiceCall).order_by(VoiceCall.id)))


def ended(db: Database, n: int = 1) -> Callable[[], bool]:
    return lambda: len([c for c in calls(db) if c.state == "ended"]) >= n


def call_events(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as s:
        rows = s.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.name == "voice.call_changed")
            .order_by(OutboxEvent.id)
        )
        return [dict(r.payload) for r in rows]


def test_a_queue_call_answered_becomes_a_conversation_and_a_call_record(
    db: Database, personas: Personas, fake_ami: FakeAmi
) -> None:
    channel_id = make_pbx(db, personas, fake_ami)
    with running_links(db):
        fake_ami.wait_for(lambda: fake_ami.logins >= 1)
        start = time.time() - 60
        fake_ami.send(*timed(scenarios.queue_call_answered(), start, 1.0))
        fake_ami.send(*timed(scenarios.hangups(), start + 40, 0.1))
        wait(ended(db))
    login = fake_ami.sent_actions("Login")[0]
    assert login["Username"] == "sportello" and login["Secret"] == "s3greto"
    (call,) = calls(db)
    assert call.sip_call_id == f"pbx:{channel_id}:1765120000.10"
    assert call.direction == "inbound" and call.caller == scenarios.CALLER
    assert call.did == scenarios.DID and call.channel_id == channel_id
    assert call.agent_id == personas.sara.id
    assert call.outcome == "answered" and call.ended_by == "customer"
    assert call.answered_at is not None and call.ended_at is not None
    # Wait and talk as the PBX stamped them: answered at the 7th event (DialEnd ANSWER), hung up
    # 40 s after the start.
    assert int((call.answered_at - call.started_at).total_seconds()) == 6
    assert int((call.ended_at - call.started_at).total_seconds()) == 40
    with db.transaction() as s:
        conversation = s.get_one(Conversation, call.conversation_id)
        assert conversation.assignee_id == personas.sara.id
        assert conversation.channel_id == channel_id
        identity = s.scalar(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == call.customer_id)
        )
        assert identity is not None and identity.value == scenarios.CALLER
        lines = [
            m.text
            for m in s.scalars(select(Message).where(Message.conversation_id == conversation.id))
        ]
        assert any(scenarios.CALLER in line for line in lines)
        assert "Call answered" in lines and "Call ended" in lines
        link = s.get_one(PbxLink, channel_id)
        assert link.state == "connected" and link.connected_at is not None
    states = [e["state"] for e in call_events(db)]
    assert states == ["queued", "ringing", "talking", "ended"]


def test_an_abandoned_queue_call_and_a_short_abandon(
    db: Database, personas: Personas, fake_ami: FakeAmi
) -> None:
    make_pbx(db, personas, fake_ami, short_abandon_seconds="10")
    with running_links(db):
        fake_ami.wait_for(lambda: fake_ami.logins >= 1)
        start = time.time() - 120
        fake_ami.send(*timed(scenarios.queue_call_abandoned(), start, 8.0))  # 32 s in the queue
        fake_ami.send(*timed(scenarios.queue_call_abandoned("1765120500.50"), start, 1.0))
        wait(ended(db, 2))
    long, short = calls(db)
    assert long.outcome == "abandoned" and long.answered_at is None
    assert short.outcome == "short_abandon"
    assert long.agent_id is None  # the agent's phone rang, then the caller gave up
    with db.transaction() as s:
        conversation = s.get_one(Conversation, long.conversation_id)
        assert conversation.status == "resolved"
        assert conversation.assignee_id is None


def test_a_direct_call_to_an_extension_the_agent_hangs_up(
    db: Database, personas: Personas, fake_ami: FakeAmi
) -> None:
    make_pbx(db, personas, fake_ami)
    with running_links(db):
        fake_ami.wait_for(lambda: fake_ami.logins >= 1)
        fake_ami.send(*scenarios.internal_call())  # 201 calls 202: no customer's call
        fake_ami.send(*timed(scenarios.direct_call(), time.time() - 30, 2.0))
        wait(ended(db))
    (call,) = calls(db)
    assert call.caller == "+393355550000"  # an Italian national number, normalised
    assert call.agent_id == personas.luca.id
    assert call.outcome == "answered" and call.ended_by == "agent"


def test_repeated_late_and_garbage_events_change_nothing(
    db: Database, personas: Personas, fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    make_pbx(db, personas, fake_ami)
    with running_links(db):
        fake_ami.wait_for(lambda: fake_ami.logins >= 1)
        start = time.time() - 60
        answered = timed(scenarios.queue_call_answered(), start, 1.0)
        # A hang-up of a call never seen, garbage, a block with unknown and broken fields.
        fake_ami.send(*scenarios.hangups("1765129999.99"))
        fake_ami.send("this is not AMI\r\nat all\r\n\r\n")
        fake_ami.send("Event: Newchannel\r\nUniqueid\r\nLinkedid: \r\nX-Odd: \x00\x01\r\n\r\n")
        fake_ami.send({"Event": "DialBegin", "Linkedid": "nope", "Frobnicate": "yes"})
        fake_ami.send(*answered)
        fake_ami.send(*answered)  # the same call again
        fake_ami.send(*timed(scenarios.hangups(), start + 30, 0.1))
        wait(ended(db))
        before = call_events(db)
        fake_ami.send(*answered, *timed(scenarios.hangups(), start + 30, 0.1))  # all late
        fake_ami.send(
            {
                "Event": "QueueCallerAbandon",
                "Uniqueid": "1765120000.10",
                "Linkedid": "1765120000.10",
                "Queue": "400",
            }
        )
        fake_ami.send(*scenarios.internal_call("1765120600.60"))  # a marker: processed in order
        time.sleep(0.5)
    (call,) = calls(db)
    assert call.outcome == "answered"
    assert call_events(db) == before
    with db.transaction() as s:
        assert (
            s.scalar(select(Conversation.id).where(Conversation.id != call.conversation_id)) is None
        )


def test_the_link_reconnects_after_the_pbx_drops_it_and_says_so(
    db: Database, personas: Personas, fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    channel_id = make_pbx(db, personas, fake_ami)
    caplog.set_level(logging.INFO, logger="sportello.channels.pbx")
    with running_links(db):
        fake_ami.wait_for(lambda: fake_ami.logins >= 1)
        fake_ami.pause()  # the PBX goes down
        wait(lambda: _link(db, channel_id).state == "error")
        assert _link(db, channel_id).last_error
        fake_ami.resume()
        fake_ami.wait_for(lambda: fake_ami.logins >= 2, timeout=15)
        wait(lambda: _link(db, channel_id).state == "connected")
        fake_ami.send(*timed(scenarios.direct_call(), time.time() - 30, 2.0))
        wait(ended(db))
    assert calls(db)[0].outcome == "answered"
    assert any(
        "connection lost" in r.getMessage() or "unreachable" in r.getMessage()
        for r in caplog.records
    )
    assert all("s3greto" not in r.getMessage() for r in caplog.records)


def _link(db: Database, channel_id: int) -> PbxLink:
    with db.transaction() as s:
        return s.get(PbxLink, channel_id) or PbxLink(channel_id=channel_id, state="unknown")


def test_a_wrong_secret_is_shown_as_the_last_error_never_logged(
    db: Database, personas: Personas, fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ami.secret = "the-right-one"
    channel_id = make_pbx(db, personas, fake_ami)
    caplog.set_level(logging.DEBUG)
    with running_links(db):
        wait(lambda: _link(db, channel_id).state == "error")
    link = _link(db, channel_id)
    assert "Authentication failed" in link.last_error
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    assert all("s3greto" not in r.getMessage() for r in caplog.records)
    assert fake_ami.logins == 0


def test_click_to_call_sends_originate_and_follows_the_call(
    client: TestClient, db: Database, personas: Personas, fake_ami: FakeAmi
) -> None:
    channel_id = make_pbx(db, personas, fake_ami)
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara, ('read', 'write'))}"}
    response = client.post("/api/v1/pbx/calls", json={"number": "333 123 4567"}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["direction"] == "outbound" and body["state"] == "ringing"
    (originate,) = fake_ami.sent_actions("Originate")
    assert originate["Channel"] == "PJSIP/201"
    assert originate["Exten"] == "+393331234567"
    assert originate["Context"] == "from-internal"
    assert originate["Async"] == "true"
    uid = originate["ChannelId"]
    (call,) = calls(db)
    assert call.sip_call_id == f"pbx:{channel_id}:{uid}" and call.agent_id == personas.sara.id
    # The PBX's events for the originated call: the agent's leg is the first channel.
    agent_leg = {
        "Channel": "PJSIP/201-00000030",
        "Uniqueid": uid,
        "Linkedid": uid,
        "Context": "from-internal",
        "Exten": "+393331234567",
        "CallerIDNum": "201",
    }
    customer = {
        "Channel": "PJSIP/eolo-trunk-00000031",
        "Uniqueid": "1765120700.71",
        "Linkedid": uid,
        "Context": "from-trunk",
    }
    with running_links(db):
        fake_ami.wait_for(lambda: fake_ami.writers)  # the link's session, with events on
        fake_ami.send(
            {"Event": "Newchannel", **agent_leg},
            {
                "Event": "DialBegin",
                **agent_leg,
                "DestChannel": customer["Channel"],
                "DestUniqueid": customer["Uniqueid"],
                "DestLinkedid": uid,
            },
            {
                "Event": "DialEnd",
                **agent_leg,
                "DestChannel": customer["Channel"],
                "DestUniqueid": customer["Uniqueid"],
                "DestLinkedid": uid,
                "DialStatus": "ANSWER",
            },
            {"Event": "Hangup", **customer, "Cause": "16"},
            {"Event": "Hangup", **agent_leg, "Cause": "16"},
        )
        wait(ended(db))
    (call,) = calls(db)
    assert call.outcome == "answered" and call.ended_by == "customer"


def test_click_to_call_errors_are_clear(
    client: TestClient, db: Database, personas: Personas, fake_ami: FakeAmi
) -> None:
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara, ('read', 'write'))}"}
    response = client.post("/api/v1/pbx/calls", json={"number": "3331234567"}, headers=headers)
    assert response.status_code == 409  # no PBX channel: the install, not the input
    make_pbx(db, personas, fake_ami)
    supervisor = {
        "Authorization": f"Bearer {make_token(db, personas.supervisor, ('read', 'write'))}"
    }
    response = client.post("/api/v1/pbx/calls", json={"number": "3331234567"}, headers=supervisor)
    assert response.status_code == 409  # no extension for this user
    response = client.post("/api/v1/pbx/calls", json={"number": "not\x00a number"}, headers=headers)
    assert response.status_code == 422
    fake_ami.pause()
    response = client.post("/api/v1/pbx/calls", json={"number": "3331234567"}, headers=headers)
    assert response.status_code == 422 and "PBX" in response.text
    (call,) = calls(db)
    assert call.outcome == "failed"
    fake_ami.resume()


def test_queue_pause_follows_the_agents_pause(
    db: Database, personas: Personas, fake_ami: FakeAmi
) -> None:
    from sportello import wiring
    from sportello.core.dispatcher import Dispatcher
    from sportello.routing import presence

    wiring.load_handlers()
    make_pbx(db, personas, fake_ami, queue_pause="on")
    with db.transaction() as s:
        presence.do_set_presence(s, user=personas.sara, presence=presence.Presence.AVAILABLE)
    with db.transaction() as s:
        presence.do_set_presence(s, user=personas.sara, presence=presence.Presence.BREAK)
    dispatcher = Dispatcher(db)
    wait(lambda: dispatcher.run_once() >= 0 and fake_ami.sent_actions("QueuePause"))
    pause = fake_ami.sent_actions("QueuePause")[-1]
    assert pause["Interface"] == "PJSIP/201" and pause["Paused"] == "true"


def test_ami_settings_never_show_the_secret() -> None:
    settings = ami.AmiSettings(host="pbx", port=5038, username="u", secret="s3greto")
    assert "s3greto" not in repr(settings)
