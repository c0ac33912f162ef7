"""Benchmark: N concurrent chat widget sessions against ONE `sportello serve` process (loopback).

Each visitor opens the widget socket (hello -> welcome), then sends a message every few seconds
(jittered) and acknowledges agent replies as the widget does (delivered, read). An agent process
holds the console WebSocket, hears `message.received`, and answers a share of the messages through
the REST API. Prints:

- message round trip: visitor sends -> server stored it through the one door -> ack back;
- agent reply delivery: agent's REST call starts -> the reply is on the visitor's socket;
- server memory per idle connection: RSS delta / N after N visitors said hello and went quiet.

    python bench/chat.py              # 2,000 visitors, ~90 s in all
    python bench/chat.py --quick      # 200 visitors, ~25 s

Goal: 2,000 concurrent visitors, p99 < 100 ms, < 50 KB per idle connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-not-for-production"
PASSWORD = "password-di-prova-123"
DEFLATE = [True]  # browsers always offer permessage-deflate; --no-deflate to compare


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def setup(env: dict[str, str]) -> tuple[str, str]:
    """Migrate, then create an agent (supervisor: sees every queue), a chat channel, a token."""
    os.environ.update(env)
    from sportello.accounts import actions as accounts_actions
    from sportello.accounts.models import Brand, Role
    from sportello.channels import actions as channels_actions
    from sportello.cli import ensure_defaults
    from sportello.config import get_settings
    from sportello.core import migrations
    from sportello.core.db import Database
    from sportello.routing.models import Queue

    get_settings.cache_clear()
    url = env["SPORTELLO_DATABASE_URL"]
    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    from sqlalchemy import select

    with db.transaction() as s:
        brand = s.scalars(select(Brand)).first()
        assert brand is not None
        agent = accounts_actions.do_create_user(
            s, email="sara@bench.it", name="Sara Bench", role=Role.SUPERVISOR, password=PASSWORD
        )
        queue = Queue(brand_id=brand.id, name="Chat")
        s.add(queue)
        s.flush()
        channel, _ = channels_actions.do_create_channel(
            s, brand_id=brand.id, kind="chat", name="Bench chat", queue=queue, data={}
        )
        _, token = accounts_actions.do_create_api_token(
            s, user=agent, name="bench", scopes=["read", "write"]
        )
        public_id = channel.public_id
    db.dispose()
    return public_id, token


# --- the agent process ---------------------------------------------------------------------------


def agent_main(base: str, token: str, ratio: float, stop: Any, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(agent_loop(base, token, ratio, stop, out))


async def agent_loop(base: str, token: str, ratio: float, stop: Any, out: Any) -> None:
    import httpx
    from websockets.asyncio.client import connect

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        page = await http.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, "no CSRF token on /login"
        await http.post(
            "/login",
            data={"email": "sara@bench.it", "password": PASSWORD, "csrf_token": csrf.group(1)},
        )
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        replies = 0
        errors = 0
        pending: set[asyncio.Task[Any]] = set()
        headers = {"Authorization": f"Bearer {token}"}

        posted: list[float] = []
        heard: list[float] = []

        async def answer(conversation_id: int) -> None:
            nonlocal replies, errors
            text = f"bench-reply {time.time():.6f}"
            started = time.perf_counter()
            try:
                r = await http.post(
                    f"/api/v1/conversations/{conversation_id}/replies",
                    json={"text": text},
                    headers=headers,
                )
                if r.status_code == 201:
                    replies += 1
                    posted.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1
            except httpx.HTTPError:
                errors += 1

        ws_url = base.replace("http", "ws") + "/ws"
        async with connect(
            ws_url, additional_headers={"Cookie": cookie, "Origin": base}, max_size=2**22
        ) as ws:
            out.send("ready")
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
                except TimeoutError:
                    continue
                event = json.loads(raw)
                data = event.get("data", {})
                if event.get("type") == "message.received" and "sent_at" in data:
                    heard.append((time.time() - float(data["sent_at"])) * 1000)
                if (
                    event.get("type") == "message.received"
                    and data.get("direction") == "inbound"
                    and random.random() < ratio
                ):
                    task = asyncio.create_task(answer(int(data["conversation_id"])))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=10)
        out.send({"replies": replies, "errors": errors, "posted": posted, "heard": heard})


# --- the visitors ---------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.rtt: list[float] = []
        self.reply: list[float] = []
        self.errors = 0
        self.sent = 0
        self.acked = 0
        self.measuring = False


async def visitor(
    ws_url: str,
    origin: str,
    stats: Stats,
    ready: asyncio.Event,
    go: asyncio.Event,
    stop_at_box: list[float],
    interval: float,
    opened: asyncio.Semaphore,
) -> None:
    from websockets.asyncio.client import connect

    async with opened:
        ws = await connect(
            ws_url,
            additional_headers={"Origin": origin},
            open_timeout=60,
            compression="deflate" if DEFLATE[0] else None,
        )
        await ws.send(json.dumps({"t": "hello", "page": f"{origin}/bench", "title": "Bench"}))
        welcome = json.loads(await ws.recv())
        assert welcome["t"] == "welcome", welcome
    ready.set()
    sent_at: dict[str, float] = {}

    async def reader() -> None:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("t")
            if kind == "ack":
                started = sent_at.pop(frame["cid"], None)
                if started is not None:
                    stats.acked += 1
                    if stats.measuring:
                        stats.rtt.append((now - started) * 1000)
            elif kind == "history":
                agent = [m for m in frame["messages"] if m["from"] == "agent"]
                for m in agent:
                    if m["text"].startswith("bench-reply ") and stats.measuring:
                        stats.reply.append((time.time() - float(m["text"].split()[1])) * 1000)
                if agent:  # the widget with the chat open: read (implies delivered)
                    await ws.send(json.dumps({"t": "read", "up_to": max(m["id"] for m in agent)}))
            elif kind == "error":
                stats.errors += 1

    task = asyncio.create_task(reader())
    try:
        await go.wait()

        async def pause(seconds: float) -> None:  # never past the end: the run stays bounded
            await asyncio.sleep(max(0.0, min(seconds, stop_at_box[0] - time.time())))

        await pause(random.uniform(0, interval))
        n = 0
        while time.time() < stop_at_box[0]:
            cid = uuid.uuid4().hex
            sent_at[cid] = time.perf_counter()
            n += 1
            stats.sent += 1
            await ws.send(json.dumps({"t": "msg", "cid": cid, "text": f"Messaggio {n} dal banco"}))
            await pause(interval * random.uniform(0.8, 1.2))
        await asyncio.sleep(3)  # let the last acks and replies land
    finally:
        task.cancel()
        await ws.close()


async def run_visitors(
    args: argparse.Namespace, base: str, public_id: str, server_pid: int
) -> dict[str, Any]:
    ws_url = base.replace("http", "ws") + f"/chat/ws/{public_id}"
    stats = Stats()
    opened = asyncio.Semaphore(100)

    # Warm-up: a few sessions that talk and leave, so caches and pools are filled.
    warm_go = asyncio.Event()
    warm_go.set()
    warm = [
        visitor(ws_url, base, Stats(), asyncio.Event(), warm_go, [time.time() + 1.0], 0.3, opened)
        for _ in range(20)
    ]
    await asyncio.gather(*warm)
    await asyncio.sleep(1.0)
    before = rss_kib(server_pid)

    go = asyncio.Event()
    stop_box = [float("inf")]
    readies = [asyncio.Event() for _ in range(args.visitors)]
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(
            visitor(ws_url, base, stats, readies[i], go, stop_box, args.interval, opened)
        )
        for i in range(args.visitors)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    connect_s = time.perf_counter() - started
    await asyncio.sleep(2.0)
    after = rss_kib(server_pid)
    per_conn_kib = (after - before) / args.visitors

    cpu_start = cpu_seconds(server_pid)
    profiler = None
    if args.profile and args.profile.endswith(".perf"):
        # Linux perf: where the CPU goes by library (SQLite, the interpreter, the kernel).
        profiler = subprocess.Popen(
            [
                "perf",
                "record",
                "-F",
                "499",
                "-o",
                args.profile,
                "-p",
                str(server_pid),
                "--",
                "sleep",
                str(int(args.duration)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    elif args.profile:
        # py-spy is not a project dependency: `pip install py-spy` into the venv first.
        profiler = subprocess.Popen(
            [
                shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy",
                "record",
                "--gil",
                "--threads",
                "--nonblocking",
                "-f",
                "raw",
                "-r",
                "200",
                "-d",
                str(int(args.duration)),
                "-o",
                args.profile,
                "-p",
                str(server_pid),
            ],
            stdout=subprocess.DEVNULL,
        )
    stats.measuring = True
    stop_box[0] = time.time() + args.duration
    go.set()
    t0 = time.perf_counter()
    # The server's CPU over the traffic itself: read when the visitors stop writing, before
    # 2,000 sockets close at once (their goodbyes are not traffic).
    await asyncio.sleep(args.duration)
    traffic_cpu = cpu_seconds(server_pid) - cpu_start
    await asyncio.gather(*tasks, return_exceptions=True)
    if profiler is not None:
        profiler.wait()
    elapsed = time.perf_counter() - t0
    return {
        "traffic_cpu_s": traffic_cpu,
        "connect_s": connect_s,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "per_conn_kib": per_conn_kib,
        "rss_end_mib": rss_kib(server_pid) / 1024,
        "stats": stats,
        "elapsed": elapsed,
    }


def event_lag(url: str) -> str:
    """How far behind the dispatcher ran: outbox events' wait from commit to handled."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT created_at, done_at FROM outbox_event ORDER BY id")).all()
    engine.dispose()

    def when(value: Any) -> float:
        if isinstance(value, str):
            from datetime import datetime

            value = datetime.fromisoformat(value)
        return float(value.timestamp())

    lags = [(when(done) - when(made)) * 1000 for made, done in rows if done is not None]
    pending = sum(1 for _made, done in rows if done is None)
    return (
        f"  events            {len(rows)} in the outbox, {pending} not handled at the end;"
        f" commit -> handled p50 {pct(lags, 0.5):.0f} ms  p99 {pct(lags, 0.99):.0f} ms"
    )


def report(
    args: argparse.Namespace,
    result: dict[str, Any],
    agent: dict[str, Any],
    server_pid: int,
    load: tuple[float, float],
) -> None:
    stats: Stats = result["stats"]
    server_cpu_s = cpu_seconds(server_pid)
    per_message_ms = 1000 * result["traffic_cpu_s"] / max(stats.acked, 1)
    rtt, reply = stats.rtt, stats.reply
    rate = len(rtt) / args.duration
    lines = [
        "",
        f"Sportello chat bench: one `sportello serve`"
        f" ({'PostgreSQL' if args.postgres else 'SQLite WAL'}), loopback, "
        f"{os.cpu_count()} cores{' (no dispatcher)' if args.no_workers else ''}"
        f"{' + one `sportello worker` (Redis)' if args.worker else ''}",
        f"  visitors          {args.visitors} concurrent, a message every ~{args.interval:g} s"
        f" each, {args.duration:g} s",
        f"  connect + hello   {result['connect_s']:.1f} s for all"
        f" ({args.visitors / result['connect_s']:.0f}/s)",
        f"  memory per idle   {result['per_conn_kib']:.1f} KiB per connection"
        f" (RSS {result['rss_before_mib']:.0f} -> {result['rss_after_mib']:.0f} MiB)"
        "   goal < 50 KB",
        f"  messages          {stats.sent} sent, {stats.acked} acked, {rate:.0f}/s measured,"
        f" {stats.errors} errors",
        f"  round trip (ack)  p50 {pct(rtt, 0.5):.1f} ms  p95 {pct(rtt, 0.95):.1f} ms"
        f"  p99 {pct(rtt, 0.99):.1f} ms  max {max(rtt, default=float('nan')):.1f} ms"
        "   goal p99 < 100 ms",
        f"  agent replies     {agent['replies']} sent ({agent['errors']} errors);"
        f" reply -> visitor n={len(reply)}  p50 {pct(reply, 0.5):.1f} ms"
        f"  p99 {pct(reply, 0.99):.1f} ms",
        f"  agent REST reply  p50 {pct(agent.get('posted', []), 0.5):.1f} ms"
        f"  p99 {pct(agent.get('posted', []), 0.99):.1f} ms (POST .../replies answered)",
        f"  server CPU        {server_cpu_s:.1f} s for the run; during traffic"
        f" {result['traffic_cpu_s']:.1f} s ({result['traffic_cpu_s'] / args.duration:.2f} cores)"
        f" = {per_message_ms:.1f} ms per acked message"
        " (one door, events, replies, marks); RSS at end"
        f" {result['rss_end_mib']:.0f} MiB",
        f"  machine load      {load[0]:.1f} before, {load[1]:.1f} after (1-min load average;"
        " other work on the machine inflates every figure)",
    ]
    if stats.sent > stats.acked:
        lines.append(f"  unacknowledged    {stats.sent - stats.acked} (in flight at the end)")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between a visitor's messages"
    )
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of traffic")
    parser.add_argument(
        "--reply-ratio", type=float, default=0.2, help="share of messages the agent answers"
    )
    parser.add_argument("--quick", action="store_true", help="200 visitors, 10 s")
    parser.add_argument(
        "--no-deflate", action="store_true", help="visitors do not offer permessage-deflate"
    )
    parser.add_argument(
        "--no-workers",
        action="store_true",
        help="serve without the dispatcher (isolates the socket + one-door path; no replies)",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="scaled mode on one machine: `serve --no-workers` holds the sockets, one `sportello"
        " worker` runs the event handlers and jobs, Redis carries live updates and wake-ups",
    )
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/0", help="Redis URL for --worker"
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql+psycopg://postgres@127.0.0.1:5432/sportello_bench_chat",
        help="PostgreSQL instead of SQLite (the database is dropped and created)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy (--gil, raw format) on the server over the traffic; needs py-spy installed",
    )
    args = parser.parse_args()
    if args.quick:
        args.visitors, args.duration = min(args.visitors, 200), 10.0
    DEFLATE[0] = not args.no_deflate

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    tmp = Path(tempfile.mkdtemp(prefix="sportello-bench-chat-"))
    env = {
        "SPORTELLO_DATA_DIR": str(tmp),
        "SPORTELLO_DATABASE_URL": args.postgres or f"sqlite:///{tmp / 'bench.db'}",
        "SPORTELLO_SECRET_KEY": SECRET,
        "SPORTELLO_LOG_LEVEL": "warning",
        "SPORTELLO_DISPATCHER_POLL_SECONDS": "0.5",
        "SPORTELLO_ARGON2_TIME_COST": "1",
        "SPORTELLO_ARGON2_MEMORY_KIB": "1024",
    }
    if args.postgres:
        sys.path.insert(0, str(ROOT / "bench"))
        from ingest import fresh_database

        fresh_database(args.postgres, tmp)
    if args.worker:
        env["SPORTELLO_REDIS_URL"] = args.redis
        env["SPORTELLO_REDIS_CHANNEL"] = f"sportello-bench:{uuid.uuid4().hex}"
    public_id, token = setup(env)
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    exe = shutil.which("sportello", path=str(Path(sys.executable).parent)) or "sportello"
    server = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port)]
        + (["--no-workers"] if args.no_workers or args.worker else []),
        env={**os.environ, **env},
        cwd=tmp,
    )
    worker = (
        subprocess.Popen([exe, "worker"], env={**os.environ, **env}, cwd=tmp)
        if args.worker
        else None
    )
    agent: multiprocessing.Process | None = None
    try:
        import httpx

        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)

        parent, child = multiprocessing.Pipe()
        stop_agent = multiprocessing.Event()
        agent = multiprocessing.Process(
            target=agent_main, args=(base, token, args.reply_ratio, stop_agent, child), daemon=True
        )
        agent.start()
        if not parent.poll(30) or parent.recv() != "ready":
            raise SystemExit("the agent did not connect")

        load_before = os.getloadavg()[0]
        result = asyncio.run(run_visitors(args, base, public_id, server.pid))
        load_after = os.getloadavg()[0]
        stop_agent.set()
        agent_result = parent.recv() if parent.poll(15) else {"replies": "?", "errors": "?"}
        report(args, result, agent_result, server.pid, (load_before, load_after))
        print(event_lag(env["SPORTELLO_DATABASE_URL"]))
        if worker is not None:
            print(
                f"  worker CPU        {cpu_seconds(worker.pid):.1f} s for the run (one `sportello"
                " worker`: event handlers, deliveries)"
            )
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        if agent is not None and agent.is_alive():
            agent.terminate()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
