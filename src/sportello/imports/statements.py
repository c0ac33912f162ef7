"""The bulk SQL of the import actions: lookups by batches of ids (``IN``), multi-row inserts
that return their ids in the order given."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from sportello.accounts.models import User
from sportello.conversations.actions import FIRST_NUMBER
from sportello.conversations.models import Conversation, Counter, Message, Tag, conversation_tag
from sportello.core.db import table_of
from sportello.customers.identities import matching_kinds
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
from sportello.imports.models import ImportSourceMap

IN_BATCH = 500  # ids in one IN (...) list
customer_c = table_of(Customer).c
_identity = table_of(CustomerIdentity).c
_map = table_of(ImportSourceMap).c
UPDATE_CUSTOMER = update(table_of(Customer))


def _batches(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for at in range(0, len(items), IN_BATCH):
        yield items[at : at + IN_BATCH]


def mapped_ids(
    conn: Connection, source: str, kind: str, external_ids: Sequence[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    unique = sorted({e for e in external_ids if e})
    for batch in _batches(unique):
        rows = conn.execute(
            select(_map.external_id, _map.local_id).where(
                _map.source == source, _map.kind == kind, _map.external_id.in_(batch)
            )
        )
        found.update({row.external_id: row.local_id for row in rows})
    return found


def add_map(
    conn: Connection, source: str, kind: str, external_id: str, local_id: int, import_id: int
) -> None:
    insert_maps(conn, source, kind, [(external_id, local_id)], import_id)


def insert_maps(
    conn: Connection, source: str, kind: str, pairs: Sequence[tuple[str, int]], import_id: int
) -> None:
    rows = [
        {"source": source, "kind": kind, "external_id": e, "local_id": i, "import_id": import_id}
        for e, i in pairs
        if e
    ]
    if rows:
        conn.execute(insert(table_of(ImportSourceMap)), rows)


def identity_owners(
    conn: Connection, identities: Sequence[tuple[IdentityKind, str]]
) -> dict[tuple[IdentityKind, str], int]:
    """Who owns each identity (a phone under any phone kind), following merges one hop."""
    found: dict[tuple[IdentityKind, str], int] = {}
    by_kind: dict[IdentityKind, set[str]] = {}
    for kind, value in identities:
        by_kind.setdefault(kind, set()).add(value)
    for kind, values in by_kind.items():
        kinds = matching_kinds(kind)
        for batch in _batches(sorted(values)):
            rows = conn.execute(
                select(_identity.value, _identity.customer_id, customer_c.merged_into_id)
                .join_from(
                    table_of(CustomerIdentity),
                    table_of(Customer),
                    customer_c.id == _identity.customer_id,
                )
                .where(or_(*[_identity.kind == k for k in kinds]), _identity.value.in_(batch))
            )
            for row in rows:
                found[(kind, row.value)] = row.merged_into_id or row.customer_id
    return found


def customer_row(conn: Connection, customer_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(customer_c.name, customer_c.language, customer_c.notes).where(
            customer_c.id == customer_id
        )
    ).one()
    return dict(row._mapping)


def customer_name(conn: Connection, customer_id: int, cache: dict[int, str]) -> str:
    if customer_id not in cache:
        name = conn.execute(select(customer_c.name).where(customer_c.id == customer_id)).scalar()
        if not name:
            name = conn.execute(
                select(_identity.value)
                .where(_identity.customer_id == customer_id)
                .order_by(_identity.id)
                .limit(1)
            ).scalar()
        cache[customer_id] = name or ""
        if len(cache) > 50_000:
            cache.clear()
    return cache[customer_id]


def insert_customers(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    result = conn.execute(
        insert(table_of(Customer)).returning(customer_c.id, sort_by_parameter_order=True), rows
    )
    return [row.id for row in result]


def insert_identities(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(table_of(CustomerIdentity)), rows)


def users_by_email(conn: Connection, emails: Sequence[str]) -> dict[str, tuple[int | None, str]]:
    user = table_of(User).c
    found: dict[str, tuple[int | None, str]] = {}
    for batch in _batches(sorted(set(emails))):
        for row in conn.execute(
            select(user.id, user.name, user.email).where(user.email.in_(batch))
        ):
            found[row.email.lower()] = (row.id, row.name)
    return found


def reserve_numbers(conn: Connection, count: int) -> list[int]:
    """``count`` consecutive conversation numbers, taken in one UPDATE (its row lock serialises
    concurrent callers, as ``conversations.actions.next_number`` does for one)."""
    counter = table_of(Counter).c
    last = conn.execute(
        update(table_of(Counter))
        .where(counter.name == "conversation")
        .values(value=counter.value + count)
        .returning(counter.value)
    ).scalar()
    if last is None:
        last = FIRST_NUMBER + count - 1
        conn.execute(insert(table_of(Counter)).values(name="conversation", value=last))
    return list(range(int(last) - count + 1, int(last) + 1))


def insert_conversations(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Plain executemany (psycopg pipelines it; a multi-row INSERT ... RETURNING of thousands
    of parameters costs psycopg more to parse than the rows cost to write), then the ids by
    their unique numbers, in the order given."""
    table = table_of(Conversation)
    conn.execute(insert(table), rows)
    ids: dict[int, int] = {}
    numbers = [int(row["number"]) for row in rows]
    for batch in _batches(numbers):
        ids.update(
            {
                r.number: r.id
                for r in conn.execute(
                    select(table.c.id, table.c.number).where(table.c.number.in_(batch))
                )
            }
        )
    return [ids[n] for n in numbers]


def insert_messages(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """The rows (executemany), and the ids of every message of their conversations."""
    if not rows:
        return []
    table = table_of(Message)
    conn.execute(insert(table), rows)
    conversation_ids = sorted({int(row["conversation_id"]) for row in rows})
    found: list[int] = []
    for batch in _batches(conversation_ids):
        found.extend(
            conn.execute(select(table.c.id).where(table.c.conversation_id.in_(batch))).scalars()
        )
    return sorted(found)


def tag_conversations(conn: Connection, pairs: list[tuple[int, list[str]]]) -> None:
    """Tags by name (lower case, as ``do_update_conversation`` keeps them), created when new."""
    names = sorted({" ".join(n.lower().split())[:60] for _, tags in pairs for n in tags} - {""})
    if not names:
        return
    tag = table_of(Tag).c
    ids: dict[str, int] = {}
    for batch in _batches(names):
        ids.update(
            {
                r.name: r.id
                for r in conn.execute(select(tag.id, tag.name).where(tag.name.in_(batch)))
            }
        )
    missing = [n for n in names if n not in ids]
    if missing:
        conn.execute(insert(table_of(Tag)), [{"name": n} for n in missing])
        for batch in _batches(missing):
            ids.update(
                {
                    r.name: r.id
                    for r in conn.execute(select(tag.id, tag.name).where(tag.name.in_(batch)))
                }
            )
    links = {
        (conversation_id, ids[" ".join(n.lower().split())[:60]])
        for conversation_id, tags in pairs
        for n in tags
        if " ".join(n.lower().split())
    }
    conn.execute(
        insert(conversation_tag),
        [{"conversation_id": c, "tag_id": t} for c, t in sorted(links)],
    )
