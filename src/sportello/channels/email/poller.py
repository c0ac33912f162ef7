"""Fetching every active mailbox, in ``serve`` (embedded) and in ``sportello worker``.

One thread per mailbox, so a slow or broken server never holds up another mailbox. Each thread
claims its mailbox's lease (only one process fetches a mailbox at a time), polls, and then waits:
in IMAP IDLE when the server offers it (new mail arrives within a second), or for the poll
interval. Errors are logged and recorded on the mailbox state, and retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time

from imapclient import IMAPClient
from sqlalchemy import select

from sportello.channels.base import ChannelError
from sportello.channels.email import imap
from sportello.channels.email.mailbox import MailboxSettings
from sportello.channels.models import Channel
from sportello.core.db import Database

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
IDLE_MAX_SECONDS = 300.0  # re-issue IDLE well before the 29 minutes of RFC 2177


def active_mailboxes(db: Database) -> dict[int, str]:
    """Channel id -> a fingerprint of its settings (a change restarts its thread)."""
    with db.session() as session:
        rows = session.execute(
            select(Channel.id, Channel.settings, Channel.secrets).where(
                Channel.kind == "email", Channel.is_active.is_(True)
            )
        ).all()
    return {int(r.id): repr((sorted(r.settings.items()), sorted(r.secrets.items()))) for r in rows}


class MailboxThread(threading.Thread):
    def __init__(self, db: Database, channel_id: int, owner: str) -> None:
        super().__init__(name=f"sportello-mailbox-{channel_id}", daemon=True)
        self.db = db
        self.channel_id = channel_id
        self.owner = owner
        self.stop_event = threading.Event()
        self.polls = 0

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        failures = 0
        client: IMAPClient | None = None
        try:
            while not self.stop_event.is_set():
                try:
                    mailbox, password = imap.load_mailbox(self.db, self.channel_id)
                    if not imap.claim_lease(self.db, self.channel_id, self.owner, mailbox.folder):
                        self._close(client)
                        client = None
                        self.stop_event.wait(mailbox.poll_seconds)
                        continue
                    if client is None:
                        client = imap.connect(mailbox, password)
                    imap.poll_mailbox(self.db, self.channel_id, client)
                    self.polls += 1
                    failures = 0
                    self._wait(client, mailbox)
                except Exception as exc:
                    failures += 1
                    self._close(client)
                    client = None
                    error = exc.message if isinstance(exc, ChannelError) else repr(exc)
                    log.warning("mailbox #%s: %s", self.channel_id, error)
                    try:
                        imap.record_error(self.db, self.channel_id, error)
                    except Exception:
                        log.exception("mailbox #%s: cannot record the error", self.channel_id)
                    self.stop_event.wait(min(MAX_BACKOFF, 5.0 * 2 ** min(failures - 1, 6)))
        finally:
            self._close(client)
            try:
                imap.release_lease(self.db, self.channel_id, self.owner)
            except Exception:
                log.exception("mailbox #%s: cannot release the lease", self.channel_id)

    def _wait(self, client: IMAPClient, mailbox: MailboxSettings) -> None:
        if mailbox.use_idle and client.has_capability("IDLE"):
            started = time.monotonic()
            # IDLE in slices, so that the lease is renewed while we wait.
            while not self.stop_event.is_set():
                remaining = IDLE_MAX_SECONDS - (time.monotonic() - started)
                if remaining <= 0:
                    return
                if imap.wait_for_mail(client, self.stop_event, min(remaining, 60.0)):
                    return
                if not imap.claim_lease(self.db, self.channel_id, self.owner, mailbox.folder):
                    return
        else:
            self.stop_event.wait(mailbox.poll_seconds)

    @staticmethod
    def _close(client: IMAPClient | None) -> None:
        if client is not None:
            imap.close(client)


class MailPoller:
    """Keeps one ``MailboxThread`` per active email channel, started and stopped as they change."""

    def __init__(self, db: Database, *, refresh_seconds: float = 30.0) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10000}"
        self.threads: dict[int, tuple[str, MailboxThread]] = {}
        self._generation = 0

    def refresh(self) -> None:
        wanted = active_mailboxes(self.db)
        for channel_id, (fingerprint, thread) in list(self.threads.items()):
            if wanted.get(channel_id) != fingerprint or not thread.is_alive():
                thread.stop()
                del self.threads[channel_id]
        for channel_id, fingerprint in wanted.items():
            if channel_id not in self.threads:
                self._generation += 1
                # Each thread its own lease owner: a replaced thread keeps the mailbox until it
                # has stopped, and only then does its successor get it.
                owner = f"{self.owner}:{self._generation}"
                thread = MailboxThread(self.db, channel_id, owner)
                thread.start()
                self.threads[channel_id] = (fingerprint, thread)

    def stop(self, timeout: float = 5.0) -> None:
        for _, thread in self.threads.values():
            thread.stop()
        for _, thread in self.threads.values():
            thread.join(timeout)
        self.threads.clear()

    async def run_forever(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.refresh)
                except Exception:
                    log.exception("mail poller refresh failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.refresh_seconds)
        finally:
            await asyncio.to_thread(self.stop)
