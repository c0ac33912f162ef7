"""Demo data for the integrations (loaded by ``sportello demo``, see DOMAIN_DEMOS):

- a WooCommerce-style order connector pointing at the fake shop Sportello itself serves at
  ``/demo/negozio`` (sportello.orders.fakeshop), so demo agents see every customer's orders
  beside the conversation and can register and cancel them;
- rules in Italian: complaints raised to high priority, out-of-hours tagging, "pending for 3
  days → reminder note, after 5 days resolved", SLA about to breach → urgent and notify;
- a disabled webhook example (an address on the reserved ``.example`` domain).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from sportello.accounts.models import Brand
from sportello.automation import actions
from sportello.automation.models import Rule
from sportello.config import get_settings
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.core.security import encrypt_secret, new_token
from sportello.orders import actions as orders_actions
from sportello.orders.fakeshop import DEMO_PREFIX, DEMO_SHOP
from sportello.webhooks.models import WebhookSubscription

RULES = [
    {
        "name": "Reclami e rimborsi: priorità alta",
        "kind": "event",
        "events": ["message.received"],
        "conditions": [
            {"field": "text", "op": "matches", "value": r"rimbors|reclam|danneggiat|rott[oa]"}
        ],
        "actions": [
            {"action": "set_priority", "value": "high"},
            {"action": "add_tag", "value": "reclamo"},
        ],
    },
    {
        "name": "Messaggi arrivati fuori orario",
        "kind": "event",
        "events": ["conversation.created"],
        "conditions": [{"field": "business_hours", "op": "is", "value": "closed"}],
        "actions": [{"action": "add_tag", "value": "fuori-orario"}],
    },
    {
        "name": "In attesa da 3 giorni: promemoria",
        "kind": "time",
        "events": [],
        "conditions": [
            {"field": "status", "op": "is", "value": "pending"},
            {"field": "hours_since_update", "op": "gt", "value": "72"},
        ],
        "actions": [
            {
                "action": "note",
                "value": "Il cliente non risponde da 3 giorni: ricontattarlo o chiudere.",
            },
            {"action": "notify", "value": "assignee"},
        ],
    },
    {
        "name": "In attesa da 5 giorni: risolta",
        "kind": "time",
        "events": [],
        "conditions": [
            {"field": "status", "op": "is", "value": "pending"},
            {"field": "hours_since_update", "op": "gt", "value": "120"},
        ],
        "actions": [{"action": "set_status", "value": "resolved"}],
    },
    {
        "name": "SLA in scadenza: urgente",
        "kind": "time",
        "events": [],
        "conditions": [
            {"field": "sla_minutes_left", "op": "lt", "value": "15"},
            {"field": "priority", "op": "is_not", "value": "urgent"},
        ],
        "actions": [
            {"action": "set_priority", "value": "urgent"},
            {"action": "notify", "value": "assignee"},
        ],
    },
]


def load(db: Database, *, now: datetime, seed: int) -> None:
    settings = get_settings()
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(Rule.id).limit(1)) is not None:
            return  # no brand, or loaded already
        orders_actions.do_save_connector(
            session,
            brand_id=brand.id,
            connector=None,
            name="Negozio Casa Lavanda",
            kind="woocommerce",
            base_url=settings.base_url.rstrip("/") + DEMO_PREFIX,
            auth_kind="woocommerce",
            settings={},
            secrets={
                "consumer_key": DEMO_SHOP.consumer_key,
                "consumer_secret": DEMO_SHOP.consumer_secret,
            },
            timeout_seconds=5.0,
            allow_private=True,  # the demo shop is served by this very server, on loopback
        )
        for fields in RULES:
            actions.do_save_rule(session, brand_id=brand.id, rule=None, **fields)  # type: ignore[arg-type]
        # An example only: the reserved .example domain never resolves, so it stays disabled.
        session.add(
            WebhookSubscription(
                brand_id=brand.id,
                name="Gestionale magazzino (esempio)",
                url="https://hooks.casalavanda.example/sportello",
                events=["conversation.created", "message.received", "order.cancelled"],
                secret=encrypt_secret(new_token("whsec_"), settings.effective_secret_key()),
                is_active=False,
                disabled_at=now,
                disabled_reason="disabled by an administrator",
            )
        )
