"""Reads for the PBX channel: its channels, their AMI settings, who answers an extension, the
link's state."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.channels.pbx.adapter import DEFAULTS, KIND
from sportello.channels.pbx.ami import AmiSettings
from sportello.channels.pbx.models import PbxLink
from sportello.channels.service import config_for

# "PJSIP/201-0000002a", "SIP/201-00000001", "Local/201@from-queue-00000003;1" -> "201"
_PEER_RE = re.compile(r"^(?:PJSIP|SIP|IAX2|Local)/([^@;/\-]+)", re.IGNORECASE)


def active_channels(session: Session) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.kind == KIND, Channel.is_active.is_(True))
            .order_by(Channel.id)
        )
    )


def ami_settings(channel: Channel) -> AmiSettings:
    config = config_for(channel)
    return AmiSettings(
        host=str(channel.settings.get("ami_host", "")),
        port=int(channel.settings.get("ami_port", DEFAULTS["ami_port"])),
        username=str(channel.settings.get("ami_username", "")),
        secret=config.secrets.get("ami_secret", ""),
    )


def setting(channel: Channel, name: str) -> Any:
    return channel.settings.get(name, DEFAULTS.get(name))


def extension_of_channel(name: str) -> str | None:
    """The extension in an Asterisk channel or interface name, or None."""
    found = _PEER_RE.match((name or "").strip())
    return found.group(1) if found else None


def agent_for_extension(session: Session, channel: Channel, extension: str | None) -> User | None:
    if not extension:
        return None
    email = (channel.settings.get("extensions") or {}).get(extension)
    if not email:
        return None
    return session.scalar(
        select(User).where(func.lower(User.email) == email.lower(), User.is_active.is_(True))
    )


def extension_of_user(channel: Channel, user: User) -> str | None:
    email = (user.email or "").lower()
    for extension, mapped in (channel.settings.get("extensions") or {}).items():
        if mapped.lower() == email:
            return str(extension)
    return None


def interface(channel: Channel, extension: str) -> str:
    return f"{setting(channel, 'technology')}/{extension}"


def link_state(session: Session, channel_id: int) -> PbxLink | None:
    return session.get(PbxLink, channel_id)


def unmapped_extensions(session: Session, channel: Channel) -> list[str]:
    """Extensions whose agent e-mail matches no active user (shown on the admin page)."""
    mapping: Mapping[str, str] = channel.settings.get("extensions") or {}
    if not mapping:
        return []
    known = {
        (e or "").lower()
        for e in session.scalars(select(User.email).where(User.is_active.is_(True)))
    }
    return [ext for ext, email in mapping.items() if email.lower() not in known]
