"""Test data, set up by calling the real actions. Personas have names and roles that stay put:

- Giulia Bianchi, admin
- Marco Rossi, supervisor
- Sara Conti, agent in team "Assistenza" (queue "Assistenza clienti")
- Luca Ferri, agent in team "Vendite" (queue "Vendite")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Brand, Role, Team, User
from sportello.channels import actions as channels_actions
from sportello.channels import service as channels_service
from sportello.channels.base import Identity, InboundMessage
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.routing.models import Queue

PASSWORD = "password-di-prova-123"


@dataclass
class Personas:
    brand_id: int
    admin: User
    supervisor: User
    sara: User
    luca: User
    assistenza: Team
    vendite: Team
    queue_assistenza: Queue
    queue_vendite: Queue
    api_channel: Channel
    api_token: str
    api_signing_secret: str
    webform: Channel


def make_personas(db: Database) -> Personas:
    with db.transaction() as s:
        brand = s.scalars(select(Brand)).first()
        assert brand is not None
        admin = accounts_actions.do_create_user(
            s, email="giulia@negozio.it", name="Giulia Bianchi", role=Role.ADMIN, password=PASSWORD
        )
        supervisor = accounts_actions.do_create_user(
            s,
            email="marco@negozio.it",
            name="Marco Rossi",
            role=Role.SUPERVISOR,
            password=PASSWORD,
            language="en",
        )
        sara = accounts_actions.do_create_user(
            s, email="sara@negozio.it", name="Sara Conti", role=Role.AGENT, password=PASSWORD
        )
        luca = accounts_actions.do_create_user(
            s, email="luca@negozio.it", name="Luca Ferri", role=Role.AGENT, password=PASSWORD
        )
        assistenza = accounts_actions.do_create_team(s, name="Assistenza", members=[sara])
        vendite = accounts_actions.do_create_team(s, name="Vendite", members=[luca])
        q_assistenza = Queue(brand_id=brand.id, name="Assistenza clienti", team_id=assistenza.id)
        q_vendite = Queue(brand_id=brand.id, name="Vendite", team_id=vendite.id)
        s.add_all([q_assistenza, q_vendite])
        s.flush()
        api_channel, shown = channels_actions.do_create_channel(
            s,
            brand_id=brand.id,
            kind="api",
            name="App",
            queue=q_assistenza,
            data={"reply_url": ""},
        )
        webform, _ = channels_actions.do_create_channel(
            s, brand_id=brand.id, kind="webform", name="Contatti", queue=q_vendite, data={}
        )
        return Personas(
            brand.id,
            admin,
            supervisor,
            sara,
            luca,
            assistenza,
            vendite,
            q_assistenza,
            q_vendite,
            api_channel,
            shown["token"],
            shown["signing_secret"],
            webform,
        )


def inbound(
    text: str = "Buongiorno, il mio ordine non è arrivato.",
    *,
    email: str = "mario.rossi@example.it",
    name: str = "Mario Rossi",
    provider_id: str | None = None,
    **kwargs: Any,
) -> InboundMessage:
    return InboundMessage(
        identity=Identity("email", email),
        sender_name=name,
        text=text,
        provider_message_id=provider_id,
        **kwargs,
    )


def receive(db: Database, channel: Channel, message: InboundMessage):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        ch = s.get(Channel, channel.id)
        assert ch is not None
        # Loaded inside the transaction: reading them after it would open another one.
        return channels_service.receive(s, channel=ch, inbound=message).load()


def login(client: Any, user: User, password: str = PASSWORD) -> None:
    """Log in through the real login form (CSRF included)."""
    page = client.get("/login")
    assert page.status_code == 200, page.text
    token = csrf_from(page.text)
    response = client.post(
        "/login",
        data={"email": user.email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code in (302, 303), response.text


def csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)
