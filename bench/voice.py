"""Voice: calls placed by sipp through Kamailio and rtpengine (started here, on loopback, with
the generated configs), routed by Sportello's ACD (uvicorn in this process, SQLite), answered by
agents' phones (one sipp UAS registered as every agent), each call talking a few seconds.

Prints, per call rate: calls placed and completed (sipp's successful calls), the concurrent calls
that rate and talk time give, the ACD decision time (route_call, the whole answer to Kamailio's
question: p50 and p99), and Sportello's CPU per call (this process's CPU time over the run,
divided by the calls: the routing question(s), the answered and hang-up events, and the agents'
wrap-up, ended by a thread here as soon as each call ends).

    python bench/voice.py                    # rates 5, 10, 20 calls/s, 3 s talk, 20 agents
    python bench/voice.py --rates 2 --calls 20 --talk 1000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("SPORTELLO_SECRET_KEY", "bench-voice-secret-key-0123456789abcdef")

DID = "+390212345678"


def setup(db, agents: int) -> dict[int, str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from sportello.accounts import actions as accounts_actions
    from sportello.accounts.models import Brand, Role
    from sportello.channels import actions as channels_actions
    from sportello.channels.voice import actions
    from sportello.routing import capacity, presence
    from sportello.routing.models import Queue

    passwords: dict[int, str] = {}
    with db.transaction() as s:
        brand = s.scalars(select(Brand)).first()
        users = [
            accounts_actions.do_create_user(
                s,
                email=f"agent{n}@bench.example",
                name=f"Agent {n}",
                role=Role.AGENT,
                password="bench-password-123",
            )
            for n in range(agents)
        ]
        team = accounts_actions.do_create_team(s, name="Phone", members=users)
        queue = Queue(brand_id=brand.id, name="Phone", team_id=team.id)
        s.add(queue)
        s.flush()
        channels_actions.do_create_channel(
            s,
            brand_id=brand.id,
            kind="voice",
            name="Bench",
            queue=queue,
            data={"dids": DID, "ring_seconds": "10"},
        )
        for user in users:
            # Many calls each: conversations stay assigned until wrap-up, which nobody does here.
            capacity.do_set_agent_capacity(s, user=user, capacity={"voice": 1000})
            _account, passwords[user.id] = actions.do_generate_sip_account(s, user=user)
            presence.do_set_presence(s, user=user, presence="available")
    return passwords


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="5,10,20")
    parser.add_argument("--calls", type=int, default=0, help="calls per rate (default 10 s worth)")
    parser.add_argument("--talk", type=int, default=3000, help="talk time in ms")
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()

    import uvicorn

    from sportello.channels.voice import actions
    from sportello.channels.voice.daemons import free_port
    from sportello.cli import ensure_defaults
    from sportello.config import get_settings
    from sportello.core import migrations
    from sportello.core.db import Database
    from sportello.main import create_app
    from tests.channels.voice.harness import register_agent, run_stack, sipp

    work = Path(tempfile.mkdtemp(prefix="sportello-bench-voice-"))
    url = f"sqlite:///{work}/bench.db"
    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    passwords = setup(db, args.agents)

    timings: list[float] = []
    original = actions.route_call

    def timed(*a, **kw):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            timings.append(time.perf_counter() - start)

    actions.route_call = timed  # the hook module looks it up through the module
    port = free_port()
    settings = get_settings().model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    app = create_app(settings, db=db, run_workers=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    import httpx

    from sportello.channels.voice.daemons import kamailio_token

    # Warm up (imports, the thread pool): Kamailio gives Sportello 5 s per question.
    httpx.post(
        f"http://127.0.0.1:{port}/voice/kamailio/route",
        data={"token": kamailio_token()},
        timeout=60,
    )

    stop_wrapups = threading.Event()

    def wrapups() -> None:
        """Agents end their wrap-up as soon as a call ends (presence back to available)."""
        from sqlalchemy import select

        from sportello.accounts.models import User
        from sportello.channels.voice.models import VoiceCall

        while not stop_wrapups.is_set():
            with db.transaction() as s:
                for call in s.scalars(
                    select(VoiceCall).where(
                        VoiceCall.state == "ended",
                        VoiceCall.outcome == "answered",
                        VoiceCall.wrapup_ended_at.is_(None),
                    )
                ):
                    user = s.get(User, call.agent_id)
                    if user is not None:
                        actions.do_finish_wrapup(s, call=call, user=user)
            stop_wrapups.wait(0.2)

    threading.Thread(target=wrapups, daemon=True).start()
    stack_gen = run_stack(f"http://127.0.0.1:{port}", work / "stack", rtp_ports=8000, children=8)
    stack = next(stack_gen)
    try:
        # One UAS answers for every agent; each agent registers with its own credentials.
        uas_port = free_port(2)
        agent = sipp(
            stack,
            "agent.xml",
            work / "agents",
            service="agents",
            port=uas_port,
            calls=100000,
            variables={"answer_after": 100},
            timeout="3600s",
        )
        for uid, password in passwords.items():
            register_agent(stack, work / "reg", f"u{uid}", password, uas_port)
        print(f"{len(passwords)} agents, talk {args.talk} ms, SQLite, 2-core machine shared")
        print("rate/s  calls  ok   concurrent  ACD p50 ms  ACD p99 ms  CPU ms/call")
        for rate in [float(r) for r in args.rates.split(",")]:
            calls = args.calls or int(rate * 10)
            timings.clear()
            cpu0 = time.process_time()
            caller = sipp(
                stack,
                "caller.xml",
                work / f"caller-{rate}",
                service=DID,
                calls=calls,
                rate=rate,
                variables={"caller": "3331234567", "name": "Bench", "talk": args.talk},
                extra=["-l", str(int(rate * args.talk / 1000 * 2) + 10)],
                timeout=f"{int(calls / rate + args.talk / 1000 + 60)}s",
            )
            caller.wait(calls / rate + args.talk / 1000 + 60)
            time.sleep(1)  # the last hang-up events
            cpu = time.process_time() - cpu0
            text = caller.output()
            ok = re.search(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", text)
            succeeded = int(ok.group(1)) if ok else 0
            p50 = statistics.median(timings) * 1000 if timings else float("nan")
            p99 = statistics.quantiles(timings, n=100)[98] * 1000 if len(timings) >= 2 else p50
            print(
                f"{rate:6.1f}  {calls:5d}  {succeeded:4d}  {rate * args.talk / 1000:10.1f}"
                f"  {p50:10.1f}  {p99:10.1f}  {cpu / max(calls, 1) * 1000:11.1f}"
            )
        agent.stop()
    finally:
        stop_wrapups.set()
        with contextlib.suppress(StopIteration):
            next(stack_gen)
        server.should_exit = True
        thread.join(10)


if __name__ == "__main__":
    main()
