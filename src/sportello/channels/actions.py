"""Writes on channels: create, update, reconfigure, rotate secrets."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping

from sqlalchemy.orm import Session

from sportello.channels import registry
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.core.errors import InvalidInput
from sportello.core.security import decrypt_secret, encrypt_secret, hash_token
from sportello.routing.models import Queue


def new_public_id() -> str:
    return pysecrets.token_urlsafe(12)


def do_create_channel(
    session: Session,
    *,
    brand_id: int,
    kind: str,
    name: str,
    queue: Queue | None,
    data: Mapping[str, str],
) -> tuple[Channel, dict[str, str]]:
    """Create a channel; returns it with the secrets to show the admin once."""
    name = name.strip()
    if not name:
        raise InvalidInput("a channel needs a name", field="name")
    try:
        adapter = registry.get_adapter(kind)
    except LookupError:
        raise InvalidInput(f"unknown channel kind {kind!r}", field="kind") from None
    setup = adapter.configure(data)
    key = get_settings().effective_secret_key()
    channel = Channel(
        brand_id=brand_id,
        kind=kind,
        name=name[:200],
        public_id=new_public_id(),
        queue_id=queue.id if queue else None,
        settings=setup.settings,
        secrets={k: encrypt_secret(v, key) for k, v in setup.secrets.items()},
        token_hash=hash_token(setup.token) if setup.token else None,
    )
    session.add(channel)
    session.flush()
    return channel, dict(setup.shown_once)


def do_update_channel(
    session: Session,
    *,
    channel: Channel,
    name: str | None = None,
    queue: Queue | bool | None = False,
    is_active: bool | None = None,
    settings: Mapping[str, object] | None = None,
) -> Channel:
    if name is not None:
        if not name.strip():
            raise InvalidInput("a channel needs a name", field="name")
        channel.name = name.strip()[:200]
    if queue is not False:
        channel.queue_id = queue.id if isinstance(queue, Queue) else None
    if is_active is not None:
        channel.is_active = is_active
    if settings is not None:
        channel.settings = {**channel.settings, **settings}
    return channel


def do_reconfigure_channel(
    session: Session, *, channel: Channel, data: Mapping[str, str]
) -> Channel:
    """New settings from the admin's form, checked by the adapter's ``configure()`` as at
    creation. A secret left blank keeps the stored one; the inbound token (its hash) and the
    settings ``configure()`` does not produce (synced templates, say) are kept."""
    adapter = registry.get_adapter(channel.kind)
    key = get_settings().effective_secret_key()
    stored = {name: decrypt_secret(value, key) for name, value in channel.secrets.items()}
    merged = dict(data)
    for name, value in stored.items():
        if not merged.get(name, "").strip():
            merged[name] = value
    setup = adapter.configure(merged)
    channel.settings = {**channel.settings, **setup.settings}
    # An unchanged secret keeps its ciphertext: only what the admin replaced is written anew.
    channel.secrets = {
        name: channel.secrets[name] if stored.get(name) == value else encrypt_secret(value, key)
        for name, value in setup.secrets.items()
    }
    return channel
