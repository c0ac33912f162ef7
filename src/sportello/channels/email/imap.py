"""Inbound mail over IMAP with ``imapclient``: UIDs, UIDVALIDITY, IDLE, MOVE.

One poll of a mailbox (``poll_mailbox``):

1. select the folder and read UIDVALIDITY. The first poll of a mailbox takes its unread mail
   only (not years of history); when UIDVALIDITY changed, every UID the mailbox had is void:
   take whatever we have not flagged as processed (the one door's Message-ID dedupe keeps that
   from duplicating anything). From then on: the UIDs above the last one stored;
2. fetch messages above the last UID stored, in batches bounded by size, and store each raw
   (bytes on disk, a row with (channel, folder, UIDVALIDITY, UID) unique) before anything else;
   the last UID advances in the same transaction;
3. process every stored, unprocessed message of the mailbox (``ingest.process_pending``), which
   also picks up what a crash left behind;
4. flag (``\\Seen`` and ``$Sportello``) or move what was processed or quarantined.

A crash anywhere repeats at most the step it was in, and each step is idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors
from sqlalchemy import select, update

from sportello.channels.base import ChannelError
from sportello.channels.email import actions, ingest
from sportello.channels.email.mailbox import MailboxSettings
from sportello.channels.email.models import EmailRaw, MailboxState, RawStatus
from sportello.channels.email.smtp import CheckResult, connection_error
from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.core.db import Database, utcnow

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = b"$Sportello"
FETCH_BATCH_BYTES = 32 * 1024 * 1024
FETCH_BATCH_COUNT = 50
LEASE = timedelta(minutes=5)


def _where(mailbox: MailboxSettings) -> str:
    return f"{mailbox.imap_host}:{mailbox.imap_port}"


def _server_text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return " ".join(text.split())[:500]


def translate_error(exc: BaseException, where: str) -> ChannelError:
    """Any IMAP or socket error as a ``ChannelError``: our words, the server's as the detail."""
    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, imap_errors.LoginError):
        return ChannelError(
            "the IMAP server refused the user name or password",
            permanent=True,
            detail=f"{where}: {_server_text(exc)}",
        )
    if isinstance(exc, imap_errors.CapabilityError):
        return ChannelError(
            "the IMAP server does not support what was asked",
            permanent=True,
            detail=f"{where}: {_server_text(exc)}",
        )
    if isinstance(exc, imap_errors.IMAPClientAbortError):
        return ChannelError(
            "the IMAP server closed the connection", detail=f"{where}: {_server_text(exc)}"
        )
    if isinstance(exc, imap_errors.IMAPClientError):
        return ChannelError(
            "the IMAP server reported an error", detail=f"{where}: {_server_text(exc)}"
        )
    return connection_error(exc, where, "IMAP")


def connect(mailbox: MailboxSettings, password: str) -> IMAPClient:
    """A logged-in connection; raises ``ChannelError`` in plain words."""
    where = _where(mailbox)
    client: IMAPClient | None = None
    try:
        context = ssl.create_default_context()
        client = IMAPClient(
            mailbox.imap_host,
            port=mailbox.imap_port,
            ssl=mailbox.imap_security == "tls",
            ssl_context=context if mailbox.imap_security == "tls" else None,
            timeout=mailbox.timeout,
        )
        if mailbox.imap_security == "starttls":
            client.starttls(context)
        client.login(mailbox.imap_user, password)
        return client
    except Exception as exc:
        if client is not None:
            close(client)
        raise translate_error(exc, where) from None


def close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):  # already broken: nothing more to do
            client.shutdown()


def check(mailbox: MailboxSettings, password: str) -> CheckResult:
    """Log in and open the folder(s): what the "test connection" button does."""
    try:
        client = connect(mailbox, password)
    except ChannelError as exc:
        return CheckResult.failed(exc)
    try:
        info = client.select_folder(mailbox.folder, readonly=True)
        if mailbox.processed_action == "move" and not client.folder_exists(
            mailbox.processed_folder
        ):
            return CheckResult(
                False,
                "IMAP folder %(folder)s does not exist",
                {"folder": mailbox.processed_folder},
                detail=_where(mailbox),
            )
        idle = client.has_capability("IDLE")
    except imap_errors.IMAPClientError as exc:
        return CheckResult(
            False,
            "IMAP folder %(folder)s cannot be opened",
            {"folder": mailbox.folder},
            detail=f"{_where(mailbox)}: {_server_text(exc)}",
        )
    except Exception as exc:
        return CheckResult.failed(translate_error(exc, _where(mailbox)))
    finally:
        close(client)
    count = int(info.get(b"EXISTS", 0))
    params: dict[str, str | int] = {
        "server": _where(mailbox),
        "count": count,
        "folder": mailbox.folder,
    }
    if idle:
        return CheckResult(
            True,
            "IMAP %(server)s: connected, %(count)s messages in %(folder)s, IDLE supported",
            params,
        )
    return CheckResult(
        True,
        "IMAP %(server)s: connected, %(count)s messages in %(folder)s, no IDLE: polling",
        params,
    )


# --------------------------------------------------------------------------- leases


def claim_lease(db: Database, channel_id: int, owner: str, folder: str) -> bool:
    """Only one process fetches a mailbox at a time; a dead one's lease expires."""
    now = utcnow()
    with db.transaction() as session:
        state = session.get(MailboxState, channel_id)
        if state is None:
            session.add(
                MailboxState(channel_id=channel_id, folder=folder, lease_owner=owner,
                             lease_until=now + LEASE)
            )  # fmt: skip
            return True
        claimed = session.execute(
            update(MailboxState)
            .where(MailboxState.channel_id == channel_id)
            .where(
                (MailboxState.lease_owner.is_(None))
                | (MailboxState.lease_owner == owner)
                | (MailboxState.lease_until < now)
            )
            .values(lease_owner=owner, lease_until=now + LEASE)
        )
        return bool(getattr(claimed, "rowcount", 0))


def release_lease(db: Database, channel_id: int, owner: str) -> None:
    with db.transaction() as session:
        session.execute(
            update(MailboxState)
            .where(MailboxState.channel_id == channel_id, MailboxState.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


# --------------------------------------------------------------------------- one poll


@dataclass
class PollReport:
    fetched: int = 0
    processed: int = 0
    quarantined: int = 0
    marked: int = 0
    uidvalidity_reset: bool = False
    skipped: bool = False  # another process holds the mailbox


def _batches(sizes: dict[int, int]) -> Iterable[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in sorted(sizes):
        if batch and (total + sizes[uid] > FETCH_BATCH_BYTES or len(batch) >= FETCH_BATCH_COUNT):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        yield batch


def load_mailbox(db: Database, channel_id: int) -> tuple[MailboxSettings, str]:
    with db.session() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.kind != "email":
            raise ChannelError(f"no email channel #{channel_id}", permanent=True)
        config = config_for(channel)
    return MailboxSettings.from_settings(config.settings), config.secrets.get("imap_password", "")


def _sync_uidvalidity(
    db: Database, channel_id: int, folder: str, uidvalidity: int, report: PollReport
) -> tuple[int, str]:
    """The last UID stored under this folder and UIDVALIDITY (0 after a change), and the mode of
    this fetch: "normal" (UIDs above the last), "initial" (the first poll of a mailbox: unread
    mail only, not years of history) or "reset" (after a UIDVALIDITY change: all that we did
    not flag as processed; Message-ID dedupe catches the rest)."""
    mode = "normal"
    with db.transaction() as session:
        state = session.get(MailboxState, channel_id)
        if state is None:
            state = MailboxState(channel_id=channel_id, folder=folder)
            session.add(state)
        if state.uidvalidity != uidvalidity or state.folder != folder:
            if state.uidvalidity is not None:
                log.warning(
                    "mailbox #%s: UIDVALIDITY of %s changed (%s -> %s): fetching again from UID 1",
                    channel_id, folder, state.uidvalidity, uidvalidity,
                )  # fmt: skip
                report.uidvalidity_reset = True
            mode = "reset" if state.uidvalidity is not None else "initial"
            state.folder = folder
            state.uidvalidity = uidvalidity
            state.last_uid = 0
        return int(state.last_uid), mode


def _fetch_new(
    db: Database,
    client: IMAPClient,
    channel_id: int,
    folder: str,
    uidvalidity: int,
    last_uid: int,
    report: PollReport,
    *,
    mode: str = "normal",
    uidnext: int | None = None,
    keywords: bool = True,
) -> None:
    unprocessed: list[str | bytes] = ["UNKEYWORD", PROCESSED_KEYWORD] if keywords else []
    criteria: list[str | bytes]
    if mode == "normal":
        criteria = ["UID", f"{last_uid + 1}:*"]
    elif mode == "initial":
        criteria = ["UNSEEN", *unprocessed]
    else:
        criteria = unprocessed or ["ALL"]
    uids = sorted(int(u) for u in client.search(criteria) if int(u) > last_uid)
    if mode != "normal" and uidnext:
        # From now on, everything above what the mailbox held at this poll.
        with db.transaction() as session:
            session.execute(
                update(MailboxState)
                .where(MailboxState.channel_id == channel_id)
                .values(last_uid=max(uidnext - 1, last_uid))
            )
    if not uids:
        return
    sizes = {
        int(uid): int(data.get(b"RFC822.SIZE", 0))
        for uid, data in client.fetch(uids, ["RFC822.SIZE"]).items()
    }
    for batch in _batches(sizes):
        # Too large to keep: recorded without fetching (an empty body stands in for it).
        big = [uid for uid in batch if sizes[uid] > actions.MAX_RAW_BYTES]
        wanted = [uid for uid in batch if uid not in big]
        fetched = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
        fetched.update({uid: {b"BODY[]": b""} for uid in big})
        with db.transaction() as session:
            for uid in batch:
                data = fetched.get(uid, {}).get(b"BODY[]")
                if not isinstance(data, bytes):
                    log.warning(
                        "mailbox #%s: UID %s vanished before it was fetched", channel_id, uid
                    )
                    continue
                if actions.do_store_raw(
                    session,
                    channel_id=channel_id,
                    folder=folder,
                    uidvalidity=uidvalidity,
                    uid=uid,
                    data=data,
                    size=sizes[uid],
                ):
                    report.fetched += 1
            session.execute(
                update(MailboxState)
                .where(MailboxState.channel_id == channel_id, MailboxState.last_uid < max(batch))
                .values(last_uid=max(batch))
            )
        del fetched


def _mark_done(
    db: Database,
    client: IMAPClient,
    mailbox: MailboxSettings,
    channel_id: int,
    uidvalidity: int,
    report: PollReport,
    *,
    keywords: bool = True,
) -> None:
    with db.session() as session:
        rows = session.execute(
            select(EmailRaw.id, EmailRaw.uid).where(
                EmailRaw.channel_id == channel_id,
                EmailRaw.folder == mailbox.folder,
                EmailRaw.uidvalidity == uidvalidity,
                EmailRaw.status != RawStatus.RECEIVED,
                EmailRaw.server_done.is_(False),
            )
        ).all()
    if not rows:
        return
    for start in range(0, len(rows), 200):
        chunk = rows[start : start + 200]
        uids = [int(r.uid) for r in chunk]
        client.add_flags(uids, [b"\\Seen", *([PROCESSED_KEYWORD] if keywords else [])], silent=True)
        if mailbox.processed_action == "move" and mailbox.processed_folder:
            if client.has_capability("MOVE"):
                client.move(uids, mailbox.processed_folder)
            else:
                client.copy(uids, mailbox.processed_folder)
                client.delete_messages(uids, silent=True)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(uids)
                else:
                    client.expunge()
        with db.transaction() as session:
            actions.do_mark_server_done(session, raw_ids=[int(r.id) for r in chunk])
        report.marked += len(chunk)


def poll_mailbox(db: Database, channel_id: int, client: IMAPClient | None = None) -> PollReport:
    """One full poll (see the module's doc). Connects when no open ``client`` is given."""
    mailbox, password = load_mailbox(db, channel_id)
    report = PollReport()
    own = client is None
    if client is None:
        client = connect(mailbox, password)
    try:
        info = client.select_folder(mailbox.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        last_uid, mode = _sync_uidvalidity(db, channel_id, mailbox.folder, uidvalidity, report)
        permanent = info.get(b"PERMANENTFLAGS") or ()
        keywords = b"\\*" in permanent or PROCESSED_KEYWORD in permanent
        _fetch_new(
            db,
            client,
            channel_id,
            mailbox.folder,
            uidvalidity,
            last_uid,
            report,
            mode=mode,
            uidnext=int(info[b"UIDNEXT"]) if info.get(b"UIDNEXT") else None,
            keywords=keywords,
        )
        ingested = ingest.process_pending(db, channel_id)
        report.processed, report.quarantined = ingested.processed, ingested.quarantined
        _mark_done(db, client, mailbox, channel_id, uidvalidity, report, keywords=keywords)
    except ChannelError:
        raise
    except Exception as exc:
        raise translate_error(exc, _where(mailbox)) from exc
    finally:
        if own:
            close(client)
    with db.transaction() as session:
        state = session.get(MailboxState, channel_id)
        if state is not None:
            state.last_poll_at = state.last_ok_at = utcnow()
            state.last_error = None
    return report


def record_error(db: Database, channel_id: int, error: str) -> None:
    with db.transaction() as session:
        state = session.get(MailboxState, channel_id)
        if state is not None:
            state.last_poll_at = utcnow()
            state.last_error = error[:2000]


def wait_for_mail(client: IMAPClient, stop: threading.Event, seconds: float) -> bool:
    """IMAP IDLE until the server reports new mail, ``seconds`` pass or ``stop`` is set."""
    deadline = time.monotonic() + seconds
    client.idle()
    try:
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            responses: Sequence[Any] = client.idle_check(timeout=min(left, 1.0))
            if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                return True
        return False
    finally:
        client.idle_done()
