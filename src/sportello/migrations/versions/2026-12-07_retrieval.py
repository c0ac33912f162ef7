"""retrieval: questions learned from the shop's signals, searched beside the articles

Revision ID: retrieval
Revises: reports
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sportello.core.db import UTCDateTime

revision = "retrieval"
down_revision = "quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_learned_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=80), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_article.id"],
            name=op.f("fk_kb_learned_question_article_id_kb_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_kb_learned_question_brand_id_brand")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_learned_question")),
    )
    op.create_index(
        "ix_kb_learned_question_article", "kb_learned_question", ["article_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_kb_learned_question_article", table_name="kb_learned_question")
    op.drop_table("kb_learned_question")
