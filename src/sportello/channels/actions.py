"""Writes on channels: create, update, rotate secrets."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping

from sqlalchemy.orm import Session

from sportello.channels import registry
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.core.errors import InvalidInput
from sportello.core.security import encrypt_secret, hash_token
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
