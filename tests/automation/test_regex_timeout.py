"""A rule's regular expression cannot hold the worker: a pattern that backtracks
catastrophically is refused when saved, and one that still meets a pathological text at run time
gives up within its time limit (with a log line) instead of running for minutes."""

from __future__ import annotations

import logging
import time

import pytest

from sportello.automation import actions, engine
from sportello.core.errors import InvalidInput


def _save(db, personas, pattern: str):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        return actions.do_save_rule(
            s,
            brand_id=personas.brand_id,
            rule=None,
            name="Regola",
            kind="event",
            events=["message.received"],
            conditions=[{"field": "text", "op": "matches", "value": pattern}],
            actions=[{"action": "add_tag", "value": "ordine"}],
        ).id


def test_slow_pattern_refused_when_saved(db, personas) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as caught:
        _save(db, personas, "(a+)+$")
    assert caught.value.message == "the regular expression is too slow on long texts: simplify it"
    assert caught.value.field == "conditions"
    with pytest.raises(InvalidInput, match="not valid"):
        _save(db, personas, "(unclosed")
    assert _save(db, personas, r"ordine\s+n?\.?\s*\d+") > 0


def test_catastrophic_pattern_gives_up_quickly_with_a_log_line(caplog) -> None:  # type: ignore[no-untyped-def]
    text = "a" * 5_000 + "!"
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="sportello.automation.engine"):
        assert engine.test("matches", text, "(a+)+$") is False
    # Python's re would run for longer than the age of the universe; the limit is 0.05 s of
    # matching, a few times that on a loaded machine.
    assert time.perf_counter() - started < 5
    assert any("gave up" in r.getMessage() for r in caplog.records)
    assert engine.test("matches", "Il mio ordine 1234 non arriva", r"ordine\s+\d+") is True
