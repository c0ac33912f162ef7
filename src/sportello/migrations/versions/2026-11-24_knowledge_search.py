"""knowledge search: SQLite FTS5 tables and triggers, PostgreSQL tsvector columns and GIN indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

from sportello.knowledge import search_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    search_ddl.upgrade(bind.dialect.name, op.execute)


def downgrade() -> None:
    bind = op.get_bind()
    search_ddl.downgrade(bind.dialect.name, op.execute)
