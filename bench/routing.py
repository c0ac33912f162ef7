"""Benchmark: the router on 1,000 agents and 20,000 waiting conversations across 50 queues.

Agents have random teams, skills (levels 1-5) and capacities; queues random required skills and
priorities; conversations random channel classes and priorities. Prints:

* in-process: planning decisions per second and p50 / p99 latency of one decision (choosing the
  agent for one conversation, capacity booked), on a snapshot loaded from the database;
* with the database: committed assignments (or offers) per second for a whole routing run
  (snapshot + plan + commit in batches under the agent locks), and p50 / p99 latency of a batch
  commit and per assignment within it.

    python bench/routing.py [--postgres] [--mode auto|push] [--batch 500] [--seed 1]

SQLite runs in a temporary directory; ``--postgres`` uses SPORTELLO_BENCH_DATABASE_URL or
postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_routing (dropped and re-created).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    import sportello  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import os

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from sportello.accounts.models import Brand, Role, Team, User, team_member
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Counter
from sportello.core.db import Database, utcnow
from sportello.customers.models import Customer
from sportello.models import metadata
from sportello.routing import actions as routing_actions
from sportello.routing import planner as routing_planner
from sportello.routing import snapshot as routing_snapshot
from sportello.routing.models import (
    AgentSkill,
    AgentState,
    Queue,
    QueueRouting,
    QueueSkill,
    Skill,
)

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_routing"
AGENTS, CONVERSATIONS, QUEUES, TEAMS, SKILLS = 1000, 20_000, 50, 10, 20
KINDS = ("chat", "voice", "email", "whatsapp")


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


def seed(db: Database, rng: random.Random, mode: str) -> None:
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(insert(Brand).values(id=1, name="Bench", slug="bench"))
        conn.execute(insert(Counter).values(name="conversation", value=0))
        conn.execute(insert(Team), [{"id": t + 1, "name": f"Team {t}"} for t in range(TEAMS)])
        conn.execute(
            insert(User),
            [
                {
                    "id": a + 1,
                    "email": f"agent{a}@bench.it",
                    "name": f"Agent {a}",
                    "role": Role.AGENT,
                    "password_hash": None,
                }
                for a in range(AGENTS)
            ],
        )
        members = set()
        for a in range(AGENTS):
            for t in rng.sample(range(TEAMS), rng.choice([1, 1, 2, 3])):
                members.add((t + 1, a + 1))
        conn.execute(insert(team_member), [{"team_id": t, "user_id": u} for t, u in members])
        conn.execute(
            insert(AgentState),
            [
                {
                    "user_id": a + 1,
                    "presence": "available",
                    "presence_since": now,
                    "last_activity_at": now,
                    "idle_since": now - timedelta(seconds=rng.randint(0, 3600)),
                    "capacity": {
                        "voice": rng.choice([0, 1, 1]),
                        "chat": rng.randint(1, 4),
                        "messaging": rng.randint(2, 8),
                        "email": rng.randint(5, 12),
                    },
                    "open_sockets": 0,
                }
                for a in range(AGENTS)
            ],
        )
        conn.execute(
            insert(Skill),
            [{"id": s + 1, "brand_id": 1, "name": f"Skill {s}"} for s in range(SKILLS)],
        )
        agent_skills = []
        for a in range(AGENTS):
            for s in rng.sample(range(SKILLS), rng.randint(3, 8)):
                agent_skills.append(
                    {"user_id": a + 1, "skill_id": s + 1, "level": rng.randint(1, 5)}
                )
        conn.execute(insert(AgentSkill), agent_skills)
        conn.execute(
            insert(Queue),
            [
                {
                    "id": q + 1,
                    "brand_id": 1,
                    "name": f"Queue {q}",
                    "team_id": q % TEAMS + 1,
                    "priority": rng.randint(0, 3),
                }
                for q in range(QUEUES)
            ],
        )
        conn.execute(
            insert(QueueRouting),
            [
                {
                    "queue_id": q + 1,
                    "mode": mode,
                    "offer_timeout_seconds": 30,
                    "overflow_queue_id": (q + 7) % QUEUES + 1 if q % 5 == 0 else None,
                    "overflow_after_seconds": 120 if q % 5 == 0 else None,
                }
                for q in range(QUEUES)
            ],
        )
        reqs = []
        for q in range(QUEUES):
            for s in rng.sample(range(SKILLS), rng.choice([0, 1, 1, 2])):
                reqs.append({"queue_id": q + 1, "skill_id": s + 1, "min_level": rng.randint(1, 3)})
        conn.execute(insert(QueueSkill), reqs)
        channels = []
        for q in range(QUEUES):
            for k, kind in enumerate(KINDS):
                channels.append(
                    {
                        "id": q * len(KINDS) + k + 1,
                        "brand_id": 1,
                        "kind": kind,
                        "name": f"{kind} {q}",
                        "public_id": f"ch{q}-{kind}",
                        "queue_id": q + 1,
                        "settings": {},
                        "secrets": {},
                    }
                )
        conn.execute(insert(Channel), channels)
        conn.execute(
            insert(Customer), [{"id": c + 1, "name": f"Cliente {c}"} for c in range(CONVERSATIONS)]
        )
        rows: list[dict[str, Any]] = []
        for c in range(CONVERSATIONS):
            q = rng.randrange(QUEUES)
            k = rng.choices(range(len(KINDS)), weights=[4, 1, 4, 3])[0]
            created = now - timedelta(seconds=rng.randint(0, 1800))
            rows.append(
                {
                    "id": c + 1,
                    "number": c + 1,
                    "brand_id": 1,
                    "channel_id": q * len(KINDS) + k + 1,
                    "customer_id": c + 1,
                    "queue_id": q + 1,
                    "status": "new",
                    "priority": rng.choices(["low", "normal", "high", "urgent"], [1, 6, 2, 1])[0],
                    "subject": "Bench",
                    "created_at": created,
                    "updated_at": created,
                    "last_message_at": created,
                }
            )
        conn.execute(insert(Conversation).values(), rows)
        if db.engine.dialect.name == "postgresql":
            for table in ("user", "team", "skill", "queue", "channel", "customer", "conversation"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f'(SELECT MAX(id) FROM "{table}"))'
                    )
                )
            conn.execute(text("ANALYZE"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(db: Database, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        t0 = time.perf_counter()
        with db.session() as session:
            snap = routing_snapshot.load_snapshot(session)
        load_s = time.perf_counter() - t0
        planner = routing_planner.Planner(snap.queues, snap.agents)
        latencies = []
        decided = 0
        t1 = time.perf_counter()
        for item in routing_planner.order_waiting(snap.waiting, snap.queues):
            s0 = time.perf_counter_ns()
            if planner.decide(item, snap.now) is not None:
                decided += 1
            latencies.append((time.perf_counter_ns() - s0) / 1000)
        plan_s = time.perf_counter() - t1
        result = {
            "snapshot_ms": load_s * 1000,
            "decisions": len(latencies),
            "assignable": decided,
            "decisions_per_s": len(latencies) / plan_s,
            "p50_us": statistics.median(latencies),
            "p99_us": pct(latencies, 0.99),
            "max_us": max(latencies),
        }
        if not best or result["decisions_per_s"] > best["decisions_per_s"]:
            best = result
    return best


def committed(db: Database, batch: int) -> dict[str, float]:
    batch_times: list[float] = []
    original = routing_actions.commit_batch

    def timed(session: Any, decisions: Any, **kw: Any) -> tuple[int, int]:
        t0 = time.perf_counter()
        out = original(session, decisions, **kw)
        session.flush()
        batch_times.append((time.perf_counter() - t0, len(decisions)))  # type: ignore[arg-type]
        return out

    routing_actions.commit_batch = timed  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        stats = routing_actions.route(db, batch_size=batch)
        wall = time.perf_counter() - t0
    finally:
        routing_actions.commit_batch = original  # type: ignore[assignment]
    per_item = [t / n * 1e6 for t, n in batch_times if n]  # type: ignore[misc]
    return {
        "planned": stats.planned,
        "applied": stats.applied,
        "dropped": stats.dropped,
        "wall_s": wall,
        "applied_per_s": stats.applied / wall,
        "batch_p50_ms": statistics.median(t for t, _ in batch_times) * 1000,  # type: ignore[misc]
        "batch_p99_ms": pct([t for t, _ in batch_times], 0.99) * 1000,  # type: ignore[misc]
        "per_assignment_p99_us": pct(per_item, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--mode", choices=("auto", "push"), default="auto")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    db = fresh_database(args.postgres)
    backend = db.engine.dialect.name
    t0 = time.perf_counter()
    seed(db, rng, args.mode)
    print(
        f"{backend}: seeded {AGENTS} agents, {CONVERSATIONS} conversations, {QUEUES} queues "
        f"in {time.perf_counter() - t0:.1f} s (mode {args.mode})"
    )
    r = in_process(db, args.rounds)
    print(
        f"in-process : {r['decisions']:.0f} decisions ({r['assignable']:.0f} assignable) "
        f"at {r['decisions_per_s']:,.0f}/s; decision p50 {r['p50_us']:.1f} µs, "
        f"p99 {r['p99_us']:.1f} µs, max {r['max_us']:.0f} µs; snapshot {r['snapshot_ms']:.0f} ms"
    )
    c = committed(db, args.batch)
    print(
        f"committed  : {c['applied']:.0f} of {c['planned']:.0f} planned "
        f"({c['dropped']:.0f} dropped) in {c['wall_s']:.2f} s = {c['applied_per_s']:,.0f}/s "
        f"(snapshot+plan+commit); batch of {args.batch} p50 {c['batch_p50_ms']:.0f} ms, "
        f"p99 {c['batch_p99_ms']:.0f} ms; per assignment p99 {c['per_assignment_p99_us']:.0f} µs"
    )
    goal = "meets" if c["applied_per_s"] >= 5000 else "misses"
    print(f"goal 5,000 committed/s: {goal} ({c['applied_per_s'] / 5000:.2f}x)")
    db.dispose()


if __name__ == "__main__":
    main()
