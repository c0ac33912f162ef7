"""Quality sampling over a large table of resolved conversations.

    python bench/quality.py                      # SQLite, 500,000 conversation facts, 120 agents
    python bench/quality.py --scale 0.2          # 100,000 facts
    python bench/quality.py --postgres           # postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_quality

The sampling job reads the reports' per-conversation facts (``report_fact``, one row a conversation,
indexed by ``resolved_at``), 60 days of history, a fifth of it already reviewed, a CSAT answer
for one conversation in four. Prints the median of 5 runs of one rule (``do_run_rule``: the
sampling statement, the reviewers and the inserts of the reviews it assigns, rolled back after
each run) for each method: random, low CSAT, longest handle time, and random limited to a team.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_quality"
DAYS = 60
AGENTS = 120
BATCH = 20_000


def fresh_database(postgres: bool) -> str:
    if not postgres:
        path = Path(tempfile.mkdtemp(prefix="bench-quality-")) / "bench.db"
        return f"sqlite:///{path}"
    url = make_url(PG_URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    return PG_URL


def load(db, n: int, now: datetime, rng: random.Random):  # type: ignore[no-untyped-def]
    from sportello.accounts.models import Brand, Role, Team, User, team_member
    from sportello.quality import actions
    from sportello.quality.models import Review, ReviewSource, ReviewStatus
    from sportello.reports.models import ReportFact
    from sportello.surveys.models import SurveyResponse

    with db.transaction() as s:
        brand = s.scalar(select(Brand))
        for i in range(3):
            s.add(User(email=f"sup{i}@bench.example", name=f"Sup {i}", role=Role.SUPERVISOR))
        team = Team(name="Team A")
        s.add(team)
        agents = [
            User(email=f"a{i}@bench.example", name=f"A {i}", role=Role.AGENT) for i in range(AGENTS)
        ]
        s.add_all(agents)
        s.flush()
        s.execute(insert(team_member), [{"team_id": team.id, "user_id": a.id} for a in agents[:30]])
        card = actions.do_save_scorecard(
            s, brand_id=brand.id, data=actions.default_scorecard_data("Bench")
        )
        brand_id, agent_ids, card_id, team_id = brand.id, [a.id for a in agents], card.id, team.id
    started = time.perf_counter()
    facts, reviews, answers, customers, conversations = [], [], [], [], []
    for cid in range(1, n + 1):
        resolved = now - timedelta(seconds=rng.randrange(DAYS * 86400))
        agent = rng.choice(agent_ids)
        customers.append(
            {"id": cid, "name": f"Cliente {cid}", "notes": "", "created_at": now, "updated_at": now}
        )
        conversations.append(
            {
                "id": cid,
                "number": 100000 + cid,
                "brand_id": brand_id,
                "customer_id": cid,
                "assignee_id": agent,
                "status": "resolved",
                "priority": "normal",
                "subject": "Richiesta",
                "created_at": resolved - timedelta(minutes=30),
                "updated_at": resolved,
                "last_message_at": resolved,
                "resolved_at": resolved,
                "message_count": 4,
                "preview": "",
            }
        )
        facts.append(
            {
                "conversation_id": cid,
                "brand_id": brand_id,
                "channel_id": 0,
                "queue_id": rng.randrange(1, 5),
                "agent_id": agent,
                "resolver_id": agent,
                "customer_id": cid,
                "created_at": resolved - timedelta(minutes=30),
                "resolved_at": resolved,
                "resolution_seconds": 1800,
                "handle_seconds": rng.randrange(60, 3600),
                "contribution": [],
                "updated_at": now,
            }
        )
        if rng.random() < 0.2:
            reviews.append(
                {
                    "brand_id": brand_id,
                    "scorecard_id": card_id,
                    "conversation_id": cid,
                    "agent_id": agent,
                    "reviewer_id": None,
                    "source": ReviewSource.RANDOM,
                    "status": ReviewStatus.DONE,
                    "week": resolved.date(),
                    "created_at": resolved,
                    "critical_failed": False,
                    "comment": "",
                    "coaching_note": "",
                    "dispute_status": "none",
                    "dispute_text": "",
                    "dispute_answer": "",
                }
            )
        if rng.random() < 0.25:
            answers.append(
                {
                    "brand_id": brand_id,
                    "conversation_id": cid,
                    "customer_id": cid,
                    "kind": "csat",
                    "language": "it",
                    "code": f"b{cid}",
                    "status": "answered",
                    "score": rng.choice((1, 2, 3, 4, 5, 5, 5, 4)),
                    "extra_answers": [],
                    "scheduled_at": resolved,
                    "created_at": resolved,
                }
            )
    from sportello.conversations.models import Conversation
    from sportello.customers.models import Customer

    with db.engine.begin() as conn:
        for table, rows in (
            (Customer, customers),
            (Conversation, conversations),
            (ReportFact, facts),
            (Review, reviews),
            (SurveyResponse, answers),
        ):
            for i in range(0, len(rows), BATCH):
                conn.execute(insert(table), rows[i : i + BATCH])
        conn.exec_driver_sql("ANALYZE")
    print(
        f"load: {n:,} facts, {len(reviews):,} reviews, {len(answers):,} answers in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return brand_id, card_id, team_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import os

    os.environ.setdefault("SPORTELLO_SECRET_KEY", "bench-secret")
    from sportello.cli import ensure_defaults
    from sportello.core.db import Database
    from sportello.quality import actions
    from sportello.quality.models import SampleMethod, SampleRule

    url = fresh_database(args.postgres)
    os.environ["SPORTELLO_DATABASE_URL"] = url
    from sportello.core import migrations

    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    now = datetime.now(UTC).replace(microsecond=0)
    n = int(500_000 * args.scale)
    brand_id, card_id, team_id = load(db, n, now, random.Random(7))
    cases = [
        ("random, 3 per agent", SampleMethod.RANDOM, 3, None),
        ("low CSAT, 2 per agent", SampleMethod.LOW_CSAT, 2, None),
        ("long handle, 2 per agent", SampleMethod.LONG_HANDLE, 2, None),
        ("random, one team (30 agents)", SampleMethod.RANDOM, 3, team_id),
    ]
    print(f"{'rule':32} {'median ms':>10} {'min ms':>8} {'reviews':>8}")
    for label, method, per_agent, team in cases:
        times, created = [], 0
        for _ in range(args.runs):
            with db.session(write=True) as s:
                rule = SampleRule(
                    brand_id=brand_id,
                    name=label,
                    scorecard_id=card_id,
                    method=method,
                    per_agent=per_agent,
                    team_id=team,
                )
                s.add(rule)
                s.flush()
                started = time.perf_counter()
                created = len(actions.do_run_rule(s, rule=rule, now=now))
                times.append((time.perf_counter() - started) * 1000)
                s.rollback()
        print(f"{label:32} {statistics.median(times):10.1f} {min(times):8.1f} {created:8d}")
    db.engine.dispose()


if __name__ == "__main__":
    main()
