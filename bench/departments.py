"""What the email channel's side door costs every inbound mail: recognising (or not) a
colleague's answer to a side conversation before customer threading. Prints medians.

    .venv/bin/python bench/departments.py [--rounds 7] [--mails 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sportello.channels.email.parsing import parse_message
from sportello.departments import handlers, links


def _mail(to: str, in_reply_to: str = "") -> bytes:
    headers = [
        "From: Mario Rossi <mario.rossi@example.it>",
        f"To: {to}",
        "Subject: Ordine 4521",
        "Message-ID: <m1@example.it>",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
        headers.append(f"References: <a@example.it> <b@example.it> {in_reply_to}")
    return ("\r\n".join(headers) + "\r\n\r\nBuongiorno\r\n").encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mails", type=int, default=20_000)
    args = ap.parse_args()
    cases = {
        "customer mail (no side token)": parse_message(
            _mail("assistenza@negozio.it", "<sportello.m1.12.abcdef@negozio.it>")
        ),
        "side answer (plus address)": parse_message(
            _mail(links.reply_address("assistenza@negozio.it", 42))
        ),
        "side answer (Message-ID only)": parse_message(
            _mail("assistenza@negozio.it", links.message_id(42, 7, "negozio.it"))
        ),
    }
    for name, parsed in cases.items():
        per_mail = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.mails):
                handlers._side_of(parsed)
            per_mail.append((time.perf_counter() - start) / args.mails * 1e6)
        print(f"{name:32s} median {statistics.median(per_mail):6.2f} µs a mail")


if __name__ == "__main__":
    main()
