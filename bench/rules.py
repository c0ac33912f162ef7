"""Rule evaluation per event with 50 active rules (sportello.automation).

    python bench/rules.py               # SQLite in a temp dir, 300 events, median of 5 rounds
    python bench/rules.py --events 1000

Sets up a brand, a queue, an API channel and 300 conversations through the real actions, then 50
trigger rules on ``message.received`` whose conditions mix channel, queue, tags, priority, text
(contains and regex), customer e-mail and business hours; 1 in 10 rules matches a typical
message. Measures ``do_run_event`` (load the conversation, evaluate every rule, apply the matches,
log the runs) in one transaction per event, as the dispatcher's handler does, and, separately,
the evaluation alone (conditions only, nothing written). Prints medians per event.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="sportello-bench-rules-")
    url = f"sqlite:///{tmp}/bench.db"
    os.environ["SPORTELLO_DATA_DIR"] = tmp
    os.environ["SPORTELLO_DATABASE_URL"] = url
    os.environ["SPORTELLO_SECRET_KEY"] = "bench-secret"

    from sqlalchemy import select

    from sportello.accounts.models import Brand
    from sportello.automation import actions, engine
    from sportello.automation.models import Rule, RuleKind
    from sportello.channels import actions as channels_actions
    from sportello.channels import registry
    from sportello.channels import service as channels_service
    from sportello.channels.base import Identity, InboundMessage
    from sportello.cli import ensure_defaults
    from sportello.conversations.models import Conversation
    from sportello.core import migrations
    from sportello.core.db import Database, utcnow
    from sportello.routing.models import Queue

    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    registry.load_builtin()
    with db.transaction() as s:
        brand = s.scalars(select(Brand)).one()
        queue = Queue(brand_id=brand.id, name="Assistenza")
        s.add(queue)
        s.flush()
        channel, _ = channels_actions.do_create_channel(
            s, brand_id=brand.id, kind="api", name="App", queue=queue, data={"reply_url": ""}
        )
        texts = ["Il mio ordine è in ritardo", "Vorrei un rimborso", "Grazie, tutto ok"]
        message_ids = []
        for i in range(300):
            result = channels_service.receive(
                s,
                channel=channel,
                inbound=InboundMessage(
                    identity=Identity("email", f"cliente{i}@example.it"),
                    sender_name=f"Cliente {i}",
                    text=texts[i % 3],
                ),
            )
            message_ids.append((result.conversation.id, result.message.id))
        conditions = [
            [{"field": "channel", "op": "is", "value": "whatsapp"}],
            [{"field": "tags", "op": "has", "value": "vip"}],
            [{"field": "priority", "op": "at_least", "value": "high"}],
            [{"field": "text", "op": "contains", "value": "fattura"}],
            [{"field": "text", "op": "matches", "value": r"\b(reso|sostituzion[ei])\b"}],
            [{"field": "customer_email", "op": "contains", "value": "@azienda.example"}],
            [{"field": "queue", "op": "is_empty", "value": ""}],
            [{"field": "subject", "op": "contains", "value": "urgente"}],
            [
                {"field": "business_hours", "op": "is", "value": "closed"},
                {"field": "status", "op": "is", "value": "resolved"},
            ],
            [{"field": "text", "op": "matches", "value": r"rimbors"}],  # matches 1 in 3
        ]
        for n in range(50):
            actions.do_save_rule(
                s,
                brand_id=brand.id,
                rule=None,
                name=f"Regola {n}",
                kind="event",
                events=["message.received"],
                conditions=conditions[n % len(conditions)],
                actions=[{"action": "add_tag", "value": f"r{n}"}],
            )
    print(f"50 rules, {args.events} events a round, median of {args.rounds} rounds (SQLite)")
    full: list[float] = []
    evaluate: list[float] = []
    for _ in range(args.rounds):
        with db.transaction() as s:  # fresh runs each round: loop protection would skip them
            s.execute(actions.RuleRun.__table__.delete())
        started = time.perf_counter()
        for k in range(args.events):
            cid, mid = message_ids[k % len(message_ids)]
            with db.transaction() as s:
                actions.do_run_event(
                    s,
                    name="message.received",
                    payload={"conversation_id": cid, "message_id": mid},
                )
        full.append((time.perf_counter() - started) / args.events)
        with db.session() as s:
            rules = actions.active_rules(s, RuleKind.EVENT)
            conversations = {c.id: c for c in s.scalars(select(Conversation))}
            now = utcnow()
            started = time.perf_counter()
            for k in range(args.events):
                cid, mid = message_ids[k % len(message_ids)]
                ctx = engine.Context(
                    s,
                    conversations[cid],
                    now,
                    "message.received",
                    {"conversation_id": cid, "message_id": mid},
                )
                for rule in rules:
                    engine.matches(ctx, rule.conditions, match_all=rule.match_all)
            evaluate.append((time.perf_counter() - started) / args.events)
    print(
        f"do_run_event (load, evaluate 50 rules, apply, log), one transaction: "
        f"median {statistics.median(full) * 1000:.2f} ms/event "
        f"({1 / statistics.median(full):.0f} events/s)"
    )
    print(
        f"evaluation alone (50 rules, conversation loaded): "
        f"median {statistics.median(evaluate) * 1000:.3f} ms/event"
    )
    _ = Rule
    db.dispose()


if __name__ == "__main__":
    main()
