"""Demo data of the routing engine for "Casa Lavanda" (runs after the core demo).

The shop's agents get skills and levels, the two queues their routing (offers with a 30-second
countdown for customer care, which overflows to sales after ten minutes; automatic assignment for
sales), capacity per team and one personal override, pause reasons, a business calendar
("Orari negozio": Monday to Friday 9-18, Saturday 9-13, Italian holidays, closed around
Ferragosto) used by both teams, and SLA policies per priority counted in it.

Everything goes through the routing actions, as an admin would through the settings pages.
Silent, like the core demo: no outbox rows, so nothing reacts to it live.
"""

from __future__ import annotations

import random
from datetime import date, datetime

from sqlalchemy import select

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.routing import actions, capacity, presence, skills, sla
from sportello.routing.models import Queue, Skill

DOMAIN = "casalavanda.example"
SKILLS = ("Resi", "Spedizioni", "Fatturazione", "Inglese")
# Levels 1-5 by person; the seed varies the odd level by one, the shape stays.
LEVELS: dict[str, dict[str, int]] = {
    "chiara": {"Resi": 5, "Spedizioni": 4, "Inglese": 2},
    "davide": {"Resi": 3, "Spedizioni": 3, "Fatturazione": 4, "Inglese": 4},
    "francesca": {"Fatturazione": 5, "Spedizioni": 2, "Inglese": 3},
    "paolo": {"Resi": 4, "Spedizioni": 4, "Fatturazione": 3, "Inglese": 3},
}
PAUSE_REASONS = ("Pranzo", "Formazione", "Riunione", "Back-office")
CALENDAR = "Orari negozio"
HOURS = {
    **{day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "sat": [["09:00", "13:00"]],
}
TEAM_CAPACITY = {
    "Assistenza": {"voice": 1, "chat": 3, "messaging": 6, "email": 10},
    "Vendite": {"voice": 1, "chat": 4, "messaging": 8, "email": 12},
}
# name, priority, first response, next response, resolution (business seconds)
SLA_POLICIES = (
    ("Urgente", "urgent", 30 * 60, 30 * 60, 4 * 3600),
    ("Alta priorità", "high", 3600, 2 * 3600, 8 * 3600),
    ("Normale", "normal", 4 * 3600, 4 * 3600, 2 * 9 * 3600),
    ("Bassa priorità", "low", 8 * 3600, 8 * 3600, 5 * 9 * 3600),
)


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand_id = accounts_service.default_brand(session).id
        if session.scalar(select(Skill.id).where(Skill.brand_id == brand_id).limit(1)):
            return  # loaded already
        people = {
            u.email.split("@")[0]: u
            for u in session.scalars(select(User).where(User.email.like(f"%@{DOMAIN}")))
        }
        made = {
            name: skills.do_create_skill(session, brand_id=brand_id, name=name) for name in SKILLS
        }
        for who, levels in LEVELS.items():
            user = people.get(who)
            if user is None:
                continue
            for name, level in levels.items():
                level = min(5, max(1, level + rng.choice((0, 0, 0, -1, 1))))
                skills.do_set_agent_skill(session, user=user, skill=made[name], level=level)

        for name in PAUSE_REASONS:
            presence.do_create_pause_reason(session, brand_id=brand_id, name=name)

        calendar = sla.do_create_calendar(
            session,
            brand_id=brand_id,
            name=CALENDAR,
            config={
                "weekly": HOURS,
                "country_holidays": True,
                "closures": [
                    {"start": date(year, 8, 10).isoformat(), "end": date(year, 8, 21).isoformat()}
                    for year in (now.year, now.year + 1)
                ],
            },
        )
        teams = {t.name: t for t in session.scalars(select(Team))}
        for team_name, config in TEAM_CAPACITY.items():
            team = teams.get(team_name)
            if team is not None:
                capacity.do_set_team_capacity(session, team_id=team.id, capacity=config)
                sla.do_set_team_calendar(session, team_id=team.id, calendar_id=calendar.id)
        if "davide" in people:  # part-time on chat: two at a time
            capacity.do_set_agent_capacity(session, user=people["davide"], capacity={"chat": 2})

        queues = {
            q.name: q for q in session.scalars(select(Queue).where(Queue.brand_id == brand_id))
        }
        care, sales = queues.get("Assistenza clienti"), queues.get("Vendite")
        if care is not None:
            actions.do_configure_queue(
                session,
                queue=care,
                mode="push",
                offer_timeout_seconds=30,
                overflow_queue_id=sales.id if sales else None,
                overflow_after_seconds=600 if sales else None,
                calendar_id=None,
                members=[people[p] for p in ("chiara", "davide") if p in people],
                requirements={made["Resi"].id: 2},
            )
        if sales is not None:
            actions.do_configure_queue(
                session,
                queue=sales,
                mode="auto",
                offer_timeout_seconds=30,
                overflow_queue_id=None,
                overflow_after_seconds=None,
                calendar_id=None,
                members=[people[p] for p in ("francesca", "davide") if p in people],
                requirements={},
            )
        for position, (name, priority, first, following, resolution) in enumerate(SLA_POLICIES):
            sla.do_create_sla_policy(
                session,
                brand_id=brand_id,
                name=name,
                priority=priority,
                first_response_seconds=first,
                next_response_seconds=following,
                resolution_seconds=resolution,
                calendar_id=calendar.id,
                warning_fraction=0.75 if priority in ("urgent", "high") else 0.8,
                escalate_priority=priority != "urgent",
                position=position,
            )
        app = session.scalar(
            select(Channel).where(Channel.brand_id == brand_id, Channel.name == "App mobile")
        )
        if app is not None:  # the app's chat-like messages: a quicker first answer
            sla.do_create_sla_policy(
                session,
                brand_id=brand_id,
                name="App mobile: risposta rapida",
                channel_id=app.id,
                first_response_seconds=15 * 60,
                resolution_seconds=8 * 3600,
                calendar_id=calendar.id,
                position=10,
            )
