"""Micro-benchmark for the email parsing layer.

Run: python bench/email_parse.py [--rounds N]
Prints median parse rates (messages/s) for a small plain-text reply, a small
HTML newsletter-style message and a message with a 1 MB attachment, plus the
peak traced memory while parsing a message with a 25 MB attachment.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sportello.channels.email.parsing import parse_message

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "channels" / "email" / "corpus"


def _attachment_message(size: int) -> tuple[bytes, bytes]:
    data = os.urandom(size)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    raw = (
        b"From: Mario Rossi <mario@example.it>\r\n"
        b"To: supporto@acme.it\r\n"
        b"Subject: Allegato grande\r\n"
        b"Message-ID: <big@example.it>\r\n"
        b"Date: Mon, 3 Feb 2025 10:00:00 +0100\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato.\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="dati.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n"
    )
    return raw, data


def _rate(raw: bytes, seconds: float, rounds: int) -> float:
    rates = []
    for _ in range(rounds):
        count = 0
        start = time.perf_counter()
        while True:
            parse_message(raw)
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(count / elapsed)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()

    plain = (CORPUS / "gmail_reply_en.eml").read_bytes()
    html = (CORPUS / "gmail_reply_it.eml").read_bytes()
    html_only = (CORPUS / "html_only.eml").read_bytes()
    one_mb, _ = _attachment_message(1_000_000)
    for label, raw in (
        ("plain reply", plain),
        ("plain+html reply", html),
        ("html only", html_only),
        ("1 MB attachment", one_mb),
    ):
        rate = _rate(raw, args.seconds, args.rounds)
        print(f"{label:<18} {len(raw):>10,} B  median {rate:>9,.0f} msg/s")

    size = 25 * 1024 * 1024
    big, data = _attachment_message(size)
    peaks: list[float] = []
    for _ in range(3):
        gc.collect()
        tracemalloc.start()
        parsed = parse_message(big)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert hashlib.sha256(parsed.attachments[0].data).digest() == hashlib.sha256(data).digest()
        del parsed
    median_peak = statistics.median(peaks)
    print(
        f"25 MB attachment   raw {len(big) / 2**20:.1f} MiB"
        f"  median peak {median_peak / 2**20:.1f} MiB"
        f"  ({median_peak / size:.2f}x attachment size, input buffer excluded)"
    )


if __name__ == "__main__":
    main()
