"""Demo data for the phone (Casa Lavanda): the shop's number on its first queue, SIP accounts
for the agents (their passwords are not shown: an admin gives new ones on /admin/voice), and a
week of calls in the customers' timelines: answered with talk and wrap-up times, abandoned
(some short), a callback booked, one out of hours.

Runs after the core demo: ``load(db, now=..., seed=...)``; nothing is sent (events silenced).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from sportello.accounts.models import Brand, Role, User
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.channels.voice import actions
from sportello.channels.voice.adapter import KIND
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.routing.models import Queue

DID = "+390550123456"
CALLERS = [
    ("+393471234501", "Giovanna Ferrari"),
    ("+393389876502", "Roberto Galli"),
    ("+393201112503", "Silvia Moretti"),
    ("+393475556504", "Antonio Colombo"),
    ("+393287778505", "Laura Fontana"),
    ("+393336669506", ""),
    ("anonymous", ""),
]
OUTCOMES = ["answered"] * 7 + ["abandoned", "short_abandon", "callback", "closed"]


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 11 + 5)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(Channel.id).where(Channel.kind == KIND)):
            return
        queue = session.scalars(select(Queue).order_by(Queue.id)).first()
        channel, _ = channels_actions.do_create_channel(
            session,
            brand_id=brand.id,
            kind=KIND,
            name="Centralino Casa Lavanda",
            queue=queue,
            data={
                "dids": DID,
                "ring_seconds": "20",
                "max_wait_seconds": "120",
                "short_abandon_seconds": "5",
                "callback": "on",
                "recording": "off",
            },
        )
        agents = list(
            session.scalars(select(User).where(User.role == Role.AGENT).order_by(User.id))
        )
        for agent in agents:
            actions.do_generate_sip_account(session, user=agent)
        for n in range(24):
            caller, name = rng.choice(CALLERS)
            started = now - timedelta(days=rng.randint(0, 6), minutes=rng.randint(30, 600))
            outcome = rng.choice(OUTCOMES)
            call = actions._new_call(
                session,
                channel=channel,
                sip_call_id=f"demo-{seed}-{n}@casalavanda.example",
                caller=caller,
                display=name,
                did=DID,
                now=started,
            )
            wait = rng.randint(3, 90) if outcome != "short_abandon" else rng.randint(1, 4)
            call.state, call.outcome = "ended", outcome
            if outcome == "answered" and agents:
                agent = rng.choice(agents)
                call.agent_id = agent.id
                call.answered_at = started + timedelta(seconds=wait)
                call.hold_seconds = rng.choice([0, 0, 0, 20, 45])
                call.ended_at = call.answered_at + timedelta(seconds=rng.randint(60, 600))
                call.wrapup_ended_at = call.ended_at + timedelta(seconds=rng.randint(10, 120))
                call.ended_by = rng.choice(["customer", "agent"])
                conversation = session.get_one(Conversation, call.conversation_id)
                conversations_actions.do_assign(
                    session, conversation=conversation, assignee=agent, by=None
                )
                actions._system_line(
                    session,
                    call,
                    "Call answered",
                    outcome="answered",
                    agent=agent.name,
                    wait=wait,
                )
                actions._system_line(
                    session,
                    call,
                    "Call ended",
                    outcome="answered",
                    agent=agent.name,
                    talk=int((call.ended_at - call.answered_at).total_seconds())
                    - call.hold_seconds,
                    hold=call.hold_seconds,
                    ended_by=call.ended_by,
                )
                actions._end_conversation(session, call)
            elif outcome == "callback":
                call.ended_at, call.ended_by = started + timedelta(seconds=120), "system"
                actions._system_line(session, call, "Callback requested", outcome="callback")
            elif outcome == "closed":
                call.ended_at, call.ended_by = started, "system"
                actions._system_line(session, call, "Call out of business hours", outcome="closed")
                actions._end_conversation(session, call)
            else:
                call.ended_at, call.ended_by = started + timedelta(seconds=wait), "customer"
                actions._system_line(
                    session, call, "Caller hung up while waiting", outcome=outcome, wait=wait
                )
                actions._end_conversation(session, call)
        session.flush()
