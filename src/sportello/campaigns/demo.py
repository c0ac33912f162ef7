"""Demo data for campaigns (Casa Lavanda): a list of customers with late orders (imported from a
file with the usual bad rows), a running preview call campaign for the agents to work, the care
campaign "Chiamiamo i clienti fragili", an email campaign waiting for its start, the do-not-call
list (a STOP on WhatsApp, a company switchboard, the opposition register) and a consent.
The calls are left to the visitor: each call would add a conversation to the timeline, and the
demo's conversation count is fixed.

Runs after the core demo (``sportello demo``): ``load(db, now=..., seed=...)``. Nothing is sent
to anybody: the message campaign stays a draft.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, User
from sportello.campaigns import actions, windows
from sportello.campaigns.models import (
    Campaign,
    CampaignKind,
    DialMode,
    LegalBasis,
    Purpose,
)
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS

CITIES = ["Milano", "Torino", "Bologna", "Firenze", "Napoli", "Bari", "Padova", "Verona"]


def _csv(rng: random.Random, people: list[tuple[str, str]], *, fragile: bool = False) -> str:
    """A list as a shop exports it: the demo's own customers (matched by their email, so no
    twin is created) with their mobile numbers, plus the rows real files always carry."""
    lines = ["Nome;Telefono;Email;Città;Ordine" + (";Età" if fragile else "")]
    for name, email in people:
        prefix = f"3{rng.choice('234579')}{rng.randint(0, 9)}"
        phone = f"{prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        line = f"{name};{phone};{email};{rng.choice(CITIES)};CL-{rng.randint(10000, 99999)}"
        if fragile:
            line += f";{rng.randint(76, 94)}"
        lines.append(line)
    if len(lines) > 1:
        lines.append(lines[1])  # a duplicate
    lines.append("Numero sbagliato;12345;;Roma;CL-00000" + (";80" if fragile else ""))
    lines.append("Riga rotta;333")
    return "\n".join(lines) + "\n"


def _working_morning(now: datetime) -> datetime:
    """The last working day before ``now`` at 10:00 in Rome (no Sunday, no holiday)."""
    rome = ZoneInfo("Europe/Rome")
    day = now.astimezone(rome).date() - timedelta(days=1)
    window = windows.window_of(None)
    while True:
        at = datetime.combine(day, time(10, 0), rome).astimezone(UTC)
        if windows.blocked_reason(window, at) is None and day.weekday() < 5:
            return at
        day -= timedelta(days=1)


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 11 + 5)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(Campaign.id).limit(1)) is not None:
            return  # no brand, or loaded already
        staff = {u.email.split("@")[0]: u for u in session.scalars(select(User))}
        supervisor = staff.get("paolo")
        people = _people(session, 50)
        late = actions.do_import_list(
            session,
            brand_id=brand.id,
            name="Ordini in ritardo — dicembre",
            filename="ordini-in-ritardo.csv",
            data=_csv(rng, people[:36]).encode(),
            mapping=actions.Mapping_(
                phone="Telefono", email="Email", name="Nome", params=["Città", "Ordine"]
            ),
            by=supervisor,
        )
        fragile = actions.do_import_list(
            session,
            brand_id=brand.id,
            name="Clienti fragili (over 75)",
            filename="clienti-fragili.csv",
            data=_csv(rng, people[36:], fragile=True).encode(),
            mapping=actions.Mapping_(
                phone="Telefono", email="Email", name="Nome", params=["Città", "Età"]
            ),
            by=supervisor,
        )
        entries = {e.phone: e for e in _entries(session, late.id)}
        phones = list(entries)
        # The do-not-call list: a STOP on WhatsApp, an agent's "do not call", the register.
        actions.do_add_do_not_call(
            session, brand_id=brand.id, value=phones[3], source="stop", channel="whatsapp"
        )
        actions.do_add_do_not_call(
            session, brand_id=None, value="+39 02 1234 5678", note="Centralino di un'azienda"
        )
        register = "\n".join(f"{p.removeprefix('+39')};1" for p in phones[5:8]) + "\n"
        register += "\n".join(f"{p.removeprefix('+39')};0" for p in phones[8:20])
        actions.do_import_opposition_results(session, brand_id=None, data=register.encode())
        consented = entries[phones[6]]
        if consented.customer_id is not None:
            actions.do_record_consent(
                session,
                brand_id=brand.id,
                customer_id=consented.customer_id,
                purpose=Purpose.MARKETING,
                granted=True,
                source="Modulo di registrazione sul sito",
                text_shown="Acconsento a ricevere offerte e novità di Casa Lavanda per telefono, "
                "SMS ed email.",
                given_at=now - timedelta(days=200),
                by=supervisor,
            )
        late_calls = actions.do_save_campaign(
            session,
            brand_id=brand.id,
            by=supervisor,
            data=actions.CampaignData(
                name="Ordini in ritardo: avvisiamo i clienti",
                kind=CampaignKind.CALL,
                mode=DialMode.PREVIEW,
                list_id=late.id,
                legal_basis=LegalBasis.CONTRACT,
                purpose=Purpose.MARKETING,
                script=[
                    {"key": "q1", "question": "Il cliente sa che l'ordine è in ritardo?"},
                    {"key": "q2", "question": "Preferisce attendere o annullare con rimborso?"},
                ],
            ),
        )
        morning = _working_morning(now)
        actions.do_start_campaign(session, campaign=late_calls, now=morning - timedelta(hours=1))
        care = actions.care_template("Chiamiamo i clienti fragili", fragile.id)
        care_campaign = actions.do_save_campaign(
            session, brand_id=brand.id, by=supervisor, data=care
        )
        actions.do_start_campaign(session, campaign=care_campaign, now=morning)
        email = session.scalar(select(Channel.id).where(Channel.kind == "email").limit(1))
        actions.do_save_campaign(
            session,
            brand_id=brand.id,
            by=supervisor,
            data=actions.CampaignData(
                name="Novità di primavera (email)",
                kind=CampaignKind.EMAIL,
                list_id=late.id,
                channel_id=email,
                legal_basis=LegalBasis.CONSENT,
                purpose=Purpose.MARKETING,
                subject="Le novità di primavera di Casa Lavanda",
                message_text="Ciao {name},\nsono arrivati i nuovi profumi per la casa: "
                "lavanda di Provenza, fico e cedro. Ti aspettiamo!\nCasa Lavanda",
                rate_per_minute=30,
            ),
        )


def _people(session: Session, count: int) -> list[tuple[str, str]]:
    """Named customers with an email and no phone number yet."""
    from sportello.customers.models import Customer, CustomerIdentity, IdentityKind

    rows = session.execute(
        select(Customer.name, CustomerIdentity.value)
        .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(CustomerIdentity.kind == IdentityKind.EMAIL, Customer.name != "")
        .order_by(Customer.id)
        .limit(count * 2)
    ).all()
    seen: set[str] = set()
    out = []
    for name, email in rows:
        if email not in seen:
            seen.add(email)
            out.append((name, email))
    return out[:count]


def _entries(session: Session, list_id: int) -> list[Any]:
    from sportello.campaigns import service

    return service.list_entries(session, list_id, limit=1000)
