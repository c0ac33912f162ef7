"""Helpers of the campaign tests: lists from CSV text, campaigns, the job runner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from sportello.accounts.models import User
from sportello.campaigns import actions
from sportello.campaigns.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    ContactStatus,
    LegalBasis,
)
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.channels.whatsapp import templates
from sportello.core import jobs
from sportello.core.db import Database
from tests.channels import whatsapp_templates as wt

PNID = "106540352242922"
# A Tuesday at 10:00 in Rome: inside the default calling window.
WORKDAY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

CSV = (
    "Nome;Telefono;Email;Ordine\n"
    "Anna Verdi;333 123 4567;anna@example.it;A-1\n"
    "Bruno Neri;+39 347 765 4321;;A-2\n"
    "Carla Blu;0039 320 111 2222;carla@example.it;A-3\n"
    "Duplicato;3331234567;;A-4\n"
    "Rotto;12;;A-5\n"
    "Troppe;333 000 0001;;A-6;extra\n"
)

REMINDER = wt.approved(
    "promemoria",
    {"type": "BODY", "text": "Ciao {{1}}, il tuo ordine {{2}} è pronto."},
)


def import_csv(db: Database, personas: Any, text: str = CSV, **kw: Any) -> int:
    with db.transaction() as s:
        by = s.get(User, personas.supervisor.id)
        listed = actions.do_import_list(
            s,
            brand_id=personas.brand_id,
            name=kw.pop("name", "Clienti dicembre"),
            filename="lista.csv",
            data=text.encode(),
            mapping=actions.Mapping_(
                phone="Telefono", email="Email", name="Nome", params=["Ordine"]
            ),
            by=by,
            **kw,
        )
        return listed.id


def whatsapp_channel(db: Database, personas: Any, api_base: str) -> int:
    with db.transaction() as s:
        channel, _ = channels_actions.do_create_channel(
            s,
            brand_id=personas.brand_id,
            kind="whatsapp",
            name="WhatsApp Casa Lavanda",
            queue=None,
            data={
                "phone_number_id": PNID,
                "access_token": "token",
                "app_secret": "segreto",
                "verify_token": "verifica",
                "api_base": api_base,
            },
        )
        settings = dict(channel.settings)
        settings["templates"] = templates.parse([REMINDER]).templates
        channel.settings = settings
        return channel.id


def campaign(db: Database, personas: Any, list_id: int, **fields: Any) -> int:
    data = actions.CampaignData(
        name=fields.pop("name", "Richiamo clienti"),
        kind=fields.pop("kind", CampaignKind.CALL),
        list_id=list_id,
        legal_basis=fields.pop("legal_basis", LegalBasis.LEGITIMATE_INTEREST),
        **fields,
    )
    with db.transaction() as s:
        by = s.get(User, personas.supervisor.id)
        return actions.do_save_campaign(s, brand_id=personas.brand_id, data=data, by=by).id


def start(db: Database, campaign_id: int, now: datetime = WORKDAY) -> None:
    with db.transaction() as s:
        actions.do_start_campaign(s, campaign=s.get_one(Campaign, campaign_id), now=now)


def contacts(db: Database, campaign_id: int) -> list[CampaignContact]:
    with db.session() as s:
        rows = list(
            s.scalars(
                select(CampaignContact)
                .where(CampaignContact.campaign_id == campaign_id)
                .order_by(CampaignContact.id)
            )
        )
        s.expunge_all()
        return rows


def statuses(db: Database, campaign_id: int) -> dict[str, ContactStatus]:
    return {c.phone or c.email or "": c.status for c in contacts(db, campaign_id)}


def run_jobs(db: Database, *, rounds: int = 20) -> None:
    """Run the due jobs (of any kind) as the dispatcher would, ignoring their run_at: a held
    campaign's next round is run at once too, which is what the rate tests need to see."""
    from sqlalchemy import update

    for _ in range(rounds):
        with db.transaction() as s:
            s.execute(
                update(jobs.Job)
                .where(jobs.Job.done_at.is_(None), jobs.Job.failed_at.is_(None))
                .values(run_at=datetime(2000, 1, 1, tzinfo=UTC))
            )
            claimed = jobs.claim_jobs(s, worker="test")
            s.expunge_all()
        if not claimed:
            return
        for job in claimed:
            jobs.run_job(db, job)


def channel_of(db: Database, channel_id: int) -> Channel:
    with db.session() as s:
        channel = s.get_one(Channel, channel_id)
        s.expunge(channel)
        return channel
