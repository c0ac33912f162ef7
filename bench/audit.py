"""The audit log's hot paths: the cost of one entry (inside the act's own transaction, and as a
transaction of its own), and the admins' searches over a large log (1,000,000 entries).

    python bench/audit.py                 # SQLite, 1,000,000 entries, medians of 5
    python bench/audit.py --rows 100000   # quicker
    python bench/audit.py --postgres      # postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_audit

Prints medians in milliseconds (per CPU: see bench/README.md about a busy machine).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

os.environ.setdefault("SPORTELLO_SECRET_KEY", "bench-audit-secret")

from sqlalchemy import create_engine, insert, text

ACTIONS = [
    "login.succeeded",
    "login.failed",
    "user.updated",
    "user.role_changed",
    "channel.settings_changed",
    "customer.merged",
    "customer.exported",
    "report.exported",
    "api_token.used",
    "two_factor.enabled",
]


def _median(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _url(args: argparse.Namespace, tmp: Path) -> str:
    if args.postgres:
        url = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_audit"
        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS sportello_bench_audit WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE sportello_bench_audit"))
        admin.dispose()
        return url
    return f"sqlite:///{tmp / 'audit.db'}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    from sportello.audit import actions as audit
    from sportello.audit import service
    from sportello.audit.models import AuditEntry
    from sportello.core import migrations
    from sportello.core.db import Database

    with tempfile.TemporaryDirectory() as tmpdir:
        url = _url(args, Path(tmpdir))
        migrations.upgrade(url)
        db = Database(url)

        class Actor:
            id = 7
            email = "elena@casalavanda.example"

        # ---- insert: inside the act's transaction (the marginal cost), and alone
        per_entry = []
        for _ in range(args.runs):
            with db.transaction() as s:
                start = time.perf_counter()
                for n in range(1000):
                    audit.record(
                        s,
                        "user.updated",
                        actor=Actor(),
                        target=("user", n, "chiara@casalavanda.example"),
                        changes=audit.diff({"role": "agent"}, {"role": "supervisor"}),
                    )
                s.flush()
                per_entry.append((time.perf_counter() - start) / 1000)
        alone = []
        for n in range(args.runs * 40):
            start = time.perf_counter()
            with db.transaction() as s:
                audit.record(s, "login.succeeded", actor=Actor(), target=("user", n, "x"))
            alone.append(time.perf_counter() - start)
        print(f"record() inside the act's transaction: {_median(per_entry):.3f} ms per entry")
        print(f"one entry in a transaction of its own: {_median(alone):.3f} ms")

        # ---- a large log: bulk rows over a year, 50 actors
        rng = random.Random(7)
        now = datetime.now(UTC)
        table = AuditEntry.__table__
        start = time.perf_counter()
        batch = []
        with db.engine.begin() as conn:
            for i in range(args.rows):
                actor = rng.randrange(1, 51)
                batch.append(
                    {
                        "at": now - timedelta(seconds=(args.rows - i) * 31_536_000 / args.rows),
                        "actor_id": actor,
                        "actor_label": f"user{actor}@casalavanda.example",
                        "action": ACTIONS[rng.randrange(len(ACTIONS))],
                        "target_type": "customer" if i % 3 else "user",
                        "target_id": str(rng.randrange(1, 20_000)),
                        "target_label": "",
                        "ip": "192.0.2.10",
                        "user_agent": "Mozilla/5.0",
                        "details": {"method": "password"},
                    }
                )
                if len(batch) == 10_000:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
        print(f"loaded {args.rows:,} entries in {time.perf_counter() - start:.1f} s")
        if db.is_sqlite:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE audit_entry")

        today = now.date()
        searches = {
            "newest page (no filter)": service.AuditFilter(),
            "by actor (id)": service.AuditFilter(actor="17"),
            "by actor (part of the email)": service.AuditFilter(actor="user17@"),
            "by action": service.AuditFilter(action="customer.exported"),
            "by action prefix (login.)": service.AuditFilter(action="login."),
            "by target (customer:4242)": service.AuditFilter(target="customer:4242"),
            "by date range (one week, a month ago)": service.AuditFilter(
                since=today - timedelta(days=37), until=today - timedelta(days=30)
            ),
            "actor + action + 90 days": service.AuditFilter(
                actor="17", action="login.failed", since=today - timedelta(days=90)
            ),
            "a rare action over the year": service.AuditFilter(
                action="two_factor.enabled", since=date(today.year - 1, today.month, 1)
            ),
        }
        print(f"search, a page of 100, median of {args.runs}:")
        for label, f in searches.items():
            samples = []
            for _ in range(args.runs):
                with db.session() as s:
                    start = time.perf_counter()
                    rows = service.search(s, f, limit=100)
                    samples.append(time.perf_counter() - start)
            print(f"  {label:42s} {_median(samples):8.2f} ms  ({len(rows)} rows)")
        samples = []
        for _ in range(max(1, args.runs // 2)):
            with db.session() as s:
                start = time.perf_counter()
                size = sum(
                    len(chunk)
                    for chunk in service.to_csv(
                        s, service.AuditFilter(actor="17", since=today - timedelta(days=30))
                    )
                )
                samples.append(time.perf_counter() - start)
        print(f"CSV export, one actor's month: {_median(samples):.1f} ms ({size:,} bytes)")
        db.dispose()


if __name__ == "__main__":
    main()
