"""The weekly report by e-mail: last week's KPIs (Monday to Sunday, Europe/Rome) for each
supervisor and admin, in their language and scope, with the charts as inline PNG images, sent
through the brand's mailbox (its SMTP settings). Scheduled as a durable job each Monday at
07:00 Rome; the job schedules the next one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sportello.accounts.models import Role, User
from sportello.channels.models import Channel
from sportello.core import i18n, jobs
from sportello.core.db import Database, utcnow
from sportello.reports import charts, kpis, service

JOB = "reports.weekly_email"
SEND_HOUR = 7


@dataclass
class WeeklyMail:
    to: str
    name: str
    subject: str
    text: str
    html: str
    images: dict[str, bytes]


def last_week(now: datetime) -> tuple[date, date]:
    today = now.astimezone(kpis.ROME).date()
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def next_run(now: datetime) -> datetime:
    local = now.astimezone(kpis.ROME)
    monday = local.date() - timedelta(days=local.weekday())
    run = datetime(monday.year, monday.month, monday.day, SEND_HOUR, tzinfo=kpis.ROME)
    if run <= local:
        nxt = monday + timedelta(days=7)
        run = datetime(nxt.year, nxt.month, nxt.day, SEND_HOUR, tzinfo=kpis.ROME)
    return run.astimezone(UTC)


def recipients(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.is_active, User.role.in_((Role.ADMIN, Role.SUPERVISOR)))
            .order_by(User.id)
        )
    )


def mailbox(session: Session, brand_id: int) -> Channel | None:
    return session.scalar(
        select(Channel)
        .where(Channel.brand_id == brand_id, Channel.kind == "email")
        .order_by(Channel.id)
        .limit(1)
    )


def build(session: Session, user: User, *, now: datetime, base_url: str) -> WeeklyMail:
    from sportello.web.render import env

    start, end = last_week(now)
    f = service.Filters(start=start, end=end, interval="day")
    token = i18n.current_language.set(user.language if user.language in i18n.LANGUAGES else "it")
    try:
        _ = i18n.gettext
        rep = service.report(session, user, f)
        labels = [p.astimezone(kpis.ROME).strftime("%d/%m") for p in rep.periods]
        by_period = {r.period: r for r in rep.rows}
        volume = [by_period[p].kpis["volume"] if p in by_period else 0 for p in rep.periods]
        sl = [by_period[p].kpis["service_level"] if p in by_period else None for p in rep.periods]
        images = {
            "volume": charts.trend(
                rep.periods, {_("Volume"): volume}, labels=labels, fmt="png", title=_("Volume")
            ),
            "service_level": charts.trend(
                rep.periods,
                {_("Service level"): sl},
                labels=labels,
                percent=True,
                fmt="png",
                title=_("Service level (%%)"),
            ),
            "heatmap": charts.heatmap(
                service.heatmap(session, user, f),
                days=day_names(),
                fmt="png",
                title=_("Volume by hour of week"),
            ),
        }
        cids = {name: make_msgid(domain="sportello.invalid")[1:-1] for name in images}
        league = service.league(session, user, f)[:10]
        context: dict[str, Any] = {
            "user": user,
            "report": rep,
            "league": league,
            "start": start,
            "end": end,
            "cids": cids,
            "base_url": base_url.rstrip("/"),
            "query": f.query(),
            "fmt": fmt,
        }
        html = env.get_template("reports/weekly_email.html").render(context)
        subject = _(
            "Weekly report %(start)s - %(end)s",
            start=start.strftime("%d/%m"),
            end=end.strftime("%d/%m/%Y"),
        )
        k = rep.totals.kpis
        text = "\n".join(
            [
                subject,
                "",
                f"{_('Volume')}: {k['volume']}",
                f"{_('Service level')}: {fmt(k['service_level'], 'percent')}",
                f"{_('Average speed of answer')}: {fmt(k['asa'], 'seconds')}",
                f"{_('Abandonment rate')}: {fmt(k['abandonment_rate'], 'percent')}",
                f"{_('CSAT')}: {fmt(k['csat'], 'percent')}",
                "",
                f"{base_url.rstrip('/')}/reports",
            ]
        )
    finally:
        i18n.current_language.reset(token)
    return WeeklyMail(
        user.email,
        user.name,
        subject,
        text,
        html,
        {cids[name]: data for name, data in images.items() if isinstance(data, bytes)},
    )


def day_names() -> list[str]:
    _ = i18n.gettext
    return [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def fmt(value: Any, unit: str) -> str:
    """A KPI value as people read it."""
    if value is None:
        return "–"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        seconds = round(value)
        if seconds < 60:
            return f"{seconds}s"
        if seconds < 3600:
            return f"{seconds // 60}m {seconds % 60:02d}s"
        if seconds < 86400:
            return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
        return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    if unit == "score":
        return f"{value:.1f}"
    return f"{int(value):,}".replace(",", ".")


def to_message(mail: WeeklyMail, *, sender: str, sender_name: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = formataddr((mail.name, mail.to))
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<weekly-{uuid.uuid4().hex}@{sender.rsplit('@', 1)[-1]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    for cid, data in mail.images.items():
        html_part.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>")
    return msg


def ensure_scheduled(db: Database, *, now: datetime | None = None) -> None:
    """Schedule the next weekly e-mail (idempotent: one job a week, whoever asks)."""
    run_at = next_run(now or utcnow())
    try:
        with db.transaction() as session:
            jobs.enqueue(
                session,
                JOB,
                {},
                run_at=run_at,
                unique_key=f"{JOB}:{run_at.date().isoformat()}",
                max_attempts=5,
            )
    except IntegrityError:
        pass
