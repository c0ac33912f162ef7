"""Benchmark: the offer-eligibility check of the front line (``frontline.service.offer_gate``,
called by ``routing.snapshot.load_agents`` on every routing run and by the status menu), and the
share it adds to the router's agent snapshot.

1,000 agents in 10 teams with 20 skills. Three cases: no required briefing active (the usual
day), 3 required briefings active (one per team, one per skill, one for everyone) with 90% of the
audience acknowledged, and 10 active. Prints medians (and p95) in milliseconds of:

* the gate for all 1,000 agents (one routing run's snapshot),
* the gate for one agent (the status menu going ``available``),
* ``routing.snapshot.load_agents`` (the whole snapshot, gate included).

    python bench/frontline.py [--postgres] [--agents 1000] [--rounds 30]

SQLite runs in a temporary directory; ``--postgres`` uses SPORTELLO_BENCH_DATABASE_URL or
postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_frontline (dropped and re-created).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

try:
    import sportello
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, delete, insert, text
from sqlalchemy.engine import make_url

import sportello.frontline.handlers  # noqa: F401  (registers the offer gate)
from sportello.accounts.models import Brand, Role, Team, User, team_member
from sportello.core.db import Database, utcnow
from sportello.frontline import service
from sportello.frontline.models import Briefing, BriefingReceipt
from sportello.models import metadata
from sportello.routing import snapshot as routing_snapshot
from sportello.routing.models import AgentSkill, AgentState, Skill

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_frontline"
TEAMS, SKILLS = 10, 20


def fresh_database(postgres: bool) -> Database:
    if postgres:
        url = os.environ.get("SPORTELLO_BENCH_DATABASE_URL", PG_DEFAULT)
        parsed = make_url(url)
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='sportello-bench-')}/bench.db"
    db = Database(url)
    metadata.create_all(db.engine)
    return db


def seed(db: Database, agents: int, rng: random.Random) -> None:
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(insert(Brand).values(id=1, name="Bench", slug="bench"))
        conn.execute(insert(Team), [{"id": t, "name": f"T{t}"} for t in range(1, TEAMS + 1)])
        conn.execute(
            insert(Skill),
            [{"id": s, "brand_id": 1, "name": f"S{s}"} for s in range(1, SKILLS + 1)],
        )
        conn.execute(
            insert(User),
            [
                {
                    "id": u,
                    "email": f"a{u}@bench.example",
                    "name": f"Agent {u}",
                    "role": Role.AGENT.value,
                    "password_hash": "x",
                }
                for u in range(1, agents + 1)
            ],
        )
        conn.execute(
            insert(team_member),
            [{"team_id": 1 + u % TEAMS, "user_id": u} for u in range(1, agents + 1)],
        )
        conn.execute(
            insert(AgentSkill),
            [
                {"user_id": u, "skill_id": s, "level": rng.randint(1, 5)}
                for u in range(1, agents + 1)
                for s in rng.sample(range(1, SKILLS + 1), 3)
            ],
        )
        conn.execute(
            insert(AgentState),
            [
                {
                    "user_id": u,
                    "presence": "available",
                    "presence_since": now,
                    "last_activity_at": now,
                    "idle_since": now - timedelta(seconds=u),
                    "capacity": {},
                    "open_sockets": 1,
                }
                for u in range(1, agents + 1)
            ],
        )


def briefings(db: Database, count: int, agents: int, rng: random.Random) -> None:
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(delete(BriefingReceipt))
        conn.execute(delete(Briefing))
        for b in range(1, count + 1):
            target = b % 3
            conn.execute(
                insert(Briefing).values(
                    id=b,
                    brand_id=1,
                    title=f"B{b}",
                    status="published",
                    required=True,
                    team_id=1 + b % TEAMS if target == 0 else None,
                    skill_id=1 + b % SKILLS if target == 1 else None,
                    published_at=now,
                    article_ids=[],
                    attachments=[],
                    quiz=[],
                )
            )
            rows = [
                {"briefing_id": b, "user_id": u, "acknowledged_at": now, "read_at": now}
                for u in range(1, agents + 1)
                if rng.random() < 0.9
            ]
            conn.execute(insert(BriefingReceipt), rows)


def measure(db: Database, fn: Callable[..., object], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        with db.session() as s:
            start = time.perf_counter()
            fn(s)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(1)
    db = fresh_database(args.postgres)
    seed(db, args.agents, rng)
    ids = list(range(1, args.agents + 1))
    print(f"{db.engine.dialect.name}, {args.agents} agents, median (p95) in ms of {args.rounds}")
    print(
        f"{'required briefings':>20} {'gate, all agents':>18} {'gate, one agent':>17} "
        f"{'load_agents':>13} {'held':>6}"
    )
    for count in (0, 3, 10):
        briefings(db, count, args.agents, rng)
        with db.session() as s:
            held = len(service.offer_gate(s, ids))
        all_ = measure(db, lambda s: service.offer_gate(s, ids), args.rounds)
        one = measure(db, lambda s: service.offer_gate(s, [7]), args.rounds)
        snap = measure(db, lambda s: routing_snapshot.load_agents(s), args.rounds)
        print(
            f"{count:>20} {all_[0]:>9.2f} ({all_[1]:6.2f}) {one[0]:>8.2f} ({one[1]:6.2f}) "
            f"{snap[0]:>6.1f} ({snap[1]:5.1f}) {held:>6}"
        )


if __name__ == "__main__":
    main()
