"""Writes of the campaigns: lists (import, segment), campaigns (save, start, pause), the call
work (next contact, dial, disposition), message sends (a durable job per campaign), the
do-not-call list, consent records, opposition register results and opt-outs."""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import Team, User
from sportello.campaigns import importing, pacing, statements, windows
from sportello.campaigns.models import (
    Campaign,
    CampaignAttempt,
    CampaignContact,
    CampaignKind,
    CampaignList,
    CampaignListEntry,
    CampaignStatus,
    Consent,
    ContactStatus,
    DialMode,
    DoNotCall,
    LegalBasis,
    ListSource,
    Purpose,
)
from sportello.campaigns.statements import rowcount
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, InvalidTransition, PermissionDenied
from sportello.customers.actions import find_or_create_customer_id
from sportello.customers.identities import normalize_email, normalize_phone
from sportello.customers.models import CustomerIdentity, IdentityKind

SEND_JOB = "campaign_send"
# Core inserts: an executemany per batch (the ORM's bulk insert goes row by row here).
_ENTRY_INSERT = insert(CampaignListEntry.__table__)  # type: ignore[arg-type]
_DNC_INSERT = insert(DoNotCall.__table__)  # type: ignore[arg-type]
MAX_LIST_ROWS = 200_000
MAX_PROBLEMS = 500
HOLD_FIRST = timedelta(seconds=30)
HOLD_MAX = timedelta(minutes=15)
STALE_CLAIM = timedelta(hours=2)
OPT_OUT_WORDS = frozenset({"STOP", "ARRESTA", "CANCELLA", "BASTA", "UNSUBSCRIBE", "STOP ALL"})

DEFAULT_DISPOSITIONS: list[dict[str, Any]] = [
    {"code": "reached", "label": "Reached", "final": True, "success": True},
    {"code": "sale", "label": "Sale", "final": True, "success": True},
    {"code": "no_answer", "label": "No answer", "retry_max": 3, "retry_minutes": 120},
    {"code": "busy", "label": "Busy", "retry_max": 3, "retry_minutes": 30},
    {"code": "voicemail", "label": "Voicemail", "retry_max": 2, "retry_minutes": 240},
    {"code": "callback", "label": "Call back at…", "callback": True},
    {"code": "wrong_number", "label": "Wrong number", "final": True},
    {"code": "not_interested", "label": "Not interested", "final": True},
    {"code": "do_not_call", "label": "Do not call again", "final": True, "opt_out": True},
]
CARE_DISPOSITIONS: list[dict[str, Any]] = [
    {"code": "all_well", "label": "All well", "final": True, "success": True},
    {"code": "needs_help", "label": "Needs help: follow-up", "final": True, "escalate": True},
    {"code": "no_answer", "label": "No answer", "retry_max": 4, "retry_minutes": 60},
    {"code": "callback", "label": "Call back at…", "callback": True},
    {"code": "do_not_call", "label": "Do not call again", "final": True, "opt_out": True},
]
CARE_SCRIPT: list[dict[str, str]] = [
    {"key": "wellbeing", "question": "Come sta? Ha bisogno di qualcosa in questi giorni?"},
    {"key": "supplies", "question": "Ha ricevuto gli ultimi ordini? Le manca qualcosa?"},
    {"key": "contact", "question": "C'è un familiare da avvisare o un numero migliore?"},
]


# ---- lists -----------------------------------------------------------------------------------


@dataclass
class Mapping_:
    """Which file column holds what (by header name); other columns listed in ``params`` are
    kept as the contact's parameters (for templates and the agent's screen)."""

    phone: str = ""
    email: str = ""
    name: str = ""
    timezone: str = ""
    params: Sequence[str] = ()


def _index(header: list[str], column: str, field: str) -> int | None:
    if not column:
        return None
    try:
        return header.index(column)
    except ValueError:
        raise InvalidInput("the file has no column with this name", field=field) from None


def _known(session: Session, kind: str, value: str) -> bool:
    kinds = [IdentityKind.PHONE, IdentityKind.WHATSAPP] if kind == "phone" else [IdentityKind.EMAIL]
    return (
        session.scalar(
            select(CustomerIdentity.id)
            .where(CustomerIdentity.kind.in_(kinds), CustomerIdentity.value == value)
            .limit(1)
        )
        is not None
    )


def do_import_list(
    session: Session,
    *,
    brand_id: int,
    name: str,
    filename: str,
    data: bytes,
    mapping: Mapping_,
    by: User | None,
    max_rows: int = MAX_LIST_ROWS,
    region: str = "IT",
) -> CampaignList:
    """Read the file, normalise each number to E.164 and each address, match or create the
    customer, skip (and report) invalid and duplicate rows; a file over ``max_rows`` is
    refused whole."""
    name = name.strip()
    if not name:
        raise InvalidInput("a list needs a name", field="name")
    if not mapping.phone and not mapping.email:
        raise InvalidInput("choose the column with the phone number or the email", field="phone")
    table = importing.read_table(filename, data)
    header = table.header
    phone_at = _index(header, mapping.phone, "phone")
    email_at = _index(header, mapping.email, "email")
    name_at = _index(header, mapping.name, "name_column")
    tz_at = _index(header, mapping.timezone, "timezone")
    param_at = [(p, _index(header, p, "params")) for p in mapping.params if p]
    listed = CampaignList(
        brand_id=brand_id,
        name=name[:200],
        source=ListSource.IMPORT,
        columns=[p for p, _ in param_at],
        created_by_id=by.id if by else None,
    )
    session.add(listed)
    session.flush()
    from sportello.customers.models import Customer

    customers_before = session.scalar(select(func.count()).select_from(Customer)) or 0
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    total = invalid = duplicates = 0

    def problem(row: int, reason: str, value: str = "") -> None:
        nonlocal invalid
        invalid += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append({"row": row, "reason": reason, "value": value[:80]})

    for number, cells in table.rows:
        total += 1
        if total > max_rows:
            raise InvalidInput(
                "the list has too many rows: split it", field="file", max_rows=max_rows
            )
        if cells == ["\x00malformed"]:
            problem(number, "malformed row")
            continue
        if len(cells) != len(header):
            problem(number, "wrong number of columns", ";".join(cells)[:80])
            continue
        raw_phone = cells[phone_at].strip() if phone_at is not None else ""
        raw_email = cells[email_at].strip() if email_at is not None else ""
        phone = email = None
        if raw_phone:
            try:
                phone = normalize_phone(raw_phone, region)
            except InvalidInput:
                problem(number, "not a phone number", raw_phone)
                continue
        if raw_email:
            try:
                email = normalize_email(raw_email)
            except InvalidInput:
                problem(number, "not an email address", raw_email)
                continue
        if not phone and not email:
            problem(number, "no phone number nor email")
            continue
        key = phone or email or ""
        if key in seen:
            duplicates += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append({"row": number, "reason": "duplicate", "value": key})
            continue
        seen.add(key)
        person = cells[name_at].strip()[:200] if name_at is not None else ""
        tz = cells[tz_at].strip()[:64] if tz_at is not None else ""
        kind, value = ("phone", phone) if phone else ("email", email)
        extra = [("email", email)] if phone and email else []
        if (
            phone
            and email
            and _known(session, "email", email)
            and not _known(session, "phone", phone)
        ):
            # A customer known by the email gets the number, rather than a twin by the number.
            kind, value, extra = "email", email, [("phone", phone)]
        customer_id, _shown = find_or_create_customer_id(
            session, kind=kind, value=value or "", name=person, extra=extra
        )
        entries.append(
            {
                "list_id": listed.id,
                "customer_id": customer_id,
                "row_number": number,
                "name": person,
                "phone": phone,
                "email": email,
                "timezone": tz or None,
                "params": {p: cells[i].strip()[:500] for p, i in param_at if i is not None},
            }
        )
        if len(entries) >= 2000:
            session.execute(_ENTRY_INSERT, entries)
            entries = []
    if entries:
        session.execute(_ENTRY_INSERT, entries)
    listed.total_rows = total
    listed.invalid_rows = invalid
    listed.duplicate_rows = duplicates
    listed.valid_rows = total - invalid - duplicates
    listed.created_customers = (
        session.scalar(select(func.count()).select_from(Customer)) or 0
    ) - customers_before
    listed.problems = problems
    return listed


def do_build_segment(
    session: Session,
    *,
    brand_id: int,
    name: str,
    tag: str = "",
    channel_kind: str = "",
    contacted_within_days: int | None = None,
    not_contacted_for_days: int | None = None,
    by: User | None,
    max_rows: int = MAX_LIST_ROWS,
) -> CampaignList:
    """A list of the customers who match: a tag on one of their conversations, a channel
    they wrote on, their last contact (within, or not for, so many days). Each customer's
    phone number (else email) is the contact."""
    from sportello.conversations.models import Tag, conversation_tag

    name = name.strip()
    if not name:
        raise InvalidInput("a list needs a name", field="name")
    now = utcnow()
    conversations = select(Conversation.customer_id).where(Conversation.brand_id == brand_id)
    if tag.strip():
        conversations = (
            conversations.join(
                conversation_tag, conversation_tag.c.conversation_id == Conversation.id
            )
            .join(Tag, Tag.id == conversation_tag.c.tag_id)
            .where(Tag.name == tag.strip().lower())
        )
    if channel_kind:
        conversations = conversations.join(Channel, Channel.id == Conversation.channel_id).where(
            Channel.kind == channel_kind
        )
    last = (
        select(Conversation.customer_id, func.max(Conversation.last_message_at).label("last"))
        .group_by(Conversation.customer_id)
        .subquery()
    )
    query = select(last.c.customer_id).where(last.c.customer_id.in_(conversations))
    if contacted_within_days is not None:
        query = query.where(last.c.last >= now - timedelta(days=contacted_within_days))
    if not_contacted_for_days is not None:
        query = query.where(last.c.last < now - timedelta(days=not_contacted_for_days))
    customer_ids = list(session.scalars(query.limit(max_rows + 1)))
    if len(customer_ids) > max_rows:
        raise InvalidInput("the list has too many rows: split it", field="tag", max_rows=max_rows)
    listed = CampaignList(
        brand_id=brand_id, name=name[:200], source=ListSource.SEGMENT, created_by_id=by and by.id
    )
    session.add(listed)
    session.flush()
    identities: dict[int, dict[str, str]] = {}
    from sportello.customers.models import Customer

    names = dict(
        session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids))
        ).all()
    )
    for customer_id, kind, value in session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.kind, CustomerIdentity.value).where(
            CustomerIdentity.customer_id.in_(customer_ids)
        )
    ):
        slot = identities.setdefault(customer_id, {})
        key = "phone" if kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP) else kind.value
        slot.setdefault(key, value)
    rows = [
        {
            "list_id": listed.id,
            "customer_id": cid,
            "row_number": n,
            "name": names.get(cid, ""),
            "phone": identities.get(cid, {}).get("phone"),
            "email": identities.get(cid, {}).get("email"),
            "params": {},
        }
        for n, cid in enumerate(customer_ids, start=1)
        if identities.get(cid, {}).get("phone") or identities.get(cid, {}).get("email")
    ]
    if rows:
        session.execute(_ENTRY_INSERT, rows)
    listed.total_rows = len(customer_ids)
    listed.valid_rows = len(rows)
    listed.invalid_rows = len(customer_ids) - len(rows)
    return listed


# ---- campaigns -------------------------------------------------------------------------------


@dataclass
class CampaignData:
    name: str
    kind: CampaignKind
    mode: DialMode = DialMode.PREVIEW
    list_id: int | None = None
    channel_id: int | None = None
    legal_basis: LegalBasis | None = None
    purpose: Purpose = Purpose.MARKETING
    template_key: str = ""
    template_params: Sequence[str] = ()
    subject: str = ""
    message_text: str = ""
    rate_per_minute: int = 60
    script: Sequence[Mapping[str, str]] = ()
    dispositions: Sequence[Mapping[str, Any]] = ()
    max_attempts: int = 3
    window: Mapping[str, Any] | None = None
    followup_team_id: int | None = None
    is_care: bool = False


_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_window(window: Mapping[str, Any]) -> dict[str, Any]:
    clean = windows.window_of(dict(window))
    for key in ("weekdays", "saturday", "sunday"):
        hours = clean.get(key)
        if not hours:
            clean[key] = None
            continue
        if (
            not isinstance(hours, list | tuple)
            or len(hours) != 2
            or not all(isinstance(h, str) and _TIME.match(h) for h in hours)
            or hours[0] >= hours[1]
        ):
            raise InvalidInput("give the hours as HH:MM, from before until", field=f"window.{key}")
        clean[key] = [hours[0], hours[1]]
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(clean.get("timezone")))
    except Exception:
        raise InvalidInput("unknown time zone", field="window.timezone") from None
    clean["holidays"] = bool(clean.get("holidays"))
    return clean


def _check_dispositions(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    codes: set[str] = set()
    for item in items:
        code = str(item.get("code") or "").strip()
        label = str(item.get("label") or "").strip()
        if not re.fullmatch(r"[a-z0-9_]{1,40}", code) or code in codes:
            raise InvalidInput("each disposition needs its own short code", field="dispositions")
        if not label:
            raise InvalidInput("each disposition needs a label", field="dispositions")
        codes.add(code)
        clean: dict[str, Any] = {"code": code, "label": label[:100]}
        for flag in ("final", "success", "callback", "opt_out", "escalate"):
            if item.get(flag):
                clean[flag] = True
        for number, top in (("retry_max", 20), ("retry_minutes", 60 * 24 * 30)):
            if item.get(number) not in (None, ""):
                try:
                    value = int(item[number])
                except (TypeError, ValueError):
                    raise InvalidInput("give a whole number", field="dispositions") from None
                if not 0 <= value <= top:
                    raise InvalidInput("give a whole number", field="dispositions")
                clean[number] = value
        out.append(clean)
    return out


def _check_script(items: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    out = []
    for n, item in enumerate(items, start=1):
        question = str(item.get("question") or "").strip()
        if not question:
            continue
        key = str(item.get("key") or f"q{n}").strip()[:40] or f"q{n}"
        out.append({"key": key, "question": question[:500]})
    return out[:20]


def template_fields(text: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


def check_campaign(session: Session, data: CampaignData, campaign: Campaign | None) -> None:
    if not data.name.strip():
        raise InvalidInput("a campaign needs a name", field="name")
    if not 1 <= data.rate_per_minute <= 6000:
        raise InvalidInput("from 1 to 6000 messages a minute", field="rate_per_minute")
    if not 1 <= data.max_attempts <= 20:
        raise InvalidInput("from 1 to 20 attempts", field="max_attempts")
    if data.list_id is not None and session.get(CampaignList, data.list_id) is None:
        raise InvalidInput("unknown list", field="list_id")
    if data.followup_team_id is not None and session.get(Team, data.followup_team_id) is None:
        raise InvalidInput("unknown team", field="followup_team_id")
    if data.kind != CampaignKind.CALL and data.channel_id is not None:
        channel = session.get(Channel, data.channel_id)
        if channel is None or channel.kind != data.kind.value:
            raise InvalidInput("choose a channel of this kind", field="channel_id")
    started = campaign is not None and campaign.status in (
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
    )
    # What the contacts were copied and scrubbed for cannot change under them.
    if (
        started
        and campaign is not None
        and (
            data.kind != campaign.kind
            or data.list_id != campaign.list_id
            or data.channel_id != campaign.channel_id
            or data.legal_basis != campaign.legal_basis
            or data.purpose != campaign.purpose
        )
    ):
        raise Conflict("a started campaign keeps its kind, list, channel, purpose and legal basis")
    if campaign is not None and campaign.status == CampaignStatus.FINISHED:
        raise InvalidTransition("this campaign is finished")


def do_save_campaign(
    session: Session,
    *,
    brand_id: int,
    data: CampaignData,
    by: User | None,
    campaign: Campaign | None = None,
) -> Campaign:
    check_campaign(session, data, campaign)
    window = _check_window(data.window or {})
    dispositions = _check_dispositions(
        data.dispositions or (CARE_DISPOSITIONS if data.is_care else DEFAULT_DISPOSITIONS)
    )
    if campaign is None:
        campaign = Campaign(brand_id=brand_id, created_by_id=by.id if by else None)
        session.add(campaign)
    campaign.name = data.name.strip()[:200]
    campaign.kind = data.kind
    campaign.mode = data.mode
    campaign.list_id = data.list_id
    campaign.channel_id = data.channel_id if data.kind != CampaignKind.CALL else None
    campaign.legal_basis = data.legal_basis
    campaign.purpose = data.purpose
    campaign.template_key = data.template_key.strip()[:600]
    campaign.template_params = [str(p)[:200] for p in data.template_params][:20]
    campaign.subject = data.subject.strip()[:300]
    campaign.message_text = data.message_text.strip()[:4000]
    campaign.rate_per_minute = data.rate_per_minute
    campaign.script = _check_script(data.script)
    campaign.dispositions = dispositions
    campaign.max_attempts = data.max_attempts
    campaign.window = window
    campaign.followup_team_id = data.followup_team_id
    campaign.is_care = data.is_care
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def care_template(name: str, list_id: int | None) -> CampaignData:
    """ "Call our fragile customers": a care call with wellbeing questions, an escalation that
    opens a follow-up, vital interest as the legal basis (a choice the supervisor confirms)."""
    return CampaignData(
        name=name,
        kind=CampaignKind.CALL,
        mode=DialMode.PREVIEW,
        list_id=list_id,
        legal_basis=LegalBasis.VITAL_INTEREST,
        purpose=Purpose.CARE,
        script=CARE_SCRIPT,
        dispositions=CARE_DISPOSITIONS,
        max_attempts=4,
        is_care=True,
    )


def _template_adapter(channel: Channel) -> Any:
    from sportello.channels import registry

    adapter = registry.get_adapter(channel.kind) if channel.kind in registry.kinds() else None
    return adapter if adapter is not None and hasattr(adapter, "template_reply") else None


def check_start(session: Session, campaign: Campaign) -> None:
    if campaign.status == CampaignStatus.RUNNING:
        raise InvalidTransition("this campaign is running already")
    if campaign.status == CampaignStatus.FINISHED:
        raise InvalidTransition("this campaign is finished")
    if campaign.legal_basis is None:
        raise InvalidInput("choose the legal basis before starting", field="legal_basis")
    if campaign.list_id is None:
        raise InvalidInput("choose a list", field="list_id")
    if campaign.kind == CampaignKind.CALL:
        return
    channel = session.get(Channel, campaign.channel_id) if campaign.channel_id else None
    if channel is None:
        raise InvalidInput("choose a channel of this kind", field="channel_id")
    listed = session.get(CampaignList, campaign.list_id)
    columns = set(listed.columns if listed else []) | {"name", "phone", "email"}
    if campaign.kind == CampaignKind.WHATSAPP:
        from sportello.channels.whatsapp import templates

        template = templates.find(channel.settings, campaign.template_key)
        if template is None:
            raise InvalidInput(
                "choose one of the channel's approved templates", field="template_key"
            )
        wanted = len(template.get("params") or [])
        if len(campaign.template_params) != wanted:
            raise InvalidInput(
                "the template needs more parameters", field="template_params", needed=wanted
            )
        adapter = _template_adapter(channel)
        if adapter is None:
            raise InvalidInput("this channel sends no templates", field="channel_id")
        try:  # a dry run: a header or a button link the list cannot fill is refused now
            adapter.template_reply(
                channel.settings, key=campaign.template_key, values=["x"] * wanted
            )
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="template_params") from None
        params = campaign.template_params
    else:
        if not campaign.message_text:
            raise InvalidInput("write the message", field="message_text")
        params = template_fields(campaign.message_text)
    for param in params:
        if not str(param).startswith("=") and param not in columns:
            raise InvalidInput(
                "the list has no column with this name", field="template_params", column=param
            )


def do_start_campaign(
    session: Session, *, campaign: Campaign, now: datetime | None = None
) -> Campaign:
    """Copy the list into the campaign (first start), scrub it against the do-not-call list,
    the opposition register and consent, and set it running. Message campaigns get their
    sending job."""
    check_start(session, campaign)
    now = now or utcnow()
    if campaign.started_at is None:
        assert campaign.list_id is not None
        statements.copy_list(session, campaign_id=campaign.id, list_id=campaign.list_id, now=now)
        campaign.started_at = now
    statements.scrub(session, campaign, now)
    campaign.status = CampaignStatus.RUNNING
    campaign.held_until = None
    campaign.held_reason = None
    campaign.updated_at = now
    session.flush()
    if campaign.kind != CampaignKind.CALL:
        _schedule_send(session, campaign, now)
    return campaign


def do_pause_campaign(session: Session, *, campaign: Campaign) -> Campaign:
    if campaign.status != CampaignStatus.RUNNING:
        raise InvalidTransition("this campaign is not running")
    campaign.status = CampaignStatus.PAUSED
    campaign.updated_at = utcnow()
    return campaign


def do_finish_campaign(session: Session, *, campaign: Campaign) -> Campaign:
    if campaign.status == CampaignStatus.FINISHED:
        raise InvalidTransition("this campaign is finished")
    campaign.status = CampaignStatus.FINISHED
    campaign.finished_at = utcnow()
    campaign.updated_at = campaign.finished_at
    return campaign


# ---- calls -----------------------------------------------------------------------------------


def _attempt_open(session: Session, contact: CampaignContact) -> CampaignAttempt | None:
    return session.scalar(
        select(CampaignAttempt)
        .where(CampaignAttempt.contact_id == contact.id, CampaignAttempt.ended_at.is_(None))
        .order_by(CampaignAttempt.id.desc())
        .limit(1)
    )


def check_can_work(campaign: Campaign, user: User) -> None:
    if campaign.kind != CampaignKind.CALL:
        raise InvalidInput("this campaign sends messages: there is nothing to call", field="id")
    if campaign.status != CampaignStatus.RUNNING:
        raise InvalidTransition("this campaign is not running")


def agent_ready(session: Session, agent: User) -> bool:
    """The pacing rule for this agent: available, and no call of any campaign in progress."""
    from sportello.routing.models import AgentState

    presence = session.scalar(select(AgentState.presence).where(AgentState.user_id == agent.id))
    in_call = (
        session.scalar(
            select(CampaignAttempt.id)
            .where(CampaignAttempt.agent_id == agent.id, CampaignAttempt.ended_at.is_(None))
            .limit(1)
        )
        is not None
    )
    snapshot = pacing.AgentSnapshot(
        user_id=agent.id, presence=presence or "offline", in_call=in_call
    )
    return bool(pacing.plan_dials([snapshot], [0]))


def do_next_contact(
    session: Session, *, campaign: Campaign, agent: User, now: datetime | None = None
) -> CampaignContact | None:
    """The contact this agent calls next: the one already on their screen, else their own
    callbacks that are due, else the longest-waiting due contact whose calling window is open
    (in the customer's time zone) and who is not blocked. Claimed with a conditional UPDATE,
    so two agents never get the same contact."""
    check_can_work(campaign, agent)
    now = now or utcnow()
    current = session.scalar(
        select(CampaignContact).where(
            CampaignContact.campaign_id == campaign.id,
            CampaignContact.status == ContactStatus.ACTIVE,
            CampaignContact.agent_id == agent.id,
        )
    )
    if current is not None:
        return current
    if campaign.mode == DialMode.PROGRESSIVE and not agent_ready(session, agent):
        return None  # progressive: a number is dialed only for a ready agent
    window = windows.window_of(campaign.window)
    # Claims left by an agent who went away long ago go back to the list.
    session.execute(
        update(CampaignContact)
        .where(
            CampaignContact.campaign_id == campaign.id,
            CampaignContact.status == ContactStatus.ACTIVE,
            CampaignContact.claimed_at < now - STALE_CLAIM,
        )
        .values(status=ContactStatus.PENDING, agent_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    # Both queries walk an index in order (callbacks by agent; the rest by campaign, status and
    # due time), so the pick costs the same with a hundred contacts or a million.
    base = select(
        CampaignContact.id, CampaignContact.timezone, CampaignContact.callback_agent_id
    ).where(
        CampaignContact.campaign_id == campaign.id,
        CampaignContact.status == ContactStatus.PENDING,
        CampaignContact.next_attempt_at <= now,
    )
    queries = [
        base.where(CampaignContact.callback_agent_id == agent.id).order_by(
            CampaignContact.next_attempt_at, CampaignContact.id
        ),
        # Others' callbacks are skipped below, not in SQL: a filter on the (mostly empty)
        # callback column would tempt the planner away from the ordered index.
        base.order_by(CampaignContact.next_attempt_at, CampaignContact.id),
    ]
    for query in queries:
        offset = 0
        while True:
            candidates = session.execute(query.offset(offset).limit(25)).all()
            if not candidates:
                break
            offset += 25
            for contact_id, timezone, callback_agent_id in candidates:
                if callback_agent_id not in (None, agent.id):
                    continue
                if windows.blocked_reason(window, now, timezone) is not None:
                    continue
                reason = statements.block_reason(session, campaign, contact_id, now)
                if reason is not None:
                    session.execute(
                        update(CampaignContact)
                        .where(
                            CampaignContact.id == contact_id,
                            CampaignContact.status == ContactStatus.PENDING,
                        )
                        .values(status=ContactStatus.BLOCKED, block_reason=reason, updated_at=now)
                        .execution_options(synchronize_session=False)
                    )
                    continue
                claimed = session.execute(
                    update(CampaignContact)
                    .where(
                        CampaignContact.id == contact_id,
                        CampaignContact.status == ContactStatus.PENDING,
                    )
                    .values(
                        status=ContactStatus.ACTIVE,
                        agent_id=agent.id,
                        claimed_at=now,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(claimed):
                    contact = session.get_one(CampaignContact, contact_id)
                    session.refresh(contact)
                    session.add(
                        CampaignAttempt(
                            campaign_id=campaign.id,
                            contact_id=contact.id,
                            agent_id=agent.id,
                            started_at=now,
                        )
                    )
                    session.flush()
                    return contact
            if offset > 2000:
                break
    return None


def check_own_contact(contact: CampaignContact, agent: User) -> None:
    if contact.status != ContactStatus.ACTIVE or contact.agent_id != agent.id:
        raise PermissionDenied("this contact is not on your screen")


def do_dial(
    session: Session, *, contact: CampaignContact, agent: User, now: datetime | None = None
) -> CampaignAttempt:
    """The agent clicked to dial (or the progressive dialer dialed): the window and the
    do-not-call list are checked once more, at the last moment."""
    check_own_contact(contact, agent)
    now = now or utcnow()
    campaign = session.get_one(Campaign, contact.campaign_id)
    reason = windows.blocked_reason(windows.window_of(campaign.window), now, contact.timezone)
    if reason is not None:
        raise Conflict("outside the calling window: not now")
    blocked = statements.block_reason(session, campaign, contact.id, now)
    if blocked is not None:
        contact.status = ContactStatus.BLOCKED
        contact.block_reason = blocked
        contact.agent_id = None
        attempt = _attempt_open(session, contact)
        if attempt is not None:
            attempt.ended_at = now
        raise Conflict("this contact may not be called: it is blocked")
    attempt = _attempt_open(session, contact)
    if attempt is None:
        attempt = CampaignAttempt(
            campaign_id=campaign.id, contact_id=contact.id, agent_id=agent.id, started_at=now
        )
        session.add(attempt)
    if attempt.dialed_at is None:
        attempt.dialed_at = now
    session.flush()
    return attempt


def _disposition(campaign: Campaign, code: str) -> dict[str, Any]:
    for item in campaign.dispositions or []:
        if item.get("code") == code:
            return dict(item)
    raise InvalidInput("choose one of the campaign's dispositions", field="disposition")


def _timeline(
    session: Session,
    *,
    campaign: Campaign,
    contact: CampaignContact,
    agent: User,
    label: str,
    answers: Mapping[str, str],
    note: str,
    escalate: bool,
    now: datetime,
) -> Conversation:
    """The call as a conversation of the customer: resolved, or open and urgent when the
    disposition asks for a follow-up."""
    lines = [f"📞 {campaign.name}: {label}"]
    questions = {q["key"]: q["question"] for q in campaign.script or []}
    for key, answer in answers.items():
        if answer:
            lines.append(f"• {questions.get(key, key)} — {answer}")
    if note:
        lines.append(note)
    text = "\n".join(lines)
    conversation = Conversation(
        number=conversations_actions.next_number(session),
        brand_id=campaign.brand_id,
        channel_id=None,
        customer_id=contact.customer_id,
        assignee_id=None if escalate else agent.id,
        status=Status.OPEN if escalate else Status.RESOLVED,
        priority=Priority.URGENT if escalate else Priority.NORMAL,
        subject=campaign.name[:300],
        created_at=now,
        updated_at=now,
        last_message_at=now,
        resolved_at=None if escalate else now,
        message_count=1,
        preview=text[:200],
    )
    session.add(conversation)
    session.flush()
    session.add(
        Message(
            conversation_id=conversation.id,
            channel_id=None,
            direction=Direction.NOTE,
            author_id=agent.id,
            sender_name=agent.name,
            text=text,
            meta={"campaign_id": campaign.id, "campaign_contact_id": contact.id},
            created_at=now,
            updated_at=now,
        )
    )
    return conversation


def do_record_disposition(
    session: Session,
    *,
    contact: CampaignContact,
    agent: User,
    disposition: str,
    answers: Mapping[str, str] | None = None,
    note: str = "",
    callback_at: datetime | None = None,
    personal: bool = True,
    now: datetime | None = None,
) -> CampaignContact:
    """The outcome of a call: stored on the attempt, the call put in the customer's timeline,
    and the contact moved on by the disposition's rule (done, retry later, call back at a
    time, do not call again, follow-up)."""
    check_own_contact(contact, agent)
    now = now or utcnow()
    campaign = session.get_one(Campaign, contact.campaign_id)
    rule = _disposition(campaign, disposition)
    keys = {q["key"] for q in campaign.script or []}
    clean_answers = {
        k: str(v).strip()[:1000] for k, v in (answers or {}).items() if k in keys and v
    }
    if rule.get("callback"):
        if callback_at is None:
            raise InvalidInput("give the day and time of the call back", field="callback_at")
        if callback_at <= now:
            raise InvalidInput("the call back must be in the future", field="callback_at")
    attempt = _attempt_open(session, contact) or CampaignAttempt(
        campaign_id=campaign.id, contact_id=contact.id, agent_id=agent.id, started_at=now
    )
    session.add(attempt)
    attempt.ended_at = now
    attempt.disposition = disposition
    attempt.answers = clean_answers
    attempt.note = note.strip()[:2000]
    attempt.callback_at = callback_at
    contact.attempts += 1
    contact.last_disposition = disposition
    contact.agent_id = None
    contact.claimed_at = None
    contact.updated_at = now
    if contact.customer_id is not None:
        conversation = _timeline(
            session,
            campaign=campaign,
            contact=contact,
            agent=agent,
            label=str(rule.get("label") or disposition),
            answers=clean_answers,
            note=attempt.note,
            escalate=bool(rule.get("escalate")),
            now=now,
        )
        attempt.conversation_id = conversation.id
        contact.conversation_id = conversation.id
    if rule.get("opt_out"):
        contact.status = ContactStatus.BLOCKED
        contact.block_reason = "opt_out"
        for value in (contact.phone, contact.email):
            if value:
                do_add_do_not_call(
                    session,
                    brand_id=campaign.brand_id,
                    value=value,
                    source="disposition",
                    channel="phone",
                    by=agent,
                    now=now,
                )
    elif rule.get("callback"):
        contact.status = ContactStatus.PENDING
        contact.next_attempt_at = callback_at
        contact.callback_agent_id = agent.id if personal else None
    elif rule.get("final"):
        contact.status = ContactStatus.DONE
        contact.callback_agent_id = None
    else:
        allowed = min(int(rule.get("retry_max", campaign.max_attempts)), campaign.max_attempts)
        if contact.attempts < allowed:
            contact.status = ContactStatus.PENDING
            contact.next_attempt_at = now + timedelta(minutes=int(rule.get("retry_minutes", 60)))
            contact.callback_agent_id = None
        else:
            contact.status = ContactStatus.FAILED
    session.flush()
    return contact


# ---- messages --------------------------------------------------------------------------------


def _schedule_send(session: Session, campaign: Campaign, at: datetime) -> None:
    pending = session.scalar(
        select(jobs.Job.id).where(
            jobs.Job.kind == SEND_JOB,
            jobs.Job.done_at.is_(None),
            jobs.Job.failed_at.is_(None),
            jobs.Job.claimed_at.is_(None),  # not the round that is running now
            jobs.Job.unique_key.like(f"campaign:{campaign.id}:%"),
        )
    )
    if pending is None:
        jobs.enqueue(
            session,
            SEND_JOB,
            {"campaign_id": campaign.id},
            run_at=at,
            unique_key=f"campaign:{campaign.id}:{uuid.uuid4().hex}",
            max_attempts=1000,
        )


def batch_size(rate_per_minute: int, tick_seconds: float = 10.0) -> int:
    return max(1, int(rate_per_minute * tick_seconds / 60))


def _param(contact: CampaignContact, name: str) -> str:
    if name.startswith("="):
        return name[1:]
    if name in ("name", "phone", "email"):
        return str(getattr(contact, name) or "")
    return str((contact.params or {}).get(name) or "")


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _compose(
    session: Session, campaign: Campaign, channel: Channel, contact: CampaignContact
) -> tuple[str, dict[str, Any]]:
    """The message for one contact: (text for the timeline, meta for the adapter)."""
    meta: dict[str, Any] = {"campaign_id": campaign.id, "campaign_contact_id": contact.id}
    if campaign.kind == CampaignKind.WHATSAPP:
        values = [_param(contact, p) for p in campaign.template_params]
        if any(not v.strip() for v in values):
            raise InvalidInput("a template parameter is empty for this contact", field="params")
        adapter = _template_adapter(channel)
        if adapter is None:
            raise InvalidInput("this channel sends no templates", field="channel_id")
        text, extra = adapter.template_reply(
            channel.settings, key=campaign.template_key, values=values
        )
        meta.update(extra)
        return text, meta
    fields = _Fields({"name": contact.name or "", "phone": contact.phone or ""})
    fields.update({k: str(v) for k, v in (contact.params or {}).items()})
    text = campaign.message_text.format_map(fields)
    if campaign.kind == CampaignKind.EMAIL:
        from sportello.campaigns import links

        text += "\n\n—\n" + links.unsubscribe_line(contact.id)
    return text, meta


def _identity_kind(kind: CampaignKind) -> str:
    return {CampaignKind.WHATSAPP: "whatsapp", CampaignKind.SMS: "phone"}.get(kind, "email")


def prepare_batch(session: Session, campaign: Campaign, now: datetime) -> tuple[list[int], bool]:
    """Claim the next contacts allowed by the rate and record their messages (queued); a
    contact already claimed whose message was not sent yet (a temporary error) comes first.
    Returns (message ids to send in order, whether contacts are left)."""
    channel = session.get(Channel, campaign.channel_id) if campaign.channel_id else None
    if channel is None:
        campaign.status = CampaignStatus.PAUSED
        campaign.held_reason = "the channel of this campaign was removed"
        return [], False
    size = batch_size(campaign.rate_per_minute)
    retry = list(
        session.execute(
            select(CampaignContact.id, CampaignContact.message_id)
            .join(Message, Message.id == CampaignContact.message_id)
            .where(
                CampaignContact.campaign_id == campaign.id,
                CampaignContact.status == ContactStatus.ACTIVE,
                Message.delivery_state == DeliveryState.QUEUED,
            )
            .order_by(CampaignContact.id)
            .limit(size)
        )
    )
    message_ids = [m for _, m in retry if m is not None]
    fresh = list(
        session.scalars(
            select(CampaignContact)
            .where(
                CampaignContact.campaign_id == campaign.id,
                CampaignContact.status == ContactStatus.PENDING,
            )
            .order_by(CampaignContact.id)
            .limit(max(0, size - len(message_ids)))
        )
    )
    for contact in fresh:
        reason = statements.block_reason(session, campaign, contact.id, now)
        if reason is not None:
            contact.status = ContactStatus.BLOCKED
            contact.block_reason = reason
            contact.updated_at = now
            continue
        claimed = session.execute(
            update(CampaignContact)
            .where(
                CampaignContact.id == contact.id,
                CampaignContact.status == ContactStatus.PENDING,
            )
            .values(status=ContactStatus.ACTIVE, claimed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not rowcount(claimed):
            continue
        session.refresh(contact)
        try:
            text, meta = _compose(session, campaign, channel, contact)
        except InvalidInput as exc:
            contact.status = ContactStatus.FAILED
            contact.send_error = exc.message
            continue
        if contact.customer_id is None:
            contact.status = ContactStatus.FAILED
            contact.send_error = "no customer"
            continue
        kind = _identity_kind(CampaignKind(campaign.kind))
        address = contact.email if kind == "email" else contact.phone
        if kind != "phone" and address:
            find_or_create_customer_id(session, kind=kind, value=address)
        conversation = Conversation(
            number=conversations_actions.next_number(session),
            brand_id=campaign.brand_id,
            channel_id=channel.id,
            customer_id=contact.customer_id,
            status=Status.PENDING,
            subject=(campaign.subject or campaign.name)[:300],
            created_at=now,
            updated_at=now,
            last_message_at=now,
            message_count=1,
            preview=text[:200],
        )
        session.add(conversation)
        session.flush()
        message = Message(
            conversation_id=conversation.id,
            channel_id=channel.id,
            direction=Direction.OUTBOUND,
            sender_name=campaign.name[:200],
            text=text,
            delivery_state=DeliveryState.QUEUED,
            meta=meta,
            created_at=now,
            updated_at=now,
        )
        session.add(message)
        session.flush()
        contact.conversation_id = conversation.id
        contact.message_id = message.id
        contact.attempts += 1
        message_ids.append(message.id)
    left = session.scalar(
        select(CampaignContact.id)
        .where(
            CampaignContact.campaign_id == campaign.id,
            CampaignContact.status.in_([ContactStatus.PENDING, ContactStatus.ACTIVE]),
        )
        .limit(1)
    )
    return message_ids, left is not None


def do_hold(session: Session, *, campaign: Campaign, reason: str, now: datetime) -> None:
    """The provider said slow down (its rate) or failed for a while: no sends until later,
    waiting longer each time in a row."""
    previous = (
        (campaign.held_until - (campaign.updated_at or now))
        if campaign.held_until and campaign.held_reason
        else None
    )
    wait = min(HOLD_MAX, previous * 2) if previous and previous > HOLD_FIRST else HOLD_FIRST
    campaign.held_until = now + wait
    campaign.held_reason = reason[:500]
    campaign.updated_at = now


def after_sent(session: Session, *, message_id: int, now: datetime) -> None:
    contact = session.scalar(
        select(CampaignContact).where(CampaignContact.message_id == message_id)
    )
    if contact is not None and contact.status == ContactStatus.ACTIVE:
        contact.status = ContactStatus.DONE
        contact.updated_at = now


def after_failed(session: Session, *, message_id: int, error: str, now: datetime) -> None:
    message = session.get(Message, message_id)
    if message is not None:
        conversations_actions.do_mark_delivery(
            session, message=message, state=DeliveryState.FAILED, error=error
        )
    contact = session.scalar(
        select(CampaignContact).where(CampaignContact.message_id == message_id)
    )
    if contact is not None:
        contact.status = ContactStatus.FAILED
        contact.send_error = error[:2000]
        contact.updated_at = now


# ---- compliance ------------------------------------------------------------------------------


def normalize_contact_value(value: str) -> str:
    value = value.strip()
    if "@" in value:
        return normalize_email(value)
    return normalize_phone(value)


def do_add_do_not_call(
    session: Session,
    *,
    brand_id: int | None,
    value: str,
    source: str = "manual",
    channel: str | None = None,
    note: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> DoNotCall:
    """Never contact this number or address again (for one brand, or all); waiting contacts of
    every campaign are blocked in the same transaction."""
    now = now or utcnow()
    try:
        normalized = normalize_contact_value(value)
    except InvalidInput:
        raise InvalidInput("give a phone number or an email address", field="value") from None
    existing = session.scalar(
        select(DoNotCall).where(
            DoNotCall.value == normalized,
            DoNotCall.brand_id.is_(None) if brand_id is None else DoNotCall.brand_id == brand_id,
            DoNotCall.source == source,
        )
    )
    entry = existing or DoNotCall(
        brand_id=brand_id,
        value=normalized,
        source=source,
        channel=channel,
        note=note.strip()[:500],
        created_by_id=by.id if by else None,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    if source != "rpo":
        statements.block_everywhere(
            session, value=normalized, brand_id=brand_id, reason="do_not_contact", now=now
        )
    return entry


def do_remove_do_not_call(session: Session, *, entry: DoNotCall) -> None:
    session.delete(entry)


def do_opt_out_customer(
    session: Session, *, customer_id: int, brand_id: int, source: str, channel: str | None
) -> list[DoNotCall]:
    """A customer said STOP (or used the unsubscribe link): every number and address of the
    customer goes on the brand's do-not-contact list."""
    out = []
    values = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value).where(
            CustomerIdentity.customer_id == customer_id
        )
    ).all()
    for kind, value in values:
        if kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP, IdentityKind.EMAIL):
            out.append(
                do_add_do_not_call(
                    session, brand_id=brand_id, value=value, source=source, channel=channel
                )
            )
    now = utcnow()
    session.add(
        Consent(
            brand_id=brand_id,
            customer_id=customer_id,
            purpose=Purpose.MARKETING,
            granted=False,
            source=source,
            given_at=now,
            created_at=now,
        )
    )
    return out


def do_record_consent(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    purpose: Purpose,
    granted: bool,
    source: str,
    text_shown: str,
    given_at: datetime | None = None,
    expires_at: datetime | None = None,
    by: User | None = None,
) -> Consent:
    if not source.strip():
        raise InvalidInput("say where the consent was given", field="source")
    if granted and not text_shown.strip():
        raise InvalidInput("write the text the customer was shown", field="text_shown")
    now = utcnow()
    consent = Consent(
        brand_id=brand_id,
        customer_id=customer_id,
        purpose=purpose,
        granted=granted,
        source=source.strip()[:100],
        text_shown=text_shown.strip()[:2000],
        given_at=given_at or now,
        expires_at=expires_at,
        recorded_by_id=by.id if by else None,
        created_at=now,
    )
    session.add(consent)
    session.flush()
    return consent


RPO_REGISTERED = frozenset({"1", "s", "si", "sì", "y", "yes", "true", "iscritto", "opposto"})
RPO_FREE = frozenset({"0", "n", "no", "false", "non iscritto", "libero", ""})


@dataclass
class RpoResult:
    registered: int = 0
    free: int = 0
    invalid: int = 0
    problems: list[dict[str, Any]] | None = None


def do_import_opposition_results(
    session: Session, *, brand_id: int | None, data: bytes, by: User | None = None
) -> RpoResult:
    """The Registro Pubblico delle Opposizioni's answer to a check: a text file with one number a
    line, optionally followed by ``;`` and the outcome (registered: 1/S/SI/iscritto; free:
    0/N/NO/non iscritto). A number without an outcome is registered (the register returns the
    numbers it found). Registered numbers are blocked for marketing calls unless the customer
    has a valid consent; a free number loses an earlier registration."""
    result = RpoResult(problems=[])
    text = importing._text(data)
    registered: set[str] = set()
    free: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in re.split(r"[;,\t|]", line)]
        raw, outcome = parts[0], (parts[1].lower() if len(parts) > 1 else "1")
        if number == 1 and not any(ch.isdigit() for ch in raw):
            continue  # a header
        try:
            phone = normalize_phone(raw)
        except InvalidInput:
            result.invalid += 1
            if result.problems is not None and len(result.problems) < MAX_PROBLEMS:
                result.problems.append(
                    {"row": number, "reason": "not a phone number", "value": raw}
                )
            continue
        if outcome in RPO_REGISTERED:
            registered.add(phone)
        elif outcome in RPO_FREE:
            free.add(phone)
        else:
            result.invalid += 1
            if result.problems is not None and len(result.problems) < MAX_PROBLEMS:
                result.problems.append(
                    {"row": number, "reason": "unknown outcome", "value": outcome}
                )
    scope = DoNotCall.brand_id.is_(None) if brand_id is None else DoNotCall.brand_id == brand_id
    values = sorted(registered | free)
    for start in range(0, len(values), 5000):
        chunk = values[start : start + 5000]
        session.execute(
            delete(DoNotCall).where(DoNotCall.source == "rpo", scope, DoNotCall.value.in_(chunk))
        )
    now = utcnow()
    rows = [
        {
            "brand_id": brand_id,
            "value": v,
            "source": "rpo",
            "channel": "phone",
            "note": "",
            "created_by_id": by.id if by else None,
            "created_at": now,
        }
        for v in sorted(registered)
    ]
    for start in range(0, len(rows), 5000):
        session.execute(_DNC_INSERT, rows[start : start + 5000])
    result.registered = len(registered)
    result.free = len(free)
    return result


def is_opt_out_text(text: str) -> bool:
    return text.strip().strip(".!").upper() in OPT_OUT_WORDS


def do_note_reply(session: Session, *, conversation_id: int, now: datetime) -> int:
    """A customer answered a campaign message: the reply is counted on the campaign."""
    result = session.execute(
        update(CampaignContact)
        .where(
            CampaignContact.conversation_id == conversation_id,
            CampaignContact.message_id.is_not(None),
            CampaignContact.replied_at.is_(None),
        )
        .values(replied_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
