"""Benchmark: one page of the inbox with the agent tools' filters and orders.

Fills a fresh SQLite database (or --database-url) with N conversations (Core inserts: the rows a
busy shop has after a year), a third with running SLA clocks, a fifth tagged, then times
``conversations.service.list_inbox`` (the query every inbox page and live refresh runs) for a
supervisor and for an agent, and prints the median and p95 milliseconds per page of 50.

    python bench/inbox_filters.py [--conversations 50000] [--runs 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

try:
    import sportello  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import insert, select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Brand, Role, User
from sportello.conversations import service
from sportello.conversations.models import Conversation, Tag, conversation_tag
from sportello.core import migrations
from sportello.core.db import Database
from sportello.customers.models import Customer
from sportello.routing.models import Queue, SlaClockRow

CASES = [
    ("all open, newest first", "open", {}),
    ("all open, oldest first", "open", {"sort": "oldest"}),
    ("mine (active)", "mine", {}),
    ("open + priority urgent", "open", {"priority": "urgent"}),
    ("open + tag", "open", {"tag": "reso"}),
    ("open + SLA breached", "open", {"sla": "breached"}),
    ("open + SLA at risk", "open", {"sla": "warning"}),
    ("open, by priority", "open", {"sort": "priority"}),
    ("open, by SLA due", "open", {"sort": "sla"}),
    ("all + status pending + unassigned", "all", {"status": "pending", "assignee": "none"}),
]


def fill(db: Database, n: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    from sportello.cli import ensure_defaults

    ensure_defaults(db)
    now = datetime.now(UTC)
    with db.transaction() as s:
        brand_id = s.scalars(select(Brand.id)).one()
        boss = accounts_actions.do_create_user(
            s, email="boss@bench.example", name="Boss", role=Role.SUPERVISOR, password="x" * 12
        )
        agent = accounts_actions.do_create_user(
            s, email="agent@bench.example", name="Agent", role=Role.AGENT, password="x" * 12
        )
        teams = [accounts_actions.do_create_team(s, name=f"T{i}", members=[]) for i in range(4)]
        teams[0].members = [agent]
        queues = [Queue(brand_id=brand_id, name=f"Q{i}", team_id=teams[i].id) for i in range(4)]
        s.add_all(queues)
        s.flush()
        queue_ids = [q.id for q in queues]
        ids = (boss.id, agent.id)
    with db.transaction() as s:
        s.execute(insert(Customer), [{"name": f"Cliente {i}", "notes": ""} for i in range(n)])
        customer_ids = list(s.scalars(select(Customer.id)))
        statuses = ["new", "open", "pending", "resolved", "closed"]
        rows = []
        for i in range(n):
            at = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
            rows.append(
                {
                    "number": 1001 + i,
                    "brand_id": brand_id,
                    "customer_id": customer_ids[i],
                    "queue_id": rng.choice(queue_ids),
                    "assignee_id": rng.choice([None, ids[1], ids[0]]),
                    "status": rng.choices(statuses, [1, 2, 1, 3, 6])[0],
                    "priority": rng.choices(["low", "normal", "high", "urgent"], [1, 8, 2, 1])[0],
                    "subject": "",
                    "created_at": at,
                    "updated_at": at,
                    "last_message_at": at,
                    "message_count": 2,
                    "preview": "",
                }
            )
        s.execute(insert(Conversation), rows)
        conv_ids = list(s.scalars(select(Conversation.id)))
        tag = Tag(name="reso")
        s.add(tag)
        s.flush()
        s.execute(
            insert(conversation_tag),
            [{"conversation_id": c, "tag_id": tag.id} for c in conv_ids[::5]],
        )
        clocks = []
        for c in conv_ids[::3]:
            due = now + timedelta(minutes=rng.randrange(-600, 600))
            clocks.append(
                {
                    "conversation_id": c,
                    "kind": "first_response",
                    "calendar": {},
                    "state": {},
                    "warning_fraction": 0.8,
                    "due_at": due,
                    "warning_at": due - timedelta(minutes=30),
                }
            )
        s.execute(insert(SlaClockRow), clocks)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    migrations.upgrade(url)
    db = Database(url)
    t0 = time.perf_counter()
    boss_id, agent_id = fill(db, args.conversations, args.seed)
    print(
        f"{args.conversations:,} conversations filled in {time.perf_counter() - t0:.1f} s "
        f"({url.split(':')[0]})"
    )
    print(f"{'case':40} {'who':10} {'median ms':>10} {'p95 ms':>8} {'rows':>5}")
    for name, view, params in CASES:
        for who, user_id in (("supervisor", boss_id), ("agent", agent_id)):
            samples = []
            rows = 0
            with db.session() as s:
                user = s.get_one(User, user_id)
                inbox = service.InboxFilter(view, filters=service.Filters.parse(params))
                for _ in range(args.runs):
                    start = time.perf_counter()
                    page = service.list_inbox(s, user, inbox)
                    samples.append((time.perf_counter() - start) * 1000)
                    rows = len(page.rows)
                    s.expunge_all()
            samples.sort()
            p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
            print(f"{name:40} {who:10} {statistics.median(samples):10.1f} {p95:8.1f} {rows:5}")
    db.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
