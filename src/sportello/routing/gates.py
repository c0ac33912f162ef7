"""Offer gates: other domains may hold an agent back from routing (e.g. a required briefing not
yet acknowledged, see ``sportello.frontline``). The router skips held agents when it plans, and
the status menu refuses ``available`` to them with the gate's reason.

A gate is ``(session, user_ids) -> {user_id: reason}`` for the held ones among ``user_ids``; the
reason is a catalogue message (translated on the way out). Gates are registered explicitly by
the domain's wiring (``register_offer_gate``); with none registered nobody is held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

OfferGate = Callable[[Session, Sequence[int]], dict[int, str]]

_gates: dict[str, OfferGate] = {}


def register_offer_gate(name: str, gate: OfferGate) -> None:
    _gates[name] = gate


def held_back(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """The agents among ``user_ids`` that may not be offered work now, with the first reason."""
    held: dict[int, str] = {}
    if not user_ids:
        return held
    for gate in _gates.values():
        for uid, reason in gate(session, user_ids).items():
            held.setdefault(uid, reason)
    return held
