"""The audit log: one row per accountable act (who, when, from where, what, on what).

Append-only: the code has no update or delete path, and the database refuses them too, created
with the table: on PostgreSQL a row trigger refuses UPDATE and DELETE (TRUNCATE, an operator's
deliberate purge, stays possible); on SQLite a trigger refuses UPDATE (the test harness empties
tables with DELETE between tests). Entries name customers by number only, so a
GDPR erasure leaves the log true without keeping the person's data in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_at", "at"),
        Index("ix_audit_entry_actor", "actor_id", "id"),
        Index("ix_audit_entry_action", "action", "id"),
        Index("ix_audit_entry_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # No foreign key: the entry outlives the user it names (actor_label keeps who it was).
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(80), default="")
    target_label: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


# The same statements run from create_all (tests, first start) and from the migration.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
        FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()""",
]
DROP_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_entry_no_update",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
        "DROP FUNCTION IF EXISTS audit_entry_append_only()",
    ],
}

for _statement in SQLITE_TRIGGERS:
    _ddl = DDL(_statement)  # type: ignore[no-untyped-call]
    event.listen(AuditEntry.__table__, "after_create", _ddl.execute_if(dialect="sqlite"))
for _statement in POSTGRES_TRIGGERS:
    _ddl = DDL(_statement)  # type: ignore[no-untyped-call]
    event.listen(AuditEntry.__table__, "after_create", _ddl.execute_if(dialect="postgresql"))
