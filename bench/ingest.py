"""Inbound message ingestion: the one door over HTTP, in-process, and raw SQL as the floor.

Run:  python bench/ingest.py [--quick] [--postgres [URL]] [--messages N] [--concurrency C]

Three measurements on fresh databases, each the median of 3 runs, in messages per second:

  http        POST /api/v1/channels/{public_id}/messages with the channel's bearer token, served by
              ONE uvicorn worker (httptools + uvloop, access log off) in a subprocess, with
              run_workers=False so the dispatcher does not compete with the requests for the CPU;
              driven by C concurrent keep-alive connections from a small asyncio client
  in-process  channels.service.receive inside db.transaction(), one transaction per message
  raw         the same rows (customer, identity, conversation, message, counter) and the same
              lookups (dedupe, identity, open conversation) as plain SQL through the driver
              (sqlite3 with WAL + synchronous=NORMAL, or psycopg), one transaction per message

The workload mixes new customers (30%) with customers writing again (their message threads into
the open conversation). Each run is capped in time, so the whole bench takes under 3 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench"
NEW_SHARE = 0.3
GOALS = {"http": 1000.0, "in-process": 2159.0}  # issue: >= 1,000/s; django-helpdesk ORM 2,159/s
TEXTS = (
    "Buongiorno, il mio ordine non è ancora arrivato. Potete verificare?",
    "Salve, vorrei restituire un articolo: come faccio il reso?",
    "Il rimborso non mi è ancora arrivato, è passata una settimana.",
    "Mi serve la fattura per l'ultimo ordine, grazie.",
    "Il pacco è arrivato danneggiato, vi mando le foto.",
)

LAUNCHER = """
import sys, uvicorn
from sportello.config import get_settings
from sportello.main import create_app
settings = get_settings()
settings.run_workers = False
app = create_app(settings, run_workers=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            log_level="warning", access_log=False, proxy_headers=True)
"""


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


def fresh_database(url: str, data_dir: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def prepare(url: str, data_dir: Path) -> tuple[int, int, str, str]:
    """Fresh, migrated database with an api channel: (brand id, channel id, public id, token)."""
    from sportello.accounts.models import Brand
    from sportello.channels import actions as channels_actions
    from sportello.cli import ensure_defaults
    from sportello.core import migrations
    from sportello.core.db import Database

    fresh_database(url, data_dir)
    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    with db.transaction() as session:
        brand = session.query(Brand).first()
        assert brand is not None
        channel, shown = channels_actions.do_create_channel(
            session, brand_id=brand.id, kind="api", name="Bench", queue=None, data={}
        )
        ids = brand.id, channel.id, channel.public_id, shown["token"]
    db.dispose()
    return ids


def workload(n: int, tag: str, seed: int = 1) -> list[tuple[str, str, str, str]]:
    """(message id, email, name, text): 30% first messages of new customers, the rest follow-ups."""
    rng = random.Random(seed)
    customers = max(1, int(n * NEW_SHARE))
    order = list(range(customers)) + [rng.randrange(customers) for _ in range(n - customers)]
    rng.shuffle(order)
    return [
        (f"{tag}-m{i}", f"cliente{c}.{tag}@bench.example", f"Cliente {c}", TEXTS[i % len(TEXTS)])
        for i, c in enumerate(order)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# HTTP: one uvicorn worker, a lean keep-alive client
# --------------------------------------------------------------------------------------------


def build_requests(
    public_id: str, token: str, items: list[tuple[str, str, str, str]]
) -> list[bytes]:
    head = (
        f"POST /api/v1/channels/{public_id}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    )
    out = []
    for message_id, email, name, text in items:
        body = json.dumps(
            {
                "id": message_id,
                "from": {"kind": "email", "value": email, "name": name},
                "text": text,
            }
        ).encode()
        out.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


async def drive(
    port: int, requests: list[bytes], concurrency: int, cap: float, errors: list[str]
) -> tuple[int, float]:
    """Send the requests over ``concurrency`` keep-alive connections: (stored, seconds).

    Failed requests (anything but 200/201) are appended to ``errors`` and not counted."""
    next_index = 0
    done = 0
    deadline = time.perf_counter() + cap

    async def connection() -> None:
        nonlocal next_index, done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < len(requests) and time.perf_counter() < deadline:
                request = requests[next_index]
                next_index += 1
                try:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head[9:12])
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    body = await reader.readexactly(length)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    # The server dropped the connection (after a 500): count it, reconnect.
                    errors.append(f"connection lost: {exc!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                if status in (200, 201):
                    done += 1
                else:
                    errors.append(f"{status} {body[:120]!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return done, time.perf_counter() - start


@contextlib.contextmanager
def server(url: str, data_dir: Path) -> Any:
    port = free_port()
    env = {**os.environ, "SPORTELLO_DATABASE_URL": url, "SPORTELLO_DATA_DIR": str(data_dir)}
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        import httpx

        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError("the server exited at start-up")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def bench_http(args: argparse.Namespace, url: str, data_dir: Path) -> Rates:
    _, _, public_id, token = prepare(url, data_dir)
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    rates = Rates("http")
    with server(url, data_dir) as (port, proc):
        warm = build_requests(public_id, token, workload(300, "warm"))
        runner(drive(port, warm, args.concurrency, 30, []))
        spy = start_py_spy(args, proc.pid)
        for run in range(args.runs):
            requests = build_requests(public_id, token, workload(args.messages, f"h{run}"))
            cpu = proc_cpu(proc.pid)
            errors: list[str] = []
            done, elapsed = runner(drive(port, requests, args.concurrency, args.cap, errors))
            rates.add(run, done, elapsed, proc_cpu(proc.pid) - cpu)
            if errors:
                rates.errors += len(errors)
                print(f"    {len(errors)} requests failed, e.g. {errors[0]}", flush=True)
        stop_py_spy(spy)
    return rates


def start_py_spy(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes] | None:
    if not args.profile:
        return None
    out = Path(args.profile_dir) / "server.txt"
    cmd = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "-o",
        str(out),
        "--rate",
        "200",
    ]
    print(f"  profiling the server with py-spy into {out}", flush=True)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        import signal

        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)


# --------------------------------------------------------------------------------------------
# In-process: the one door, one transaction per message
# --------------------------------------------------------------------------------------------


def bench_inprocess(args: argparse.Namespace, url: str, data_dir: Path) -> Rates:
    from sportello.channels import registry
    from sportello.channels import service as channels_service
    from sportello.channels.base import Identity, InboundMessage
    from sportello.channels.models import Channel
    from sportello.core.db import Database

    _, channel_id, _, _ = prepare(url, data_dir)
    registry.load_builtin()
    db = Database(url)

    def one(item: tuple[str, str, str, str]) -> None:
        message_id, email, name, text = item
        with db.transaction() as session:
            channel = session.get(Channel, channel_id)
            assert channel is not None
            channels_service.receive(
                session,
                channel=channel,
                inbound=InboundMessage(
                    identity=Identity("email", email),
                    sender_name=name,
                    text=text,
                    provider_message_id=message_id,
                ),
            )

    for item in workload(300, "warm"):
        one(item)
    rates = Rates("in-process")
    profiler = None
    for run in range(args.runs):
        items = workload(args.messages, f"p{run}")
        if args.profile and run == 0:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        done, elapsed, cpu = timed_loop(items, one, args.cap)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(Path(args.profile_dir) / "inprocess.prof"))
            profiler = None
        rates.add(run, done, elapsed, cpu)
    db.dispose()
    return rates


def timed_loop(
    items: list[Any], one: Callable[[Any], None], cap: float
) -> tuple[int, float, float]:
    """Run ``one`` over the items until done or ``cap`` seconds: (count, wall s, CPU s)."""
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + cap
    done = 0
    for item in items:
        one(item)
        done += 1
        if done % 64 == 0 and time.perf_counter() > deadline:
            break
    return done, time.perf_counter() - start, time.process_time() - cpu


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Rates:
    """Per run: messages per wall second, and per CPU second of the process doing the work
    (the second is what to compare on a busy machine: it ignores time spent waiting for a core).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.errors = 0

    def add(self, run: int, done: int, wall: float, cpu: float) -> None:
        self.wall.append(done / wall)
        self.cpu.append(done / cpu if cpu > 0 else float("nan"))
        print(
            f"  {self.name} run {run + 1}: {done:>6} messages in {wall:5.1f} s = "
            f"{done / wall:7.0f}/s   ({cpu:5.1f} CPU s = {self.cpu[-1]:7.0f}/CPU s)",
            flush=True,
        )


# --------------------------------------------------------------------------------------------
# Raw SQL: the floor
# --------------------------------------------------------------------------------------------

SQL_DEDUPE = "SELECT id FROM conversation_message WHERE channel_id = ? AND provider_message_id = ?"
SQL_IDENTITY = "SELECT customer_id FROM customer_identity WHERE kind = 'email' AND value = ?"
SQL_CUSTOMER = (
    "INSERT INTO customer (name, notes, created_at, updated_at) VALUES (?, '', ?, ?) RETURNING id"
)
SQL_NEW_IDENTITY = (
    "INSERT INTO customer_identity (customer_id, kind, value, created_at) VALUES (?, 'email', ?, ?)"
)
SQL_THREAD = (
    "SELECT id FROM conversation WHERE customer_id = ? AND channel_id = ? "
    "AND status IN ('new', 'open', 'pending') ORDER BY last_message_at DESC LIMIT 1"
)
SQL_NUMBER = "UPDATE counter SET value = value + 1 WHERE name = 'conversation' RETURNING value"
SQL_CONVERSATION = (
    "INSERT INTO conversation (number, brand_id, channel_id, customer_id, status, priority, "
    "subject, created_at, updated_at, last_message_at, message_count, preview) "
    "VALUES (?, ?, ?, ?, 'new', 'normal', ?, ?, ?, ?, 0, '') RETURNING id"
)
SQL_MESSAGE = (
    "INSERT INTO conversation_message (conversation_id, channel_id, direction, sender_name, text, "
    "provider_message_id, delivery_state, meta, created_at, updated_at) "
    "VALUES (?, ?, 'inbound', ?, ?, ?, 'received', '{}', ?, ?)"
)
SQL_TOUCH = (
    "UPDATE conversation SET message_count = message_count + 1, last_message_at = ?, "
    "last_inbound_at = ?, updated_at = ?, preview = ? WHERE id = ?"
)


def raw_receive(
    cur: Any, brand_id: int, channel_id: int, item: tuple[str, str, str, str], now: Any
) -> None:
    message_id, email, name, text = item
    cur.execute(SQL_DEDUPE, (channel_id, message_id))
    if cur.fetchone() is not None:
        return
    cur.execute(SQL_IDENTITY, (email,))
    row = cur.fetchone()
    conversation_id = None
    if row is None:
        cur.execute(SQL_CUSTOMER, (name, now, now))
        customer_id = cur.fetchone()[0]
        cur.execute(SQL_NEW_IDENTITY, (customer_id, email, now))
    else:
        customer_id = row[0]
        cur.execute(SQL_THREAD, (customer_id, channel_id))
        found = cur.fetchone()
        conversation_id = found[0] if found else None
    if conversation_id is None:
        cur.execute(SQL_NUMBER)
        number = cur.fetchone()[0]
        cur.execute(
            SQL_CONVERSATION, (number, brand_id, channel_id, customer_id, text[:80], now, now, now)
        )
        conversation_id = cur.fetchone()[0]
    cur.execute(SQL_MESSAGE, (conversation_id, channel_id, name, text, message_id, now, now))
    cur.execute(SQL_TOUCH, (now, now, now, text[:200], conversation_id))


def bench_raw(args: argparse.Namespace, url: str, data_dir: Path) -> Rates:
    brand_id, channel_id, _, _ = prepare(url, data_dir)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        cur = conn.cursor()

        def stamp() -> Any:  # SQLAlchemy's SQLite datetime format
            return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

        def one(item: tuple[str, str, str, str]) -> None:
            cur.execute("BEGIN IMMEDIATE")
            raw_receive(cur, brand_id, channel_id, item, stamp())
            cur.execute("COMMIT")
    else:
        import psycopg

        for name in [n for n in globals() if n.startswith("SQL_")]:
            globals()[name] = globals()[name].replace("?", "%s")  # psycopg's placeholder
        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        cur = conn.cursor()

        def one(item: tuple[str, str, str, str]) -> None:
            with conn.transaction():
                raw_receive(cur, brand_id, channel_id, item, datetime.now(UTC))

    rates = Rates("raw")
    for run in range(args.runs):
        rates.add(run, *timed_loop(workload(args.messages, f"r{run}"), one, args.cap))
    conn.close()
    return rates


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=PG_DEFAULT,
        default=None,
        metavar="URL",
        help=f"run on PostgreSQL (default URL {PG_DEFAULT})",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (about 30 s)")
    parser.add_argument("--messages", type=int, default=None, help="messages a run (20,000)")
    parser.add_argument("--concurrency", type=int, default=48, help="HTTP connections (48)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("http", "in-process", "raw"), action="append")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy on the server (first HTTP run), cProfile on in-process",
    )
    parser.add_argument("--profile-dir", default="/tmp/sportello-bench-profile")
    args = parser.parse_args()
    args.messages = args.messages or (2_000 if args.quick else 20_000)
    args.cap = 4.0 if args.quick else 15.0  # seconds a run at most
    if args.profile:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)

    data_dir = Path(tempfile.mkdtemp(prefix="sportello-bench-"))
    url = args.postgres or f"sqlite:///{data_dir / 'bench.db'}"
    os.environ.update(
        SPORTELLO_DATA_DIR=str(data_dir),
        SPORTELLO_DATABASE_URL=url,
        SPORTELLO_SECRET_KEY="bench-secret-key-not-for-production",
        SPORTELLO_LOG_LEVEL="warning",
    )
    backend = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=NORMAL)"
    print(
        f"Ingestion bench on {backend}: {args.messages} messages a run "
        f"({int(NEW_SHARE * 100)}% new customers), median of {args.runs} runs, "
        f"{args.cap:.0f} s cap a run; HTTP with {args.concurrency} keep-alive connections to "
        f"one uvicorn worker (httptools + uvloop, no dispatcher)",
        flush=True,
    )

    wanted = args.only or ["raw", "in-process", "http"]
    results: dict[str, Rates] = {}
    for name, fn in (("raw", bench_raw), ("in-process", bench_inprocess), ("http", bench_http)):
        if name in wanted:
            results[name] = fn(args, url, data_dir)

    print(f"\nload average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("messages/s, median of runs      wall      per CPU s (of the process doing the work)")
    for name, rates in results.items():
        wall, cpu = statistics.median(rates.wall), statistics.median(rates.cpu)
        goal = GOALS.get(name)
        mark = f"   goal {goal:,.0f}/s: {'met' if wall >= goal else 'MISSED'}" if goal else ""
        failed = f"   ({rates.errors} requests failed)" if rates.errors else ""
        print(f"  {name:<11} {wall:12,.0f} {cpu:14,.0f}{mark}{failed}")
    if "raw" in results:
        raw_wall = statistics.median(results["raw"].wall)
        raw_cpu = statistics.median(results["raw"].cpu)
        for name in ("http", "in-process"):
            if name in results:
                wall = statistics.median(results[name].wall)
                cpu = statistics.median(results[name].cpu)
                print(
                    f"  {name}/raw = {wall / raw_wall:.3f} wall, {cpu / raw_cpu:.3f} per CPU s "
                    f"(raw is {raw_wall / wall:.1f}x / {raw_cpu / cpu:.1f}x faster)"
                )


if __name__ == "__main__":
    main()
