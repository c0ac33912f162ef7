"""The one write of the audit log: ``record``. There is no update and no delete.

Callers add one line where the act happens, in the same transaction as the act (a rolled-back
act leaves no entry)::

    audit.record(session, "user.updated", target=user, changes=audit.diff(before, after))

Details never hold message bodies or secrets: ``diff`` and ``record`` mask every key that looks
like a secret, and customers are named by number only (see models.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sportello.audit.context import current_origin
from sportello.audit.models import AuditEntry
from sportello.core.db import utcnow

MASK = "••••••"
SECRET_WORDS = ("secret", "password", "token", "api_key", "apikey", "private", "credential")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced by a mask."""
    if isinstance(value, Mapping):
        return {
            str(k): (MASK if is_secret_key(str(k)) and v not in (None, "") else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: {"before": x, "after": y}}`` for the keys whose value changed (secrets masked:
    a changed secret shows as changed, never its value)."""
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            nested = diff(old, new)
            if nested:
                changes[str(key)] = nested
            continue
        if is_secret_key(str(key)):
            changes[str(key)] = {"before": MASK if old else None, "after": MASK if new else None}
        else:
            changes[str(key)] = {"before": mask(old), "after": mask(new)}
    return changes


def _target(target: Any) -> tuple[str, str, str]:
    """(type, id, label) of an ORM object or a (type, id[, label]) tuple."""
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        kind, ident, *rest = target
        return str(kind), str(ident), str(rest[0]) if rest else ""
    kind = getattr(target, "__tablename__", type(target).__name__.lower())
    ident = str(getattr(target, "id", "") or "")
    if kind == "customer":
        return kind, ident, f"#{ident}"  # never a customer's name: erasure must not miss it
    label = getattr(target, "email", None) or getattr(target, "name", None) or f"#{ident}"
    return str(kind), ident, str(label)[:200]


def record(
    session: Session,
    action: str,
    *,
    target: Any = None,
    actor: Any = None,
    **details: Any,
) -> AuditEntry:
    """Append one entry. ``actor`` defaults to the signed-in user of the current request (or
    the system); ``details`` are stored as JSON with secrets masked."""
    origin = current_origin()
    who = actor if actor is not None else origin.user
    kind, ident, label = _target(target)
    entry = AuditEntry(
        at=utcnow(),
        actor_id=getattr(who, "id", None),
        actor_label=(getattr(who, "email", None) or "")[:320],
        action=action[:80],
        target_type=kind[:40],
        target_id=ident[:80],
        target_label=label[:200],
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=mask(details),
    )
    session.add(entry)
    return entry
