"""Import speed: a synthetic Zendesk-shaped export (tickets with embedded comments, users,
organizations) read and written in bulk, and the same file again (everything skipped).

    python bench/imports.py                       # 20,000 conversations, 100,000 messages, SQLite
    python bench/imports.py --conversations 2000  # quicker
    python bench/imports.py --postgres            # database sportello_bench_imports on 127.0.0.1
    python bench/imports.py --index               # with the search index kept (as the job does)

Prints the file's size, the time to parse it, the import's wall time and rows/s (customers +
conversations + messages written per second), the re-run's time, and the dry run's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

WORDS = [
    "ordine",
    "spedizione",
    "pacco",
    "corriere",
    "reso",
    "rimborso",
    "fattura",
    "taglia",
    "colore",
    "consegna",
    "indirizzo",
    "pagamento",
    "carta",
    "bonifico",
    "sconto",
    "codice",
    "garanzia",
    "difetto",
    "sostituzione",
    "ritardo",
    "negozio",
]


def _url(postgres: bool, tmp: Path) -> str:
    if postgres:
        url = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_imports"
        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS sportello_bench_imports WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE sportello_bench_imports"))
        admin.dispose()
        return url
    return f"sqlite:///{tmp / 'imports.db'}"


def synthetic_zendesk(conversations: int, messages: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    customers = max(conversations // 2, 1)
    users = [
        {
            "id": 1000 + n,
            "name": f"Cliente {n}",
            "email": f"cliente{n}@example.com",
            "phone": f"+39 3{rng.randint(10, 99)} {rng.randint(1000000, 9999999)}",
            "role": "end-user",
            "organization_id": 1 + n % 50,
            "locale": "it",
        }
        for n in range(customers)
    ]
    users += [
        {"id": 10 + n, "name": f"Agente {n}", "email": f"agente{n}@example.com", "role": "agent"}
        for n in range(20)
    ]
    organizations = [
        {"id": n, "name": f"Azienda {n} S.r.l.", "domain_names": []} for n in range(1, 51)
    ]
    per = max(messages // conversations, 1)
    tickets = []
    comment_id = 1
    for n in range(conversations):
        requester = 1000 + rng.randrange(customers)
        agent = 10 + rng.randrange(20)
        start = 1_600_000_000 + n * 600
        comments = []
        for k in range(per):
            author = requester if k % 2 == 0 else agent
            body = " ".join(rng.choices(WORDS, k=rng.randint(8, 40)))
            comments.append(
                {
                    "id": comment_id,
                    "author_id": author,
                    "public": k % 5 != 3,
                    "created_at": time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + k * 1800)
                    ),
                    "body": body,
                    "html_body": f"<p>{body}</p>",
                    "attachments": [],
                }
            )
            comment_id += 1
        tickets.append(
            {
                "id": 50_000 + n,
                "subject": " ".join(rng.choices(WORDS, k=4)),
                "status": rng.choice(["solved", "closed", "closed", "open"]),
                "priority": rng.choice(["low", "normal", "high", None]),
                "requester_id": requester,
                "assignee_id": agent,
                "tags": rng.sample(WORDS, 2),
                "created_at": comments[0]["created_at"],
                "updated_at": comments[-1]["created_at"],
                "comments": comments,
            }
        )
    document = {"tickets": tickets, "users": users, "organizations": organizations}
    return json.dumps(document).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--index", action="store_true", help="keep the search index too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        os.environ["SPORTELLO_DATA_DIR"] = str(tmp)
        from sportello.cli import ensure_defaults
        from sportello.config import get_settings

        get_settings.cache_clear()
        from sportello.accounts import service as accounts_service
        from sportello.core import migrations
        from sportello.core.db import Database
        from sportello.imports import actions, handlers, readers

        url = _url(args.postgres, tmp)
        migrations.upgrade(url)
        db = Database(url)
        ensure_defaults(db)
        data = synthetic_zendesk(args.conversations, args.messages)
        started = time.perf_counter()
        parsed = readers.read("zendesk", data)
        parse_s = time.perf_counter() - started
        print(
            f"file {len(data) / 1e6:.1f} MB: {len(parsed.customers)} customers, "
            f"{len(parsed.conversations)} conversations, "
            f"{sum(len(c.messages) for c in parsed.conversations)} messages; parse {parse_s:.2f} s"
        )

        def run(dry_run: bool) -> tuple[float, dict[str, object]]:
            with db.transaction() as s:
                job = actions.do_create_import(
                    s,
                    brand_id=accounts_service.default_brand(s).id,
                    user=None,
                    fmt="zendesk",
                    filename="export.json",
                    data=data,
                    start=not dry_run,
                    limit=None,
                    queue=False,
                )
                import_id = job.id
            index = handlers.index_function(db) if args.index else None
            begin = time.perf_counter()
            result = actions.run_import(db, import_id, dry_run=dry_run, on_messages=index)
            return time.perf_counter() - begin, result

        dry_s, dry = run(True)
        print(f"dry run: {dry_s:.2f} s ({dry['created']})")
        wall, result = run(False)
        created = result["created"]
        assert isinstance(created, dict)
        rows = sum(created.values())
        print(
            f"import ({'PostgreSQL' if args.postgres else 'SQLite'}"
            f"{', with search index' if args.index else ''}): {wall:.2f} s, {created}, "
            f"{rows / wall:,.0f} rows/s, {created.get('conversations', 0) / wall:,.0f} "
            f"conversations/s, {created.get('messages', 0) / wall:,.0f} messages/s"
        )
        again_s, again = run(False)
        print(
            f"the same file again: {again_s:.2f} s, "
            f"created {again['created']}, skipped {again['skipped']}"
        )
        db.dispose()


if __name__ == "__main__":
    main()
