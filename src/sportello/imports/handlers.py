"""The import job: a file checked (dry run) or imported, in the worker, outside any request."""

from __future__ import annotations

from typing import Any

from sportello.core.db import Database
from sportello.core.jobs import JobKind, register_job
from sportello.imports import actions


def index_function(db: Database) -> Any:
    from sportello.knowledge.indexing import index_messages

    def index(message_ids: list[int]) -> None:
        # the search index, as the message.received handler keeps it for live messages
        for at in range(0, len(message_ids), 2000):
            index_messages(
                db, [("message.received", {"message_id": i}) for i in message_ids[at : at + 2000]]
            )

    return index


def run(db: Database, payload: dict[str, Any]) -> None:
    actions.run_import(
        db,
        int(payload["import_id"]),
        dry_run=bool(payload["dry_run"]),
        on_messages=index_function(db),
    )


def _failed(db: Database, payload: dict[str, Any], error: str) -> None:
    actions.mark_failed(db, int(payload["import_id"]), error)


register_job(actions.RUN_JOB, JobKind(run=run, on_failure=_failed, base_delay=30.0))
