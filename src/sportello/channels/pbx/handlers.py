"""The PBX channel's durable jobs: an agent's pause in Sportello pauses them in the PBX's
queues (AMI ``QueuePause``), where the channel asks for it."""

from __future__ import annotations

import asyncio
from typing import Any

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.channels.pbx import ami, service
from sportello.core import jobs
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe

QUEUE_PAUSE_JOB = "pbx.queue_pause"
# Sportello's presences that take an agent out of the PBX's queues.
PAUSED = frozenset({"break", "away", "offline"})


@subscribe("agent.presence_changed")
def on_presence(db: Database, _name: str, payload: dict[str, Any]) -> None:
    paused = payload.get("presence") in PAUSED
    if (payload.get("previous") in PAUSED) == paused and payload.get("previous") is not None:
        return  # from one pause to another, or one availability to another: the PBX knows
    user_id = int(payload["user_id"])
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            return
        for channel in service.active_channels(session):
            if not channel.settings.get("queue_pause"):
                continue
            extension = service.extension_of_user(channel, user)
            if extension is None:
                continue
            jobs.enqueue(
                session,
                QUEUE_PAUSE_JOB,
                {
                    "channel_id": channel.id,
                    "interface": service.interface(channel, extension),
                    "paused": paused,
                    "reason": str(payload.get("reason") or payload.get("presence") or ""),
                },
                max_attempts=5,
            )


def queue_pause(db: Database, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        channel = session.get(Channel, int(payload["channel_id"]))
        if channel is None or not channel.is_active:
            return
        settings = service.ami_settings(channel)
    action = {
        "Action": "QueuePause",
        "Interface": str(payload["interface"]),
        "Paused": "true" if payload.get("paused") else "false",
    }
    if payload.get("paused") and payload.get("reason"):
        action["Reason"] = str(payload["reason"])[:80]
    asyncio.run(ami.send_action(settings, action))  # AmiError: the job is retried


jobs.register_job(QUEUE_PAUSE_JOB, jobs.JobKind(run=queue_pause, base_delay=5.0, max_delay=300))
