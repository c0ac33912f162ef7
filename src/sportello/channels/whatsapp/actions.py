"""Writes on a WhatsApp channel that need the Graph API: syncing the approved templates."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.channels.whatsapp.adapter import WhatsAppAdapter
from sportello.channels.whatsapp.templates import Parsed
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput


def do_sync_templates(session: Session, *, channel: Channel) -> Parsed:
    """Replace the channel's stored templates with the approved ones Meta lists now.

    Raises ChannelError when Meta cannot be asked (the stored list is then left as it was)."""
    if channel.kind != WhatsAppAdapter.kind:
        raise InvalidInput("only WhatsApp channels have message templates", field="kind")
    parsed = WhatsAppAdapter().fetch_templates(config_for(channel))
    channels_actions.do_update_channel(
        session,
        channel=channel,
        settings={
            "templates": parsed.templates,
            "templates_skipped": parsed.skipped,
            "templates_synced_at": utcnow().isoformat(timespec="seconds"),
        },
    )
    return parsed
