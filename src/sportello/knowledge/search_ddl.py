"""The full-text structures that plain models cannot express, per dialect (migration 0002).

SQLite: FTS5 tables with external content over ``kb_article`` and ``kb_message_search``, kept in
sync by triggers, tokenizer ``unicode61 remove_diacritics 2``. The columns they index already hold
accent-folded Snowball stems (knowledge/text.py), so the tokenizer only splits on spaces.

PostgreSQL: a stored generated ``tsvector`` column (title terms weight A, body terms weight B) with
a GIN index, and a small title-only ``tsvector`` with its own GIN index: title matches and the
title signal of the candidate ranking read it without detoasting the large vector (a weight-A
filter on the large one cannot use its index well and makes the planner scan the table). The
``simple`` configuration is right here: the terms are already stemmed.
"""

from __future__ import annotations

from typing import Any

SQLITE_UP = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS kb_article_fts USING fts5(
        search_title, search_body, content='kb_article', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='3')""",
    """CREATE TRIGGER IF NOT EXISTS kb_article_fts_ai AFTER INSERT ON kb_article BEGIN
        INSERT INTO kb_article_fts(rowid, search_title, search_body)
        VALUES (new.id, new.search_title, new.search_body); END""",
    """CREATE TRIGGER IF NOT EXISTS kb_article_fts_ad AFTER DELETE ON kb_article BEGIN
        INSERT INTO kb_article_fts(kb_article_fts, rowid, search_title, search_body)
        VALUES ('delete', old.id, old.search_title, old.search_body); END""",
    """CREATE TRIGGER IF NOT EXISTS kb_article_fts_au
        AFTER UPDATE OF search_title, search_body ON kb_article BEGIN
        INSERT INTO kb_article_fts(kb_article_fts, rowid, search_title, search_body)
        VALUES ('delete', old.id, old.search_title, old.search_body);
        INSERT INTO kb_article_fts(rowid, search_title, search_body)
        VALUES (new.id, new.search_title, new.search_body); END""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS kb_message_fts USING fts5(
        terms, content='kb_message_search', content_rowid='message_id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS kb_message_fts_ai AFTER INSERT ON kb_message_search BEGIN
        INSERT INTO kb_message_fts(rowid, terms) VALUES (new.message_id, new.terms); END""",
    """CREATE TRIGGER IF NOT EXISTS kb_message_fts_ad AFTER DELETE ON kb_message_search BEGIN
        INSERT INTO kb_message_fts(kb_message_fts, rowid, terms)
        VALUES ('delete', old.message_id, old.terms); END""",
    """CREATE TRIGGER IF NOT EXISTS kb_message_fts_au AFTER UPDATE OF terms ON kb_message_search
        BEGIN
        INSERT INTO kb_message_fts(kb_message_fts, rowid, terms)
        VALUES ('delete', old.message_id, old.terms);
        INSERT INTO kb_message_fts(rowid, terms) VALUES (new.message_id, new.terms); END""",
    # Rows that existed before this migration (none on a fresh install): index them too.
    "INSERT INTO kb_article_fts(kb_article_fts) VALUES ('rebuild')",
    "INSERT INTO kb_message_fts(kb_message_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS kb_article_fts_ai",
    "DROP TRIGGER IF EXISTS kb_article_fts_ad",
    "DROP TRIGGER IF EXISTS kb_article_fts_au",
    "DROP TABLE IF EXISTS kb_article_fts",
    "DROP TRIGGER IF EXISTS kb_message_fts_ai",
    "DROP TRIGGER IF EXISTS kb_message_fts_ad",
    "DROP TRIGGER IF EXISTS kb_message_fts_au",
    "DROP TABLE IF EXISTS kb_message_fts",
]

PG_UP = [
    """ALTER TABLE kb_article ADD COLUMN IF NOT EXISTS search_vector tsvector
        GENERATED ALWAYS AS (
            setweight(to_tsvector('simple'::regconfig, coalesce(search_title, '')), 'A')
            || setweight(to_tsvector('simple'::regconfig, coalesce(search_body, '')), 'B')
        ) STORED""",
    """CREATE INDEX IF NOT EXISTS ix_kb_article_search_vector
        ON kb_article USING gin (search_vector)""",
    """ALTER TABLE kb_article ADD COLUMN IF NOT EXISTS title_vector tsvector
        GENERATED ALWAYS AS (
            to_tsvector('simple'::regconfig, coalesce(search_title, ''))
        ) STORED""",
    """CREATE INDEX IF NOT EXISTS ix_kb_article_title_vector
        ON kb_article USING gin (title_vector)""",
    """ALTER TABLE kb_message_search ADD COLUMN IF NOT EXISTS search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(terms, ''))) STORED""",
    """CREATE INDEX IF NOT EXISTS ix_kb_message_search_vector
        ON kb_message_search USING gin (search_vector)""",
]
PG_DOWN = [
    "DROP INDEX IF EXISTS ix_kb_article_title_vector",
    "ALTER TABLE kb_article DROP COLUMN IF EXISTS title_vector",
    "DROP INDEX IF EXISTS ix_kb_article_search_vector",
    "ALTER TABLE kb_article DROP COLUMN IF EXISTS search_vector",
    "DROP INDEX IF EXISTS ix_kb_message_search_vector",
    "ALTER TABLE kb_message_search DROP COLUMN IF EXISTS search_vector",
]

# Names the migration creates outside the models; autogenerate and the model check skip them.
SEARCH_NAMES = frozenset(
    {"kb_article_fts", "kb_message_fts", "search_vector", "title_vector"}
    | {"ix_kb_article_search_vector", "ix_kb_message_search_vector", "ix_kb_article_title_vector"}
)


def include_name(name: str | None, type_: str, parent_names: Any = None) -> bool:
    """Alembic ``include_name`` hook: leave the search structures (and FTS5 shadows) alone."""
    if name is None:
        return True
    if name in SEARCH_NAMES:
        return False
    return not (type_ == "table" and name.startswith(("kb_article_fts_", "kb_message_fts_")))


def upgrade(dialect: str, execute: Any) -> None:
    for statement in SQLITE_UP if dialect == "sqlite" else PG_UP:
        execute(statement)


def downgrade(dialect: str, execute: Any) -> None:
    for statement in SQLITE_DOWN if dialect == "sqlite" else PG_DOWN:
        execute(statement)
