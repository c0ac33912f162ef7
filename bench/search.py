"""Benchmark: the console's search (sportello.search) over 10,000 customers and 100,000 messages.

Builds a shop with N customers (an email each, a phone for half), conversations of five messages
made of the demo's Italian sentences (so that the words are real) and its message index (the
same handler the dispatcher runs), then times ``service.search`` — the whole path: analysis,
typo fixes, the three groups, loading — for each kind of query, as a supervisor (sees all) and as
an agent (scoped to their team's queue). Prints p50 and p95 per kind, and the medians.

    python bench/search.py [--customers 10000] [--messages 100000] [--rounds 30] [--postgres [URL]]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    import sportello
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, insert, select
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url

import sportello.models  # noqa: F401  (every model)
from sportello import demo
from sportello.accounts.models import Brand, Role, Team, User
from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core import migrations
from sportello.core.db import Database, utcnow
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
from sportello.demo_articles import ARTICLES
from sportello.knowledge import actions as kb_actions
from sportello.knowledge.indexing import index_messages
from sportello.knowledge.models import ArticleStatus
from sportello.routing.models import Queue
from sportello.search import service

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_search"
PER_CONVERSATION = 5


def fresh_database(url: str) -> Database:
    if url.startswith("postgresql"):
        parsed = make_url(url)
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(sql(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    migrations.upgrade(url)
    return Database(url)


def sentences() -> list[str]:
    found: list[str] = []
    for topic in demo.TOPICS:
        found += list(topic.openers) + list(topic.notes)
        for thread in topic.threads:
            found += [thread.reply, thread.followup, thread.closing]
    return found


def build(db: Database, customers: int, messages: int, rng: random.Random) -> tuple[int, int]:
    """Returns (supervisor id, agent id)."""
    started = time.perf_counter()
    values = {
        "saluto": "Buongiorno",
        "firma": "Grazie",
        "nome": "Maria",
        "cliente": "Maria Rossi",
        "prodotto": "tovaglia in lino",
        "importo": "59,00",
        "ordine": "CL-12345",
        "data_ordine": "3 dicembre",
        "corriere": "BRT",
        "tracking": "123456789012",
        "agente": "Chiara",
    }
    texts = [s.format(**values) for s in sentences()]
    with db.transaction() as s:
        brand = Brand(name="Bench", slug="bench")
        s.add(brand)
        s.flush()
        boss = User(email="boss@bench.it", name="Boss", role=Role.SUPERVISOR)
        agent = User(email="agent@bench.it", name="Agent", role=Role.AGENT)
        s.add_all([boss, agent])
        s.flush()
        team = Team(name="Assistenza", members=[agent])
        s.add(team)
        s.flush()
        mine = Queue(brand_id=brand.id, name="Assistenza", team_id=team.id)
        other = Queue(brand_id=brand.id, name="Vendite")
        s.add_all([mine, other])
        s.flush()
        for _key, title, tags, body, status in ARTICLES:  # the shop's vocabulary
            kb_actions.do_create_article(
                s,
                brand_id=brand.id,
                by=None,
                title=title,
                body_md=body,
                tags=tags,
                status=ArticleStatus(status),
            )
        ids = (boss.id, agent.id, brand.id, mine.id, other.id)
    boss_id, agent_id, brand_id, mine_id, other_id = ids
    print(f"  help center in {time.perf_counter() - started:.0f} s", flush=True)
    # Real shops have namesakes: names repeat (the demo's lists give ~8,700 pairs), emails do not.
    people = [
        demo.Person(
            f"{first} {last}",
            first,
            f"{demo._ascii(first)}.{demo._ascii(last)}{i}@example.com",
            None,
        )
        for i in range(customers)
        for first, last in [(rng.choice(demo.FEMALE + demo.MALE), rng.choice(demo.SURNAMES))]
    ]
    print(f"  people in {time.perf_counter() - started:.0f} s", flush=True)
    now = utcnow()
    with db.transaction() as s:
        conn = s.connection()
        conn.execute(
            insert(Customer),
            [{"id": i + 1, "name": p.name, "created_at": now} for i, p in enumerate(people)],
        )
        identities = [
            {"customer_id": i + 1, "kind": IdentityKind.EMAIL, "value": p.email}
            for i, p in enumerate(people)
        ]
        identities += [
            {
                "customer_id": i + 1,
                "kind": IdentityKind.PHONE,
                "value": f"+39{rng.randint(3200000000, 3939999999)}",
            }
            for i in range(0, customers, 2)
        ]
        conn.execute(insert(CustomerIdentity), identities)
        conversations = messages // PER_CONVERSATION
        conn.execute(
            insert(Conversation),
            [
                {
                    "id": c + 1,
                    "number": 1000 + c,
                    "brand_id": brand_id,
                    "customer_id": rng.randint(1, customers),
                    "queue_id": mine_id if c % 2 else other_id,
                    "status": Status.CLOSED,
                    "subject": rng.choice(demo.TOPICS).subjects[0].format(**values),
                    "created_at": now,
                    "last_message_at": now,
                }
                for c in range(conversations)
            ],
        )
        rows = []
        for m in range(conversations * PER_CONVERSATION):
            rows.append(
                {
                    "id": m + 1,
                    "conversation_id": m // PER_CONVERSATION + 1,
                    "direction": Direction.INBOUND if m % 2 == 0 else Direction.OUTBOUND,
                    "text": " ".join(rng.sample(texts, 2)),
                    "created_at": now,
                }
            )
            if len(rows) == 10_000:
                conn.execute(insert(Message), rows)
                rows = []
        if rows:
            conn.execute(insert(Message), rows)
    total = conversations * PER_CONVERSATION
    print(f"  rows in {time.perf_counter() - started:.0f} s", flush=True)
    for at in range(0, total, 5000):
        index_messages(
            db,
            [
                ("message.received", {"message_id": i})
                for i in range(at + 1, min(at + 5001, total + 1))
            ],
        )
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return boss_id, agent_id


def queries(db: Database) -> dict[str, list[str]]:
    with db.session() as s:
        names = list(s.scalars(select(Customer.name).limit(200)))
        emails = list(
            s.scalars(
                select(CustomerIdentity.value)
                .where(CustomerIdentity.kind == IdentityKind.EMAIL)
                .limit(200)
            )
        )
        phones = list(
            s.scalars(
                select(CustomerIdentity.value)
                .where(CustomerIdentity.kind == IdentityKind.PHONE)
                .limit(200)
            )
        )
    return {
        "name": [n.split()[-1] for n in names[:40]],
        "full name": names[40:80],
        "name typo": [n.split()[-1][:-1] + "x" for n in names[80:120] if len(n.split()[-1]) > 4],
        "email": emails[:40],
        "email part": [e.split("@")[0] for e in emails[40:80]],
        "phone": [f"{p[3:6]} {p[6:]}" for p in phones[:40]],
        "number": [f"#{1000 + i * 37}" for i in range(40)],
        "common word": ["ordine", "rimborso", "spedizione", "grazie", "pacco"],
        "rare words": [
            "bonifico contabile",
            "preautorizzazione",
            "agriturismo",
            "citofono interno",
        ],
        "typo": ["rimborzo", "spedizzione", "fatturra", "pagamneto"],
        "accents": ["perche rimborso", "citta", "disponibilita"],
    }


def measure(
    db: Database, user_id: int, kinds: dict[str, list[str]], rounds: int
) -> dict[str, tuple[float, float]]:
    figures: dict[str, tuple[float, float]] = {}
    with db.session() as s:
        user = s.get_one(User, user_id)
        service.search(s, user, "riscaldamento")  # warm caches (vocabularies)
        for kind, qs in kinds.items():
            times = []
            for r in range(rounds):
                q = qs[r % len(qs)]
                started = time.perf_counter()
                service.search(s, user, q)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            figures[kind] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", nargs="?", const=PG_DEFAULT, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engines = [("SQLite FTS5", f"sqlite:///{tmp}/search.db")]
        if args.postgres:
            engines.append(("PostgreSQL", args.postgres))
        for label, url in engines:
            print(f"{label}: {args.customers:,} customers, {args.messages:,} messages", flush=True)
            db = fresh_database(url)
            boss, agent = build(db, args.customers, args.messages, random.Random(1))
            kinds = queries(db)
            for who, user_id in (("supervisor", boss), ("agent", agent)):
                figures = measure(db, user_id, kinds, args.rounds)
                for kind, (p50, p95) in figures.items():
                    print(f"  {who:10} {kind:12} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
                p50s = [f[0] for f in figures.values()]
                p95s = [f[1] for f in figures.values()]
                print(
                    f"  {who:10} MEDIAN over kinds: p50 {statistics.median(p50s):.1f} ms, "
                    f"p95 {statistics.median(p95s):.1f} ms; worst p95 {max(p95s):.1f} ms",
                    flush=True,
                )
            db.dispose()


if __name__ == "__main__":
    main()
