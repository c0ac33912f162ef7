"""Benchmark: what presence and offers on every page cost the console.

Every console page loads the top bar's status menu and offer toasts (``GET /routing/me/bar``) once,
and again whenever the socket says something changed for the agent; the inbox rows read the SLA
clocks of the conversations they show (one query a list); supervisors refresh the live page on
routing events. Prints the median milliseconds of each request (in-process, Starlette's
TestClient, one agent with a live offer, ``--conversations`` conversations in an SLA-bound queue,
``--agents`` agents), and the median cost of the SLA read inside a 50-row inbox page.

    python bench/console_live.py [--conversations 3000] [--agents 30] [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter_ns

try:
    import sportello  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PASSWORD = "bench-password-123"


def median_ms(call, runs: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(5):
        call()
    samples = []
    for _ in range(runs):
        t0 = perf_counter_ns()
        call()
        samples.append((perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sportello-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    os.environ.update(
        SPORTELLO_DATA_DIR=str(tmp),
        SPORTELLO_DATABASE_URL=url,
        SPORTELLO_SECRET_KEY="bench-secret-key",
        SPORTELLO_ARGON2_TIME_COST="1",
        SPORTELLO_ARGON2_MEMORY_KIB="1024",
    )
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from sportello.accounts import actions as accounts_actions
    from sportello.accounts.models import Brand, Role, User
    from sportello.channels import actions as channels_actions
    from sportello.channels.base import Identity, InboundMessage
    from sportello.channels.models import Channel
    from sportello.cli import ensure_defaults
    from sportello.config import get_settings
    from sportello.conversations import actions as conversations_actions
    from sportello.conversations.models import Conversation
    from sportello.core import migrations
    from sportello.core.db import Database
    from sportello.core.dispatcher import Dispatcher
    from sportello.main import create_app
    from sportello.routing import actions as routing_actions
    from sportello.routing import console, presence, sla
    from sportello.routing.models import Queue, SlaClockRow

    get_settings.cache_clear()
    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    with db.transaction() as s:
        brand = s.scalars(select(Brand)).one()
        agents = [
            accounts_actions.do_create_user(
                s,
                email=f"agente{i}@casalavanda.example",
                name=f"Agente {i:02d}",
                role=Role.AGENT,
                password=PASSWORD,
            )
            for i in range(args.agents)
        ]
        boss = accounts_actions.do_create_user(
            s,
            email="capo@casalavanda.example",
            name="Capo Turno",
            role=Role.SUPERVISOR,
            password=PASSWORD,
        )
        team = accounts_actions.do_create_team(s, name="Assistenza", members=agents)
        queue = Queue(brand_id=brand.id, name="Assistenza clienti", team_id=team.id)
        s.add(queue)
        s.flush()
        routing_actions.do_set_queue_routing(s, queue=queue, mode="push", offer_timeout_seconds=600)
        sla.do_create_sla_policy(
            s,
            brand_id=brand.id,
            name="Standard",
            queue_id=queue.id,
            first_response_seconds=3600,
            resolution_seconds=86_400,
        )
        channel, _ = channels_actions.do_create_channel(
            s, brand_id=brand.id, kind="api", name="App", queue=queue, data={"reply_url": ""}
        )
        channel_id, queue_id, agent_ids = channel.id, queue.id, [a.id for a in agents]
        first_email, boss_email = agents[0].email, boss.email
    for start in range(0, args.conversations, 500):
        with db.transaction() as s:
            ch = s.get_one(Channel, channel_id)
            for i in range(start, min(start + 500, args.conversations)):
                conversations_actions.do_receive_message(
                    s,
                    channel=ch,
                    inbound=InboundMessage(
                        identity=Identity("email", f"cliente{i}@example.it"),
                        sender_name=f"Cliente {i}",
                        text="Buongiorno, dov'è il mio ordine?",
                        subject=f"Ordine {10_000 + i}",
                    ),
                )
    Dispatcher(db, name="bench").drain()  # SLA clocks start
    with db.transaction() as s:  # most conversations handled by the others; the first has room
        convs = list(s.scalars(select(Conversation).order_by(Conversation.id)))
        users = {u.id: u for u in s.scalars(select(User))}
        for i, conv in enumerate(convs[: int(len(convs) * 0.9)]):
            conversations_actions.do_assign(
                s,
                conversation=conv,
                assignee=users[agent_ids[1 + i % (len(agent_ids) - 1)]],
                by=None,
            )
        for uid in agent_ids[1:]:
            presence.do_set_presence(s, user=users[uid], presence="busy")
        presence.do_set_presence(s, user=users[agent_ids[0]], presence="available")
    routing_actions.route(db, queue_ids=[queue_id])  # one live offer for the first agent

    app = create_app(get_settings(), db=db, run_workers=False)
    results: dict[str, float] = {}
    with TestClient(app) as client:

        def login(email: str) -> None:
            client.cookies.clear()
            page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            client.post(
                "/login",
                data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
                follow_redirects=False,
            )

        login(first_email)
        bar = client.get("/routing/me/bar")
        assert bar.status_code == 200
        assert 'class="cl-offer"' in bar.text, "no offer to show"
        results["GET /inbox/counts (for comparison)"] = median_ms(
            lambda: client.get("/inbox/counts"), args.runs
        )
        results["GET /routing/me/bar (agent, 1 offer)"] = median_ms(
            lambda: client.get("/routing/me/bar"), args.runs
        )
        rows = client.get("/inbox/open?part=rows")
        assert 'class="sla sla-' in rows.text
        results["GET /inbox/open?part=rows (50 rows, SLA badges)"] = median_ms(
            lambda: client.get("/inbox/open?part=rows"), args.runs
        )
        login(boss_email)
        results["GET /routing/live/panel (supervisor)"] = median_ms(
            lambda: client.get("/routing/live/panel"), max(20, args.runs // 4)
        )
    with db.session() as s:
        shown = list(
            s.scalars(select(Conversation).order_by(Conversation.last_message_at.desc()).limit(50))
        )
        results["sla_status() for 50 rows (the badges' read)"] = median_ms(
            lambda: console.sla_status(shown), args.runs
        )
        ids = [c.id for c in shown]
        columns = select(
            SlaClockRow.conversation_id,
            SlaClockRow.kind,
            SlaClockRow.due_at,
            SlaClockRow.warning_at,
            SlaClockRow.warned_at,
            SlaClockRow.breached_at,
        ).where(SlaClockRow.conversation_id.in_(ids), SlaClockRow.stopped_at.is_(None))
        results["the same clocks read as columns (no JSON)"] = median_ms(
            lambda: s.execute(columns).all(), args.runs
        )
    db.dispose()
    print(
        f"console-live bench: {args.conversations} conversations, {args.agents} agents, "
        f"SQLite, median of {args.runs} requests"
    )
    for name, value in results.items():
        print(f"  {name:<52} {value:7.2f} ms")
    share = (
        results["sla_status() for 50 rows (the badges' read)"]
        / results["GET /inbox/open?part=rows (50 rows, SLA badges)"]
    )
    print(f"  the SLA read is {share:.0%} of an inbox page of rows")


if __name__ == "__main__":
    main()
