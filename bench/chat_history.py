"""Benchmark: the chat widget's catch-up read (``channels.chat.service.history``).

Every reply pokes the visitor's sockets, and each socket reads what it has not seen with this
statement; a reconnecting widget reads the latest 50 messages. Prints the median microseconds of
both reads on a conversation of 25 visitor messages and 25 team replies (one of them a survey with
score buttons), on a fresh SQLite database in a temporary folder.

    python bench/chat_history.py [--calls 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter_ns

try:
    import sportello  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def setup() -> tuple[object, int, int]:
    folder = tempfile.mkdtemp(prefix="sportello-bench-")
    os.environ.setdefault("SPORTELLO_SECRET_KEY", "bench-secret")
    os.environ["SPORTELLO_DATA_DIR"] = folder
    from sqlalchemy import func, select

    from sportello.accounts.models import Brand
    from sportello.channels import actions as channels_actions
    from sportello.channels import registry
    from sportello.channels import service as channels_service
    from sportello.channels.base import Identity, InboundMessage
    from sportello.channels.models import Channel
    from sportello.cli import ensure_defaults
    from sportello.conversations import actions as conversations_actions
    from sportello.conversations.models import Conversation, Message
    from sportello.core import migrations
    from sportello.core.db import Database

    url = f"sqlite:///{folder}/bench.db"
    migrations.upgrade(url)
    db = Database(url)
    ensure_defaults(db)
    registry.load_builtin()
    with db.transaction() as s:
        brand = s.scalars(select(Brand)).one()
        channel, _ = channels_actions.do_create_channel(
            s, brand_id=brand.id, kind="chat", name="Chat", queue=None, data={}
        )
        channel_id = channel.id
    with db.transaction() as s:
        channel = s.get_one(Channel, channel_id)
        for i in range(25):
            inbound = InboundMessage(
                identity=Identity("visitor", "v-bench-0001"),
                text=f"Messaggio numero {i} del visitatore, con qualche parola in più.",
                provider_message_id=f"chat:{i}",
                meta={"page": "https://www.negozio.it/piatti"},
            )
            received = channels_service.receive(s, channel=channel, inbound=inbound).load()
            conversation = s.get_one(Conversation, received.conversation.id)
            meta = {}
            if i == 24:
                meta = {"choices": [{"id": f"sv:code:{n}", "title": f"{n} ★"} for n in range(1, 6)]}
            conversations_actions.do_send_reply(
                s,
                conversation=conversation,
                author=None,
                text=f"Risposta numero {i} del negozio.",
                meta=meta,
            )
        last = s.scalar(select(func.max(Message.id)))
    return db, conversation.id, int(last)


def median_us(call: object, calls: int) -> float:
    samples = []
    for _ in range(calls):
        t0 = perf_counter_ns()
        call()  # type: ignore[operator]
        samples.append(perf_counter_ns() - t0)
    return statistics.median(samples) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    db, conversation_id, last = setup()
    from sportello.channels.chat import service as chat_service

    with db.session() as s:  # type: ignore[attr-defined]
        frames = chat_service.history(s, conversation_id)
        assert len(frames) == 50
        assert frames[-1].get("choices"), "the survey's buttons are read"
        poke = median_us(
            lambda: chat_service.history(s, conversation_id, after_id=last - 1), args.calls
        )
        resume = median_us(lambda: chat_service.history(s, conversation_id), args.calls // 5)
    print(f"history after a poke (1 message):   median {poke:7.1f} us")
    print(f"history on reconnect (50 messages): median {resume:7.1f} us")


if __name__ == "__main__":
    main()
