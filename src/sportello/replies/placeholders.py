"""The placeholders of a canned reply: ``{{cliente.nome}}`` and friends, filled by a tiny
explicit replacer (no template engine, nothing evaluated). A known placeholder with no value is
left in the text for the agent to complete (``missing``); an unknown one is left as well and
reported (``unknown``), so a typo never reaches a customer as an empty gap."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")

# The names an agent may use, Italian first; English aliases map to the same value.
KNOWN: dict[str, str] = {
    "cliente.nome": "cliente.nome",
    "cliente.cognome": "cliente.cognome",
    "cliente.nome_completo": "cliente.nome_completo",
    "cliente.email": "cliente.email",
    "cliente.telefono": "cliente.telefono",
    "agente.nome": "agente.nome",
    "agente.nome_completo": "agente.nome_completo",
    "conversazione.numero": "conversazione.numero",
    "conversazione.oggetto": "conversazione.oggetto",
    "ordine.numero": "ordine.numero",
    "customer.first_name": "cliente.nome",
    "customer.last_name": "cliente.cognome",
    "customer.name": "cliente.nome_completo",
    "customer.email": "cliente.email",
    "customer.phone": "cliente.telefono",
    "agent.first_name": "agente.nome",
    "agent.name": "agente.nome_completo",
    "conversation.number": "conversazione.numero",
    "conversation.subject": "conversazione.oggetto",
    "order.number": "ordine.numero",
}

# An order number as customers write it: "ordine 12345", "ordine n. CL-2026-0042", "order #A1234".
ORDER_NUMBER = re.compile(
    r"\b(?:ordine|order|ord\.)\s*(?:n(?:umero|r)?\.?|no\.?|#)?\s*:?\s*#?"
    r"([A-Za-z]{0,4}-?\d[\d-]{2,}\d)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rendered:
    text: str
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def names_in(body: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(body)))


def unknown_in(body: str) -> list[str]:
    return [name for name in names_in(body) if name.lower() not in KNOWN]


def find_order_number(texts: Iterable[str]) -> str:
    for text in texts:
        found = ORDER_NUMBER.search(text or "")
        if found:
            return found.group(1)
    return ""


def render(body: str, values: Mapping[str, str]) -> Rendered:
    """``body`` with every known placeholder that has a value replaced by it."""
    unknown: list[str] = []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        key = KNOWN.get(name.lower())
        if key is None:
            if name not in unknown:
                unknown.append(name)
            return match.group(0)
        value = values.get(key, "")
        if not value:
            if name not in missing:
                missing.append(name)
            return match.group(0)
        return value

    return Rendered(PLACEHOLDER.sub(replace, body), unknown, missing)
