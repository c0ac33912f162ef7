"""Demo data for the phone (Casa Lavanda): the shop's number on its first queue, SIP accounts
for the agents (their passwords are not shown: an admin gives new ones on /admin/voice), and a
week of calls from the demo's customers, each opening its conversation as a ringing phone does
(so the reports count them as calls): answered with talk and wrap-up times, abandoned (some
short), callbacks (the caller pressed 1 after the offer), out of hours. The channel announces
the caller's position every 45 seconds.

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
from sportello.conversations.models import Conversation, Status
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.customers.models import Customer, CustomerIdentity
from sportello.routing.models import Queue

DID = "+390550123456"
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
                "position_every_seconds": "45",
                "callback": "on",
                "recording": "off",
            },
        )
        agents = list(
            session.scalars(select(User).where(User.role == Role.AGENT).order_by(User.id))
        )
        for agent in agents:
            actions.do_generate_sip_account(session, user=agent)
        # A week of calls from customers of the demo. Each call opens its own conversation,
        # as a ringing phone does (the voice channel's own path, dated when it rang), so that
        # the reports count it as a call: waiting, answer and abandon from the call record.
        customers = session.execute(
            select(Customer.id, CustomerIdentity.value)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .where(CustomerIdentity.kind == "phone")
            .order_by(Customer.id)
            .limit(60)
        ).all()
        for n in range(min(24, len(customers))):
            _customer_id, phone = rng.choice(customers)
            started = now - timedelta(days=rng.randint(0, 6), minutes=rng.randint(30, 600))
            outcome = rng.choice(OUTCOMES)
            wait = rng.randint(3, 90) if outcome != "short_abandon" else rng.randint(1, 4)
            if outcome == "callback":  # pressed 1 after the offer at the longest wait (120 s)
                wait = rng.randint(121, 180)
            call = actions._new_call(
                session,
                channel=channel,
                sip_call_id=f"demo-{seed}-{n}@casalavanda.example",
                caller=phone,
                display="",
                did=DID,
                now=started,
            )
            call.state, call.outcome = "ended", outcome
            conversation = session.get_one(Conversation, call.conversation_id)
            if outcome == "answered" and agents:
                call.agent_id = rng.choice(agents).id
                call.answered_at = started + timedelta(seconds=wait)
                call.hold_seconds = rng.choice([0, 0, 0, 20, 45])
                call.ended_at = call.answered_at + timedelta(seconds=rng.randint(60, 600))
                call.wrapup_ended_at = call.ended_at + timedelta(seconds=rng.randint(10, 120))
                call.ended_by = rng.choice(["customer", "agent"])
                conversation.assignee_id = call.agent_id
                ended = call.wrapup_ended_at
            elif outcome in ("callback", "closed"):
                call.ended_at, call.ended_by = started + timedelta(seconds=wait), "system"
                if outcome == "callback":  # the caller pressed 1 and hung up on the confirmation
                    call.ended_by = "customer"
                    call.announced_at, call.media = started + timedelta(seconds=120), "booked"
                # an agent called back within the quarter of an hour
                conversation.assignee_id = rng.choice(agents).id if agents else None
                ended = call.ended_at + timedelta(minutes=rng.randint(3, 15))
            else:
                call.ended_at, call.ended_by = started + timedelta(seconds=wait), "customer"
                ended = call.ended_at
            # The conversation as the call left it, dated (the actions stamp the real time).
            conversation.status, conversation.resolved_at = Status.RESOLVED, ended
            conversation.updated_at = ended
        session.flush()
