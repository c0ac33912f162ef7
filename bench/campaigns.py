"""Campaign hot paths: scrub a list against the do-not-call set, and pick the next contact.

    python bench/campaigns.py                  # SQLite: 1,000,000 contacts vs 5,000,000 numbers
    python bench/campaigns.py --scale 0.05     # a quick run (50,000 vs 250,000)
    python bench/campaigns.py --postgres       # postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_campaigns

Prints, each the median of ``--runs``:
- scrub: starting a call campaign on the list = copying its entries into the campaign and
  blocking, set-based, the do-not-call numbers (brand and global), the opposition register
  (unless consent) and the rest of the rules (``statements.copy_list`` + ``statements.scrub``);
  peak resident memory of the process;
- import: ``do_import_list`` on a CSV (E.164 normalisation with phonenumbers, customer matched or
  created, entries written) on ``--import-rows`` rows, as rows/s;
- next contact: ``do_next_contact`` for 100 agents, one transaction each, against the running
  campaign (p50, p99 over ``--picks`` picks).
The do-not-call set and the list are written with bulk inserts (COPY on PostgreSQL) first; that
set-up is not measured.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_campaigns"
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Rome


def numbers(rng: random.Random, count: int, start: int) -> list[str]:
    """Distinct Italian mobile numbers in E.164: +393 followed by 9 digits from ``start``."""
    step = 7919  # prime: spreads the sequence over the space
    return [f"+393{(start + i * step) % 1_000_000_000:09d}" for i in range(count)]


def setup(url: str, scale: float) -> tuple[int, int, int]:
    from sportello.campaigns.models import CampaignList, CampaignListEntry, DoNotCall
    from sportello.cli import ensure_defaults
    from sportello.core.db import Database
    from sportello.models import metadata

    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    db = Database(url)
    ensure_defaults(db)
    rng = random.Random(7)
    dnc = int(5_000_000 * scale)
    listed = int(1_000_000 * scale)
    with db.transaction() as s:
        from sportello.accounts.models import Brand

        brand_id = s.scalar(select(Brand.id))
        lst = CampaignList(brand_id=brand_id, name="bench")
        s.add(lst)
        s.flush()
        list_id = lst.id
    # 5% of the list is on the do-not-call set; 1% on the opposition register.
    dnc_values = numbers(rng, dnc, 0)
    list_values = dnc_values[: listed // 20] + numbers(rng, listed - listed // 20, 500_000_000)
    now = NOW.isoformat()
    if db.engine.dialect.name == "postgresql":
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(
                "COPY do_not_call (brand_id, value, source, note, created_at) FROM STDIN"
            ) as cp:
                for i, v in enumerate(dnc_values):
                    cp.write_row(
                        (
                            brand_id if i % 2 else None,
                            v,
                            "rpo" if i % 50 == 0 else "manual",
                            "",
                            now,
                        )
                    )
            with cur.copy(
                "COPY campaign_list_entry (list_id, row_number, name, phone, params) FROM STDIN"
            ) as cp:
                for i, v in enumerate(list_values):
                    cp.write_row((list_id, i, "", v, "{}"))
            raw.commit()
        finally:
            raw.close()
    else:
        with db.transaction() as s:
            for start in range(0, dnc, 50_000):
                s.execute(
                    DoNotCall.__table__.insert(),
                    [
                        {
                            "brand_id": brand_id if i % 2 else None,
                            "value": v,
                            "source": "rpo" if i % 50 == 0 else "manual",
                            "note": "",
                            "created_at": NOW,
                        }
                        for i, v in enumerate(dnc_values[start : start + 50_000], start=start)
                    ],
                )
            for start in range(0, listed, 50_000):
                s.execute(
                    CampaignListEntry.__table__.insert(),
                    [
                        {"list_id": list_id, "row_number": i, "name": "", "phone": v, "params": {}}
                        for i, v in enumerate(list_values[start : start + 50_000], start=start)
                    ],
                )
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    db.dispose()
    return brand_id, list_id, listed


def scrub_once(url: str, brand_id: int, list_id: int, run: int) -> tuple[float, int, int]:
    from sqlalchemy import func

    from sportello.accounts.models import User
    from sportello.campaigns import actions
    from sportello.campaigns.models import (
        Campaign,
        CampaignContact,
        CampaignKind,
        ContactStatus,
        LegalBasis,
    )
    from sportello.core.db import Database

    db = Database(url)
    with db.transaction() as s:
        boss = s.scalar(select(User))
        campaign = actions.do_save_campaign(
            s,
            brand_id=brand_id,
            by=boss,
            data=actions.CampaignData(
                name=f"bench {run}",
                kind=CampaignKind.CALL,
                list_id=list_id,
                legal_basis=LegalBasis.LEGITIMATE_INTEREST,
            ),
        )
        campaign_id = campaign.id
    started = time.perf_counter()
    with db.transaction() as s:
        actions.do_start_campaign(s, campaign=s.get_one(Campaign, campaign_id), now=NOW)
    elapsed = time.perf_counter() - started
    with db.session() as s:
        total = s.scalar(select(func.count()).where(CampaignContact.campaign_id == campaign_id))
        blocked = s.scalar(
            select(func.count()).where(
                CampaignContact.campaign_id == campaign_id,
                CampaignContact.status == ContactStatus.BLOCKED,
            )
        )
    db.dispose()
    return elapsed, int(total or 0), int(blocked or 0)


def picks(url: str, campaign_id: int, count: int) -> list[float]:
    from sportello.accounts import actions as accounts_actions
    from sportello.accounts.models import Role, User
    from sportello.campaigns import actions
    from sportello.campaigns.models import Campaign
    from sportello.core.db import Database

    db = Database(url)
    with db.transaction() as s:
        agents = list(s.scalars(select(User).where(User.email.like("bench-agent-%"))))
        for n in range(len(agents), 100):
            agents.append(
                accounts_actions.do_create_user(
                    s,
                    email=f"bench-agent-{n}@example.it",
                    name=f"Agente {n}",
                    role=Role.AGENT,
                    password="x" * 12,
                )
            )
        ids = [a.id for a in agents]
    timings = []
    for n in range(count):
        agent_id = ids[n % len(ids)]
        started = time.perf_counter()
        with db.transaction() as s:
            agent = s.get_one(User, agent_id)
            contact = actions.do_next_contact(
                s, campaign=s.get_one(Campaign, campaign_id), agent=agent, now=NOW
            )
            assert contact is not None
            # the agent's disposition frees them for the next pick (not timed)
        timings.append(time.perf_counter() - started)
        with db.transaction() as s:
            actions.do_record_disposition(
                s,
                contact=s.merge(contact),
                agent=s.get_one(User, agent_id),
                disposition="reached",
                now=NOW,
            )
    db.dispose()
    return timings


def import_rate(url: str, brand_id: int, rows: int) -> float:
    from sportello.campaigns import actions
    from sportello.core.db import Database

    rng = random.Random(3)
    buffer = io.StringIO()
    buffer.write("Nome;Telefono;Email\n")
    for i in range(rows):
        buffer.write(
            f"Cliente {i};3{rng.randint(20, 99)} {rng.randint(1000000, 9999999)};c{i}@esempio.it\n"
        )
    data = buffer.getvalue().encode()
    db = Database(url)
    started = time.perf_counter()
    with db.transaction() as s:
        actions.do_import_list(
            s,
            brand_id=brand_id,
            name="import bench",
            filename="b.csv",
            data=data,
            mapping=actions.Mapping_(phone="Telefono", email="Email", name="Nome"),
            by=None,
        )
    elapsed = time.perf_counter() - started
    db.dispose()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--picks", type=int, default=1000)
    parser.add_argument("--import-rows", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("SPORTELLO_SECRET_KEY", "bench-secret-key")
    os.environ.setdefault("SPORTELLO_ARGON2_TIME_COST", "1")
    os.environ.setdefault("SPORTELLO_ARGON2_MEMORY_KIB", "1024")
    if args.postgres:
        url = PG_URL
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "sportello_bench_campaigns" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "sportello_bench_campaigns"'))
        admin.dispose()
    else:
        folder = tempfile.mkdtemp(prefix="bench-campaigns-")
        url = f"sqlite:///{folder}/bench.db"
    os.environ["SPORTELLO_DATABASE_URL"] = url
    started = time.perf_counter()
    brand_id, list_id, listed = setup(url, args.scale)
    print(
        f"set-up: {listed:,} list entries, {int(5_000_000 * args.scale):,} do-not-call numbers "
        f"in {time.perf_counter() - started:.1f} s ({make_url(url).get_backend_name()})"
    )
    scrubs = []
    for run in range(args.runs):
        elapsed, total, blocked = scrub_once(url, brand_id, list_id, run)
        scrubs.append(elapsed)
        print(f"  scrub run {run + 1}: {elapsed:.2f} s, {total:,} contacts, {blocked:,} blocked")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"scrub {listed:,} vs {int(5_000_000 * args.scale):,}: "
        f"median {statistics.median(scrubs):.2f} s; "
        f"peak RSS of the process {peak:.0f} MB (includes the set-up's lists)"
    )
    from sportello.campaigns.models import Campaign
    from sportello.core.db import Database

    db = Database(url)
    with db.session() as s:
        campaign_id = s.scalar(select(Campaign.id).order_by(Campaign.id.desc()))
    db.dispose()
    timings = sorted(picks(url, campaign_id, args.picks))
    p50 = timings[len(timings) // 2] * 1000
    p99 = timings[int(len(timings) * 0.99) - 1] * 1000
    print(f"next contact, 100 agents, {len(timings)} picks: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    rate = import_rate(url, brand_id, args.import_rows)
    print(f"import (normalise, match or create customers, write entries): {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
