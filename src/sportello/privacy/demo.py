"""Demo data for trust and privacy (Casa Lavanda): retention policies (raw mail 90 days, call
recordings 180 days, closed conversations two years), a Keycloak single sign-on provider set up
but switched off, consents on a few customers, and an export made by the admin, so that the audit
log shows the demo's own actions (users, teams, channels, queues... created by the core demo).

Runs after the core demo (``sportello demo``): ``load(db, now=..., seed=...)``.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from sportello.accounts import sso
from sportello.accounts.models import Brand, User
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
from sportello.privacy import actions
from sportello.privacy.models import RetentionKind, RetentionPolicy

DOMAIN = "casalavanda.example"
CONSENT_TEXTS = [
    (
        "Sondaggi di soddisfazione",
        "chat",
        "Dopo l'assistenza posso ricevere un breve sondaggio (una domanda) sul servizio ricevuto.",
    ),
    (
        "Trattamento dei dati per l'assistenza",
        "modulo web",
        "Ho letto l'informativa privacy di Casa Lavanda e acconsento al trattamento dei miei dati "
        "per gestire la mia richiesta di assistenza.",
    ),
    (
        "Registrazione della chiamata",
        "telefono",
        "La chiamata può essere registrata per la qualità del servizio: premendo 1 acconsento.",
    ),
]


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 11 + 5)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(RetentionPolicy.id).limit(1)) is not None:
            return  # no brand, or loaded already
        admin = session.scalar(select(User).where(User.email == f"elena@{DOMAIN}"))
        agent = session.scalar(select(User).where(User.email == f"chiara@{DOMAIN}"))
        actions.do_save_policy(session, kind=RetentionKind.RAW_MAIL.value, days=90, schedule=False)
        actions.do_save_policy(
            session, kind=RetentionKind.RECORDINGS.value, days=180, schedule=False
        )
        actions.do_save_policy(
            session,
            kind=RetentionKind.CLOSED_CONVERSATIONS.value,
            days=730,
            brand_id=brand.id,
            schedule=False,
        )
        sso.do_save_provider(
            session,
            slug="keycloak",
            name="Keycloak Casa Lavanda",
            preset="keycloak",
            issuer=f"https://sso.{DOMAIN}/realms/casalavanda",
            client_id="sportello",
            client_secret=secrets.token_urlsafe(24),
            allowed_domains=[DOMAIN],
            auto_provision=False,
            is_active=False,  # an example: switched on once the realm exists
        )
        customers = list(
            session.scalars(
                select(Customer)
                .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
                .where(
                    CustomerIdentity.kind == IdentityKind.EMAIL,
                    Customer.merged_into_id.is_(None),
                )
                .order_by(Customer.id)
                .limit(12)
            )
        )
        for n, customer in enumerate(customers):
            purpose, source, text = CONSENT_TEXTS[n % len(CONSENT_TEXTS)]
            given = now - timedelta(days=rng.randint(3, 120), minutes=rng.randint(0, 600))
            consent = actions.do_record_consent(
                session,
                customer=customer,
                purpose=purpose,
                source=source,
                text=text,
                given_at=given,
                by=agent if source == "telefono" else None,
            )
            if n == 4:
                actions.do_withdraw_consent(session, consent=consent, by=agent)
        if customers and admin is not None:  # a customer asked for their data
            actions.build_export(session, customer=customers[0], by=admin)
