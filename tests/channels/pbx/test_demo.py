"""The demo's PBX channel: configured, switched off, the agents' extensions mapped, the secret
encrypted."""

from __future__ import annotations

from sqlalchemy import select

from sportello.channels.models import Channel
from sportello.channels.pbx import demo
from sportello.core.db import Database, utcnow
from tests.factories import Personas


def test_the_demo_pbx_channel_is_configured_and_off(db: Database, personas: Personas) -> None:
    demo.load(db, now=utcnow(), seed=42)
    demo.load(db, now=utcnow(), seed=42)  # loading again adds nothing
    with db.transaction() as s:
        (channel,) = s.scalars(select(Channel).where(Channel.kind == "pbx")).all()
        assert not channel.is_active
        assert channel.settings["extensions"]["201"] in (personas.sara.email, personas.luca.email)
        assert channel.settings["queue_pause"] is True
        assert "ami_secret" in channel.secrets
        assert not channel.secrets["ami_secret"].startswith("demo-")
