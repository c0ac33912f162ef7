"""Email ingestion: raw RFC 822 messages stored, parsed and passed through the one door.

Run:  python bench/email_ingest.py [--messages N] [--rounds R]

The path measured is the poller's after the network: ``actions.do_store_raw`` (bytes on disk,
content-addressed, one row each, committed in batches of 50 as the poller does), then
``ingest.process_one`` per message (parse, threading, customer, conversation, message,
attachments, outbox event: one transaction each). SQLite in WAL mode, a fresh database per run.

Mix: 60% plain-text mails, 30% HTML mails (multipart/alternative), 10% with a 1 MB PDF-like
attachment; 30% of the plain/HTML ones answer an earlier message (In-Reply-To), so they thread.
Rates are messages/s, median of the rounds; the goal is 550/s (3x django-helpdesk's ~180/s).

Then a message with a 25 MB attachment is ingested in a subprocess under tracemalloc: its peak
traced memory must stay under 4x the attachment's size.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

GOAL = 550.0
HELPDESK = 183.0
MB = 1024 * 1024
BATCH = 50


def plain(n: int, reply_to: str | None) -> bytes:
    headers = (
        f"From: Cliente {n} <cliente{n % 400}@example.it>\r\n"
        "To: assistenza@negozio.it\r\n"
        f"Subject: {'Re: ' if reply_to else ''}Ordine {4000 + n % 400} non arrivato\r\n"
        f"Message-ID: <m{n}.{random.getrandbits(40):x}@example.it>\r\n"
        + (f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n" if reply_to else "")
        + "Date: Mon, 23 Nov 2026 10:15:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    body = (
        "Buongiorno,\r\nil mio ordine non =C3=A8 ancora arrivato, potete verificare?\r\n"
        "Grazie mille,\r\nMario\r\n\r\n"
        "Il giorno lun 23 nov 2026 alle 09:00 Negozio <assistenza@negozio.it> ha scritto:\r\n"
        "> Gentile cliente, abbiamo ricevuto il suo ordine.\r\n> Cordiali saluti\r\n"
    )
    return (headers + body).encode()


def html(n: int, reply_to: str | None) -> bytes:
    paragraphs = "".join(
        f'<p style=3D"color:#333">Paragrafo {i}: vorrei sapere lo stato del reso '
        f"numero {n}, <b>grazie</b>.</p>\r\n"
        for i in range(8)
    )
    return (
        f"From: Cliente {n} <cliente{n % 400}@example.it>\r\n"
        "To: assistenza@negozio.it\r\n"
        f"Subject: {'Re: ' if reply_to else ''}Reso {n % 400}\r\n"
        f"Message-ID: <h{n}.{random.getrandbits(40):x}@example.it>\r\n"
        + (f"In-Reply-To: {reply_to}\r\n" if reply_to else "")
        + "Date: Mon, 23 Nov 2026 10:15:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Vorrei sapere lo stato del reso numero {n}, grazie.\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"<html><head><style>p{{margin:0}}</style></head><body>{paragraphs}"
        "<script>alert(1)</script></body></html>\r\n"
        "--alt--\r\n"
    ).encode()


def with_attachment(n: int, size: int, data: bytes | None = None) -> bytes:
    payload = data if data is not None else os.urandom(size)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (
        (
            f"From: Cliente {n} <cliente{n % 400}@example.it>\r\n"
            "To: assistenza@negozio.it\r\n"
            f"Subject: Fattura {n}\r\n"
            f"Message-ID: <a{n}.{random.getrandbits(40):x}@example.it>\r\n"
            "Date: Mon, 23 Nov 2026 10:15:00 +0100\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n'
            "--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato la fattura.\r\n"
            "--mix\r\nContent-Type: application/pdf\r\n"
            f'Content-Disposition: attachment; filename="fattura-{n}.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + encoded
        + b"--mix--\r\n"
    )


def workload(count: int, seed: int) -> list[bytes]:
    random.seed(seed)
    messages: list[bytes] = []
    sent_ids: list[str] = []
    for n in range(count):
        roll = random.random()
        reply_to = random.choice(sent_ids) if sent_ids and random.random() < 0.3 else None
        if roll < 0.6:
            raw = plain(n, reply_to)
        elif roll < 0.9:
            raw = html(n, reply_to)
        else:
            raw = with_attachment(n, MB)
        mid = raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
        sent_ids.append(mid)
        messages.append(raw)
    return messages


def setup(tmp: Path):  # type: ignore[no-untyped-def]
    os.environ["SPORTELLO_DATA_DIR"] = str(tmp)
    os.environ["SPORTELLO_DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
    os.environ["SPORTELLO_SECRET_KEY"] = "bench-secret-key"
    from sportello.config import get_settings

    get_settings.cache_clear()
    from sportello.channels import actions as channels_actions
    from sportello.cli import ensure_defaults
    from sportello.core import migrations
    from sportello.core.db import Database

    migrations.upgrade(os.environ["SPORTELLO_DATABASE_URL"])
    db = Database(os.environ["SPORTELLO_DATABASE_URL"])
    ensure_defaults(db)
    with db.transaction() as s:
        from sqlalchemy import select

        from sportello.accounts.models import Brand

        brand_id = s.scalars(select(Brand.id)).first()
        channel, _ = channels_actions.do_create_channel(
            s,
            brand_id=brand_id,
            kind="email",
            name="Assistenza",
            queue=None,
            data={
                "address": "assistenza@negozio.it",
                "imap_host": "imap.negozio.invalid",
                "imap_password": "bench-password",
                "smtp_host": "smtp.negozio.invalid",
            },
        )
        return db, channel.id


def ingest_all(db, channel_id: int, messages: list[bytes]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from sportello.channels.email import actions, ingest

    for start in range(0, len(messages), BATCH):
        with db.transaction() as s:
            for uid, raw in enumerate(messages[start : start + BATCH], start + 1):
                row = actions.do_store_raw(
                    s, channel_id=channel_id, folder="INBOX", uidvalidity=1, uid=uid, data=raw
                )
                assert row is not None
    report = ingest.process_pending(db, channel_id)
    return report.processed, report.quarantined


def one_run(messages: list[bytes]) -> tuple[float, float]:
    """Messages per second of wall time, and per second of this process's CPU time (the second
    is the fairer figure on a shared machine)."""
    with tempfile.TemporaryDirectory(prefix="sportello-bench-") as tmp:
        db, channel_id = setup(Path(tmp))
        start, cpu = time.perf_counter(), time.process_time()
        processed, quarantined = ingest_all(db, channel_id, messages)
        elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
        db.dispose()
    if quarantined or processed != len(messages):
        raise SystemExit(f"bench run broken: {processed} processed, {quarantined} quarantined")
    return len(messages) / elapsed, len(messages) / cpu_used


def memory_child(size_mb: int) -> None:
    """In a fresh process: ingest one message with a ``size_mb`` MB attachment under tracemalloc."""
    import tracemalloc

    with tempfile.TemporaryDirectory(prefix="sportello-bench-mem-") as tmp:
        db, channel_id = setup(Path(tmp))
        from sportello.channels.email import actions, ingest

        raw = with_attachment(1, size_mb * MB)  # as IMAP hands it over, before we touch it
        tracemalloc.start()
        with db.transaction() as s:
            actions.do_store_raw(
                s, channel_id=channel_id, folder="INBOX", uidvalidity=1, uid=1, data=raw
            )
        store_peak = tracemalloc.get_traced_memory()[1]
        del raw  # the poller drops the fetched batch before processing
        tracemalloc.reset_peak()
        report = ingest.process_pending(db, channel_id)
        status = "processed" if report.processed == 1 else "quarantined"
        process_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        db.dispose()
    print(f"{status} {store_peak} {process_peak}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return

    import logging

    logging.disable(logging.WARNING)
    print(f"email ingest: {args.messages} messages/run, {args.rounds} runs, SQLite WAL")
    rates: dict[str, float] = {}
    kinds = {
        "mix (60% plain, 30% html, 10% 1 MB attachment)": lambda s: workload(args.messages, s),
        "plain only": lambda s: [plain(n, None) for n in range(args.messages)],
        "html only": lambda s: [html(n, None) for n in range(args.messages)],
        "1 MB attachment only": lambda s: [
            with_attachment(n, MB) for n in range(max(args.messages // 10, 20))
        ],
    }
    for name, make in kinds.items():
        runs = [one_run(make(seed)) for seed in range(args.rounds)]
        rates[name] = statistics.median(r[0] for r in runs)
        per_cpu = statistics.median(r[1] for r in runs)
        print(
            f"  {name:<48} {rates[name]:6.0f} msg/s wall, {per_cpu:6.0f} msg/s of CPU  (runs: "
            + ", ".join(f"{r[0]:.0f}" for r in runs)
            + ")"
        )
    mix = next(iter(rates.values()))
    verdict = "PASS" if mix >= GOAL else "FAIL"
    print(
        f"  goal {GOAL:.0f}/s on the mix: {verdict} ({mix / GOAL:.2f}x the goal, "
        f"{mix / HELPDESK:.1f}x django-helpdesk's {HELPDESK:.0f}/s)"
    )

    size_mb = 25
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(size_mb)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    status, store_peak, process_peak = out[0], int(out[1]), int(out[2])
    peak = max(store_peak, process_peak)
    limit = 4 * size_mb * MB
    print(
        f"  {size_mb} MB attachment: {status}; peak traced memory {peak / MB:.1f} MB "
        f"(store {store_peak / MB:.1f} MB, process {process_peak / MB:.1f} MB) = "
        f"{peak / (size_mb * MB):.2f}x its size, limit 4x: {'PASS' if peak < limit else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
