"""GDPR writes: consent records, a customer's export (one ZIP), erasure or anonymisation,
retention policies and their runs. Each is audited (the audit log names the customer by
number only, so the erasure leaves it true and free of the person's data)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, User
from sportello.audit import actions as audit
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations.models import Attachment, Conversation, Message
from sportello.conversations.storage import path_for, safe_filename
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.customers.models import Customer, CustomerIdentity, CustomerMerge
from sportello.privacy import service, walk
from sportello.privacy.models import Consent, RetentionKind, RetentionPolicy

ERASE_MODES = ("erase", "anonymise")


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


MAX_RETENTION_DAYS = 36500


# --------------------------------------------------------------------------- consent


def do_record_consent(
    session: Session,
    *,
    customer: Customer,
    purpose: str,
    source: str,
    text: str,
    given_at: datetime | None = None,
    by: User | None = None,
) -> Consent:
    purpose, source, text = purpose.strip(), source.strip(), text.strip()
    if not purpose:
        raise InvalidInput("say what the consent is for", field="purpose")
    if len(purpose) > 80:
        raise InvalidInput("the purpose is too long (at most 80 characters)", field="purpose")
    if not source:
        raise InvalidInput("say where the consent was given", field="source")
    if len(source) > 80:
        raise InvalidInput("the source is too long (at most 80 characters)", field="source")
    if not text:
        raise InvalidInput("write the text the customer agreed to", field="text")
    if len(text) > 4000:
        raise InvalidInput("the text is too long (at most 4000 characters)", field="text")
    consent = Consent(
        customer_id=customer.id,
        purpose=purpose,
        source=source,
        text=text,
        given_at=given_at or utcnow(),
        recorded_by_id=by.id if by else None,
    )
    session.add(consent)
    session.flush()
    audit.record(session, "consent.recorded", target=customer, actor=by, purpose=purpose)
    return consent


def do_withdraw_consent(session: Session, *, consent: Consent, by: User | None = None) -> Consent:
    if consent.withdrawn_at is None:
        consent.withdrawn_at = utcnow()
        audit.record(
            session,
            "consent.withdrawn",
            target=("customer", consent.customer_id, f"#{consent.customer_id}"),
            actor=by,
            purpose=consent.purpose,
        )
    return consent


# --------------------------------------------------------------------------- export


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # raw bytes (the original of a mail): the parsed text is exported
    return str(value)


def build_export(session: Session, *, customer: Customer, by: User | None = None) -> bytes:
    """Everything about a customer in one ZIP: ``customer.json`` (every row that belongs to
    them, by table: profile, identities, conversations, messages and notes, survey answers,
    consents, and what other domains keep) and ``attachments/`` with the files."""
    subject = walk.collect(session, root="customer", ids=[customer.id])
    data = {name: found for name, found in walk.rows(session, subject)}
    buffer = io.BytesIO()
    root = get_settings().attachments_dir
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "customer.json",
            json.dumps(
                {"exported_at": utcnow().isoformat(), "customer_id": customer.id, "data": data},
                default=_json_default,
                ensure_ascii=False,
                indent=2,
            ),
        )
        for row in data.get("attachment", []):
            path = path_for(root, str(row["sha256"]))
            if path.exists():
                name = f"attachments/{row['id']}-{safe_filename(str(row['filename']))}"
                archive.write(path, name)
    audit.record(
        session,
        "customer.exported",
        target=customer,
        actor=by,
        rows=sum(len(v) for v in data.values()),
        attachments=len(data.get("attachment", [])),
    )
    return buffer.getvalue()


# --------------------------------------------------------------------------- erasure


def _unlink_after_commit(session: Session, paths: Iterable[Path]) -> None:
    """Files go only once the rows that name them are gone for good."""
    pending = list(paths)
    if not pending:
        return

    def unlink(_session: Session) -> None:
        for path in pending:
            path.unlink(missing_ok=True)

    event.listen(session, "after_commit", unlink, once=True)


def _orphan_files(session: Session, sha256s: set[str], root: Path) -> list[Path]:
    if not sha256s:
        return []
    still = set(
        session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(sorted(sha256s))))
    )
    return [path_for(root, sha) for sha in sha256s - still]


def _raw_mail_files(session: Session, raw_ids: Iterable[object]) -> list[str]:
    from sportello.channels.email.models import EmailRaw

    ids = list(raw_ids)
    return list(session.scalars(select(EmailRaw.sha256).where(EmailRaw.id.in_(ids)))) if ids else []


def _erase_subject(session: Session, subject: walk.Subject) -> dict[str, int]:
    """Delete the subject's rows and, after commit, the files no row names any more."""
    from sportello.channels.email.models import EmailRaw

    settings = get_settings()
    shas = set(
        session.scalars(
            select(Attachment.sha256).where(
                Attachment.id.in_(sorted(subject.ids.get("attachment", set()), key=str))
            )
        )
    )
    raw_shas = set(_raw_mail_files(session, subject.ids.get("email_raw", ())))
    counts = walk.erase(session, subject)
    session.expire_all()
    files = _orphan_files(session, shas, settings.attachments_dir)
    if raw_shas:
        still = set(session.scalars(select(EmailRaw.sha256).where(EmailRaw.sha256.in_(raw_shas))))
        files += [path_for(settings.data_dir / "mail", sha) for sha in raw_shas - still]
    _unlink_after_commit(session, files)
    return counts


def do_erase_customer(
    session: Session, *, customer: Customer, mode: str = "erase", by: User | None = None
) -> dict[str, int]:
    """Erase a customer on request (GDPR art. 17): ``erase`` deletes every row about them
    (profile, identities, conversations, messages, attachments on disk, raw mail, the search
    index, survey answers, consents); ``anonymise`` keeps the conversations for the statistics
    but empties every text, name and address in them. The audit log keeps that it happened."""
    if mode not in ERASE_MODES:
        raise InvalidInput("choose erase or anonymise", field="mode")
    number = customer.id
    if mode == "erase":
        counts = _erase_subject(session, walk.collect(session, root="customer", ids=[number]))
    else:
        counts = _anonymise(session, customer)
    audit.record(
        session,
        "customer.erased" if mode == "erase" else "customer.anonymised",
        target=("customer", number, f"#{number}"),
        actor=by,
        rows={k: v for k, v in counts.items() if v},
    )
    return counts


def _anonymise(session: Session, customer: Customer) -> dict[str, int]:
    from sportello.channels.email.models import EmailRaw
    from sportello.knowledge.models import MessageSearch
    from sportello.surveys.models import SurveyResponse

    settings = get_settings()
    conversation_ids = list(
        session.scalars(select(Conversation.id).where(Conversation.customer_id == customer.id))
    )
    message_ids = (
        list(
            session.scalars(select(Message.id).where(Message.conversation_id.in_(conversation_ids)))
        )
        if conversation_ids
        else []
    )
    counts: dict[str, int] = {"conversation": len(conversation_ids), "conversation_message": 0}
    shas: set[str] = set()
    raw: list[str] = []
    for batch in walk._chunks(message_ids):
        shas |= set(
            session.scalars(select(Attachment.sha256).where(Attachment.message_id.in_(batch)))
        )
        raw += list(
            session.scalars(
                select(EmailRaw.sha256).where(EmailRaw.conversation_message_id.in_(batch))
            )
        )
        counts["attachment"] = counts.get("attachment", 0) + _count(
            session.execute(delete(Attachment).where(Attachment.message_id.in_(batch)))
        )
        counts["email_raw"] = counts.get("email_raw", 0) + _count(
            session.execute(delete(EmailRaw).where(EmailRaw.conversation_message_id.in_(batch)))
        )
        session.execute(delete(MessageSearch).where(MessageSearch.message_id.in_(batch)))
        counts["conversation_message"] += _count(
            session.execute(
                update(Message)
                .where(Message.id.in_(batch))
                .values(text="", html=None, sender_name="", meta={}, provider_message_id=None)
            )
        )
    if conversation_ids:
        session.execute(
            update(Conversation)
            .where(Conversation.id.in_(conversation_ids))
            .values(subject="", preview="")
        )
    session.execute(
        update(SurveyResponse)
        .where(SurveyResponse.customer_id == customer.id)
        .values(comment=None, extra_answers=[])
    )
    counts["customer_identity"] = _count(
        session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id))
    )
    counts["privacy_consent"] = _count(
        session.execute(delete(Consent).where(Consent.customer_id == customer.id))
    )
    session.execute(
        update(CustomerMerge)
        .where((CustomerMerge.target_id == customer.id) | (CustomerMerge.source_id == customer.id))
        .values(details={})
    )
    session.execute(
        update(Customer).where(Customer.id == customer.id).values(name="", notes="", language=None)
    )
    session.expire_all()
    files = _orphan_files(session, shas, settings.attachments_dir)
    still = (
        set(session.scalars(select(EmailRaw.sha256).where(EmailRaw.sha256.in_(raw))))
        if raw
        else set()
    )
    files += [path_for(settings.data_dir / "mail", sha) for sha in set(raw) - still]
    _unlink_after_commit(session, files)
    return counts


# --------------------------------------------------------------------------- retention


def check_policy(
    session: Session, *, kind: str, days: int, brand_id: int | None, channel_id: int | None
) -> tuple[RetentionKind, int | None]:
    try:
        wanted = RetentionKind(kind)
    except ValueError:
        raise InvalidInput("choose what to delete", field="kind") from None
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput("keep it from 1 to 36500 days", field="days")
    if brand_id is not None and session.get(Brand, brand_id) is None:
        raise InvalidInput("unknown brand", field="brand_id")
    if channel_id is not None:
        channel = session.get(Channel, channel_id)
        if channel is None:
            raise InvalidInput("unknown channel", field="channel_id")
        if brand_id is not None and channel.brand_id != brand_id:
            raise InvalidInput("that channel belongs to another brand", field="channel_id")
    return wanted, brand_id


def do_save_policy(
    session: Session,
    *,
    kind: str,
    days: int,
    brand_id: int | None = None,
    channel_id: int | None = None,
    is_active: bool = True,
    policy: RetentionPolicy | None = None,
    schedule: bool = True,
) -> RetentionPolicy:
    """Add or change a policy; ``schedule`` makes sure the nightly run is queued (the demo,
    which leaves no jobs behind, relies on ``handlers.ensure_jobs`` at start instead)."""
    wanted, brand_id = check_policy(
        session, kind=kind, days=days, brand_id=brand_id, channel_id=channel_id
    )
    before = _policy_facts(policy) if policy else {}
    if policy is None:
        policy = RetentionPolicy(kind=wanted, days=days)
        session.add(policy)
    policy.kind = wanted
    policy.days = days
    policy.brand_id = brand_id
    policy.channel_id = channel_id
    policy.is_active = is_active
    session.flush()
    audit.record(
        session,
        "retention.policy_saved",
        target=("retention_policy", policy.id, wanted.value),
        changes=audit.diff(before, _policy_facts(policy)),
    )
    if schedule:
        from sportello.privacy import handlers

        handlers.ensure_scheduled(session)
    return policy


def do_delete_policy(session: Session, *, policy: RetentionPolicy) -> None:
    audit.record(
        session,
        "retention.policy_deleted",
        target=("retention_policy", policy.id, policy.kind.value),
        **_policy_facts(policy),
    )
    session.delete(policy)
    session.flush()


def _policy_facts(policy: RetentionPolicy) -> dict[str, object]:
    return {
        "kind": policy.kind.value,
        "days": policy.days,
        "brand_id": policy.brand_id,
        "channel_id": policy.channel_id,
        "is_active": policy.is_active,
    }


def do_apply_policy(
    session: Session, *, policy: RetentionPolicy, now: datetime | None = None
) -> int:
    """Delete what the policy no longer keeps; returns how many items went."""
    from sportello.channels.email.models import EmailRaw

    ids = service.due(session, policy, now=now)
    settings = get_settings()
    if ids:
        shas: set[str]
        if policy.kind == RetentionKind.RAW_MAIL:
            shas = set(_raw_mail_files(session, ids))
            for batch in walk._chunks(ids):
                session.execute(delete(EmailRaw).where(EmailRaw.id.in_(batch)))
            still = set(
                session.scalars(select(EmailRaw.sha256).where(EmailRaw.sha256.in_(sorted(shas))))
            )
            _unlink_after_commit(
                session, [path_for(settings.data_dir / "mail", s) for s in shas - still]
            )
        elif policy.kind == RetentionKind.RECORDINGS:
            shas = set()
            for batch in walk._chunks(ids):
                shas |= set(
                    session.scalars(select(Attachment.sha256).where(Attachment.id.in_(batch)))
                )
                session.execute(delete(Attachment).where(Attachment.id.in_(batch)))
            _unlink_after_commit(session, _orphan_files(session, shas, settings.attachments_dir))
        else:
            _erase_subject(session, walk.collect(session, root="conversation", ids=ids))
    policy.last_run_at = utcnow()
    policy.last_run_count = len(ids)
    audit.record(
        session,
        "retention.applied",
        target=("retention_policy", policy.id, policy.kind.value),
        deleted=len(ids),
        days=policy.days,
    )
    return len(ids)


def get_policy(session: Session, policy_id: int) -> RetentionPolicy:
    policy = session.get(RetentionPolicy, policy_id)
    if policy is None:
        raise NotFound("retention policy not found")
    return policy


def get_consent(session: Session, consent_id: int) -> Consent:
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise NotFound("consent not found")
    return consent
