"""Shared set-up for the workforce tests."""

from __future__ import annotations

from datetime import datetime, timedelta


def history_on_webform(db, personas, *, days: int, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """History written through the one door: a few conversations a day on the web form, then
    dated back to their day."""
    from sportello.conversations.models import Conversation
    from tests.factories import inbound, receive

    made: list[tuple[int, datetime]] = []
    n = 0
    for d in range(days, 0, -1):
        for k in range(3 + (d % 7 == 0)):
            n += 1
            conv = receive(
                db, personas.webform, inbound(f"Ordine {n}", email=f"c{n}@example.it")
            ).conversation
            made.append((conv.id, now - timedelta(days=d) + timedelta(hours=2 + k)))
    with db.transaction() as s:
        for conv_id, at in made:
            row = s.get(Conversation, conv_id)
            assert row is not None
            row.created_at = at
