"""Real mail servers on loopback: Dovecot for IMAP (its own config, Maildir under a temp dir) and
an aiosmtpd server that records what it receives. Nothing of ours is mocked."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.core.db import Database

DOVECOT = "/usr/sbin/dovecot"
IMAP_PASSWORD = "imap-Segreto-9431"
SMTP_USER = "sportello-smtp"
SMTP_PASSWORD = "smtp-Segreto-5517"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    port: int
    root: Path

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user, IMAP_PASSWORD)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw)
        finally:
            client.logout()

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        client = self.client(user)
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            return {int(uid): data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()}
        finally:
            client.logout()


def _dovecot_config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        internal, login = "dovecot", "dovenull"
        mail_user = "dovecot"
        uid = pwd.getpwnam(mail_user).pw_uid
    else:
        internal = login = mail_user = pwd.getpwuid(os.geteuid()).pw_name
        uid = os.geteuid()
    for path in (root / "mail",):
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, uid, pwd.getpwnam(mail_user).pw_gid)
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
passdb {{
  driver = static
  args = password={IMAP_PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed (Debian: dovecot-imapd; scripts/test-services)")
    root = Path(tempfile.mkdtemp(prefix="sportello-dovecot-"))
    root.chmod(0o755)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_dovecot_config(root, port))
    subprocess.run([DOVECOT, "-c", str(conf)], check=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start:\n{log}")
            time.sleep(0.1)
    try:
        yield Dovecot(port=port, root=root)
    finally:
        pid_file = root / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 15)
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool


@dataclass
class SmtpRecorder:
    """What the SMTP server received; ``reply`` makes it answer DATA with an error instead."""

    port: int
    messages: list[Received] = field(default_factory=list)
    reply: str | None = None
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply:
            return self.reply
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.content),
                bool(session.authenticated),
            )
        )
        return "250 2.0.0 OK queued"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpRecorder]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    recorder = SmtpRecorder(port=free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            recorder.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    # AUTH offered without TLS (loopback). Not *required*, which would make aiosmtpd warn on
    # every connection; the tests check that Sportello logged in (``authenticated``).
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=recorder.port,
        authenticator=authenticator,
        auth_required=False,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def smtp(smtp_server: SmtpRecorder) -> Iterator[SmtpRecorder]:
    smtp_server.messages.clear()
    smtp_server.logins.clear()
    smtp_server.reply = None
    yield smtp_server
    smtp_server.reply = None


@pytest.fixture
def mail_user() -> str:
    """A fresh Dovecot user (an empty mailbox) for each test."""
    return f"box-{uuid.uuid4().hex[:10]}"


def mailbox_data(
    dovecot: Dovecot, smtp: SmtpRecorder, user: str, **overrides: str
) -> dict[str, str]:
    data = {
        "address": "assistenza@negozio.it",
        "display_name": "Negozio Assistenza",
        "imap_host": "127.0.0.1",
        "imap_port": str(dovecot.port),
        "imap_security": "none",
        "imap_user": user,
        "imap_password": IMAP_PASSWORD,
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "smtp_security": "none",
        "smtp_user": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "poll_seconds": "5",
        "use_idle": "on",
    }
    data.update(overrides)
    return data


def make_mailbox(
    db: Database, personas: Any, data: dict[str, str], name: str = "Assistenza"
) -> Channel:
    with db.transaction() as s:
        channel, _ = channels_actions.do_create_channel(
            s,
            brand_id=personas.brand_id,
            kind="email",
            name=name,
            queue=personas.queue_assistenza,
            data=data,
        )
        return channel


@pytest.fixture
def mailbox(
    db: Database, personas: Any, dovecot: Dovecot, smtp: SmtpRecorder, mail_user: str
) -> Channel:
    return make_mailbox(db, personas, mailbox_data(dovecot, smtp, mail_user))


def eml(
    *,
    sender: str = "Mario Rossi <mario.rossi@example.it>",
    to: str = "assistenza@negozio.it",
    subject: str = "Ordine 4521 non arrivato",
    body: str = "Buongiorno,\nil mio ordine 4521 non è ancora arrivato.\nMario",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A plain customer message as a mail client would write it."""
    mid = message_id or f"<{uuid.uuid4().hex}@example.it>"
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: {mid}",
        "Date: Mon, 23 Nov 2026 10:15:00 +0100",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()
