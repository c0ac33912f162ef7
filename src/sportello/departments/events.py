"""The departments' events, registered with core.events when this module is imported (the
actions that emit them import it)."""

from __future__ import annotations

from sportello.core.events import EventPayload, register_event


class HandoffChanged(EventPayload):
    """A hand-off was created or its outcome changed (offered to webhooks and rules)."""

    handoff_id: int
    conversation_id: int
    number: int
    queue_id: int | None
    assignee_id: int | None
    department_id: int
    department: str
    kind: str
    status: str
    previous_status: str | None
    note: str
    by: str


register_event("handoff.changed", HandoffChanged)
