"""Demo data for the PBX channel (Casa Lavanda): the Florence shop's FreePBX, configured but
switched off (the demo has no Asterisk to reach), with the agents' extensions, so that the admin
page shows how a shop that keeps its PBX connects it.

Runs after the core demo: ``load(db, now=..., seed=...)``; nothing is sent (events silenced).
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import select

from sportello.accounts.models import Brand, Role, User
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.channels.pbx.adapter import KIND
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 13 + 7)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(Channel.id).where(Channel.kind == KIND)):
            return
        agents = list(
            session.scalars(select(User).where(User.role == Role.AGENT).order_by(User.id))
        )
        extensions = "\n".join(f"{201 + n} = {a.email}" for n, a in enumerate(agents[:8]))
        channels_actions.do_create_channel(
            session,
            brand_id=brand.id,
            kind=KIND,
            name="Centralino FreePBX negozio di Firenze",
            queue=None,  # the PBX's own queues choose the agent
            data={
                "ami_host": "pbx.firenze.casalavanda.example",
                "ami_port": "5038",
                "ami_username": "sportello",
                "ami_secret": f"demo-{rng.getrandbits(64):016x}",
                "extensions": extensions,
                "inbound_contexts": "from-trunk, from-pstn",
                "originate_context": "from-internal",
                "technology": "PJSIP",
                "queue_pause": "on",
                "short_abandon_seconds": "5",
            },
            is_active=False,  # no Asterisk in the demo: the page shows it switched off
        )
