"""Writes of the reports: aggregate upkeep, rebuild, settings, alerts, the weekly e-mail.
Actions never commit; the caller's transaction does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.core.db import Database, utcnow
from sportello.core.errors import InvalidInput
from sportello.core.events import EventPayload, emit, register_event
from sportello.reports import kpis, service, upkeep, weekly
from sportello.reports.models import SL_EDGES, ReportAlert, ReportSettings


class ReportAlertEvent(EventPayload):
    alert_id: int
    queue_id: int
    queue_name: str
    kind: str  # "service_level" | "no_agent"
    value: float | None
    state: str  # "raised" | "cleared"


register_event("reports.alert", ReportAlertEvent)

#: Below this many conversations offered today, a low service level raises no alert.
ALERT_MIN_OFFERED = 5


def do_refresh_conversations(session: Session, *, conversation_ids: Iterable[int]) -> int:
    """Bring the aggregates of these conversations up to date (idempotent)."""
    return upkeep.refresh_conversations(session, conversation_ids)


def do_record_survey_answers(session: Session, *, answers: Sequence[Mapping[str, Any]]) -> int:
    """Count ``survey.answered`` payloads into the aggregates, once per response id."""
    return upkeep.record_survey_answers(session, answers)


#: Conversations a transaction of a chunked rebuild (the CLI's, the settings page's, the API's).
REBUILD_BATCH = 2000


def do_rebuild_in_chunks(db: Database, *, batch: int | None = None) -> int:
    """Recompute every aggregate from the raw tables (after a bulk load, a settings change, or
    to recover; the CLI, the settings page, the API and the demo), in one short transaction per
    ``batch`` conversations: other writers get in between, a big history does not stop the
    service. Returns the number of conversations."""
    return upkeep.rebuild_in_chunks(db, batch=batch or REBUILD_BATCH)


def check_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ints = {
        "sl_seconds": (SL_EDGES[0], SL_EDGES[-1]),
        "short_abandon_seconds": (0, 600),
        "fcr_days": (1, 60),
        "wait_warning": (1, 86400),
        "wait_critical": (1, 86400),
    }
    for name, (low, high) in ints.items():
        if name in values:
            try:
                number = int(values[name])
            except (TypeError, ValueError):
                raise InvalidInput("not a number", field=name) from None
            if not low <= number <= high:
                raise InvalidInput("outside the allowed range", field=name)
            out[name] = number
    if "sl_seconds" in out and out["sl_seconds"] not in SL_EDGES:
        raise InvalidInput("choose one of the offered thresholds", field="sl_seconds")
    for name in ("sl_warning", "sl_critical"):
        if name in values:
            try:
                fraction = float(values[name])
            except (TypeError, ValueError):
                raise InvalidInput("not a number", field=name) from None
            if fraction > 1:
                fraction /= 100  # given as a percentage
            if not 0 <= fraction <= 1:
                raise InvalidInput("between 0 and 100", field=name)
            out[name] = fraction
    if "short_abandons" in values:
        if values["short_abandons"] not in kpis.SHORT_ABANDON_TREATMENTS:
            raise InvalidInput("unknown treatment", field="short_abandons")
        out["short_abandons"] = values["short_abandons"]
    if "weekly_email" in values:
        out["weekly_email"] = bool(values["weekly_email"])
    merged = {**kpis.ReportConfig().__dict__, **out}
    if merged["sl_critical"] > merged["sl_warning"]:
        raise InvalidInput(
            "the critical level must not exceed the warning level", field="sl_critical"
        )
    if merged["wait_critical"] < merged["wait_warning"]:
        raise InvalidInput(
            "the critical wait must not be shorter than the warning", field="wait_critical"
        )
    return out


def do_update_settings(
    session: Session, *, brand_id: int, values: Mapping[str, Any], by: User | None
) -> kpis.ReportConfig:
    """Change a brand's report settings (admins). Facts depending on the short-abandon
    threshold or the FCR window follow after ``do_rebuild_in_chunks``."""
    clean = check_settings(values)
    row = session.get(ReportSettings, brand_id)
    if row is None:
        row = ReportSettings(brand_id=brand_id, settings={})
        session.add(row)
    row.settings = {**(row.settings or {}), **clean}
    row.updated_at = utcnow()
    session.flush()
    return kpis.ReportConfig.from_dict(row.settings)


def do_check_alerts(session: Session, *, now: datetime | None = None) -> list[ReportAlert]:
    """Raise an alert for each queue whose service level today fell below the critical level,
    or with conversations waiting and nobody available to serve it; clear the ones that no
    longer hold. Each change is announced (``reports.alert``) to the consoles."""
    now = now or utcnow()
    snapshot = service.wallboard(session, None, now=now)
    cfg = service.config(session)
    offered_today = {q["id"]: q["answered"] + q["abandoned"] for q in snapshot["queues"]}
    wanted: dict[tuple[int, str], tuple[str, float | None]] = {}
    for q in snapshot["queues"]:
        sl = q["service_level"]
        if sl is not None and sl < cfg.sl_critical and offered_today[q["id"]] >= ALERT_MIN_OFFERED:
            wanted[(q["id"], "service_level")] = (q["name"], sl)
        if q["waiting"] and not q["agents"].get("available"):
            wanted[(q["id"], "no_agent")] = (q["name"], float(q["waiting"]))
    open_rows = {(a.queue_id, a.kind): a for a in service.open_alerts(session)}
    changed: list[ReportAlert] = []
    for key, (name, value) in wanted.items():
        if key in open_rows:
            continue
        alert = ReportAlert(queue_id=key[0], kind=key[1], value=value, raised_at=now)
        session.add(alert)
        session.flush()
        changed.append(alert)
        _announce(session, alert, name, "raised")
    names = {q["id"]: q["name"] for q in snapshot["queues"]}
    for key, alert in open_rows.items():
        if key not in wanted:
            alert.cleared_at = now
            changed.append(alert)
            _announce(session, alert, names.get(alert.queue_id, ""), "cleared")
    return changed


def _announce(session: Session, alert: ReportAlert, queue_name: str, state: str) -> None:
    emit(
        session,
        "reports.alert",
        ReportAlertEvent(
            alert_id=alert.id,
            queue_id=alert.queue_id,
            queue_name=queue_name,
            kind=alert.kind,
            value=alert.value,
            state=state,
        ),
    )


def do_send_weekly_report(
    db: Database,
    *,
    brand_id: int | None = None,
    now: datetime | None = None,
    only: User | None = None,
) -> int:
    """Send last week's report to every active supervisor and admin (or to ``only``) through
    the brand's mailbox. Returns how many were sent. Raises ``ChannelError`` (retried by the job)
    when the mailbox cannot send."""
    from sportello.accounts import service as accounts_service
    from sportello.channels import service as channels_service
    from sportello.channels.base import ChannelError
    from sportello.channels.email import smtp
    from sportello.channels.email.mailbox import MailboxSettings
    from sportello.config import get_settings

    now = now or utcnow()
    with db.session() as session:
        brand = brand_id or accounts_service.default_brand(session).id
        cfg = service.config(session, brand)
        if not cfg.weekly_email and only is None:
            return 0
        channel = weekly.mailbox(session, brand)
        if channel is None:
            raise ChannelError("no mailbox to send the weekly report from", permanent=True)
        config = channels_service.config_for(channel)  # the passwords, decrypted
        box = MailboxSettings.from_settings(config.settings)
        password = str(config.secrets.get("smtp_password", ""))
        people = [only] if only is not None else weekly.recipients(session)
        mails = [
            weekly.build(session, session.merge(person), now=now, base_url=get_settings().base_url)
            for person in people
        ]
    for mail in mails:
        msg = weekly.to_message(mail, sender=box.address, sender_name=box.display_name)
        smtp.send(box, password, msg, mail.to)
    return len(mails)


def _weekly_job(db: Database, _payload: dict[str, Any]) -> None:
    try:
        do_send_weekly_report(db)
    finally:
        weekly.ensure_scheduled(db, now=utcnow())


def _alerts_job(db: Database, _payload: dict[str, Any]) -> None:
    from sportello.reports import handlers

    try:
        with db.transaction() as session:
            do_check_alerts(session)
    finally:
        handlers.ensure_alert_check(db)


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.scalar(select(User).where(User.id == user_id))
