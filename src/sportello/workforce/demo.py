"""Demo data for workforce management (runs after the core demo of Casa Lavanda).

Shift templates (mattina 8-14, pomeriggio 13-19, giornata 9-18 with lunch), staffing plans for the
demo queues, contracts for the agents (Davide part-time), a forecast from the demo's 90 days of
conversations, a schedule generated for this week and next and published, and today's presence
so that adherence has something to show."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.routing import presence as presence_actions
from sportello.routing.capacity import class_of_kind
from sportello.routing.models import Queue
from sportello.workforce import actions, service

TEMPLATES = (
    ("Mattina", "08:00", "14:00", 15, 0),
    ("Pomeriggio", "13:00", "19:00", 15, 0),
    ("Giornata", "09:00", "18:00", 15, 60),
)
# email: (hours a week, days a week, days off, channels, preferred templates, part-time)
CONTRACTS = {
    "chiara@casalavanda.example": (40, 5, [5, 6], ["messaging", "email"], ["Giornata"], False),
    "davide@casalavanda.example": (24, 4, [6], ["messaging", "email"], ["Mattina"], True),
    "francesca@casalavanda.example": (40, 5, [6], ["messaging", "email"], ["Pomeriggio"], False),
    "paolo@casalavanda.example": (20, 5, [5, 6], ["email"], ["Mattina"], False),
}


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand_id = accounts_service.default_brand(session).id
        if service.get_templates(session, brand_id):
            return  # loaded already (the demo runs each domain's loader once; a rerun adds nothing)
        templates = {}
        for name, start, end, brk, lunch in TEMPLATES:
            templates[name] = actions.do_save_template(
                session,
                brand_id=brand_id,
                name=name,
                start=start,
                end=end,
                break_minutes=brk,
                lunch_minutes=lunch,
            )
        # staffing plans from the queues' channels: replies within the working day
        pairs = session.execute(
            select(Queue, Channel.kind)
            .join(Channel, Channel.queue_id == Queue.id)
            .where(Queue.brand_id == brand_id)
        ).all()
        for queue, kind in pairs:
            cls = class_of_kind(kind)
            sla = 4 * 3600 if cls == "messaging" else 8 * 3600
            actions.do_save_plan(
                session,
                brand_id=brand_id,
                queue=queue,
                channel_class=cls,
                data={
                    "service_level_target": 0.8,
                    "answer_within_seconds": sla,
                    "shrinkage": 0.3,
                    "max_occupancy": 0.85,
                    "concurrency": 1,
                    "backlog_sla_seconds": sla,
                    "aht_seconds": 420 if cls == "email" else 300,
                },
            )
        users = {
            u.email: u for u in session.scalars(select(User).where(User.email.in_(list(CONTRACTS))))
        }
        for email, (hours, days, off, channels, preferred, part) in CONTRACTS.items():
            user = users.get(email)
            if user is None:
                continue
            actions.do_save_contract(
                session,
                brand_id=brand_id,
                user=user,
                hours_per_week=hours,
                days_per_week=days,
                days_off=off,
                channels=channels,
                preferred_template_ids=[templates[p].id for p in preferred],
                part_time=part,
            )
        today = now.astimezone(service.TZ).date()
        actions.do_create_adjustment(
            session,
            brand_id=brand_id,
            label="Saldi invernali (newsletter)",
            starts_on=today + timedelta(days=(7 - today.weekday()) % 7 + 2),
            ends_on=today + timedelta(days=(7 - today.weekday()) % 7 + 4),
            factor=1.4,
        )
        run = actions.do_run_forecast(session, brand_id=brand_id, now=now, horizon_days=14)
        monday = today - timedelta(days=today.weekday())
        # the forecast starts tomorrow: for the days before, the plan reuses next week's shape
        schedule = actions.do_generate_schedule(
            session, brand_id=brand_id, starts_on=monday, days=14, run=run, time_limit=20
        )
        actions.do_publish_schedule(session, schedule=schedule)
        session.flush()
        # today's presence: agents log in around the start of their shift, take their breaks
        start_today = service.local_midnight(today)
        shifts = service.published_shifts(
            session, start=start_today, end=start_today + timedelta(days=1)
        )
        for shift in shifts:
            if shift.start_at >= now:
                continue
            user = shift.user
            login = shift.start_at + timedelta(minutes=rng.choice([-5, -2, 0, 3, 12]))
            if login >= now:
                continue
            presence_actions.do_set_presence(
                session, user=user, presence="available", now=login, cause="login"
            )
            for brk in shift.breaks:
                bs = datetime.fromisoformat(brk["start_at"])
                be = datetime.fromisoformat(brk["end_at"])
                if bs >= now:
                    break
                presence_actions.do_set_presence(
                    session, user=user, presence="break", now=bs + timedelta(minutes=1)
                )
                if be + timedelta(minutes=4) >= now:
                    break
                presence_actions.do_set_presence(
                    session,
                    user=user,
                    presence="available",
                    now=be + timedelta(minutes=rng.choice([0, 2, 4])),
                )
            if shift.end_at <= now:
                presence_actions.do_set_presence(
                    session, user=user, presence="offline", now=shift.end_at, cause="logout"
                )
