"""Knowledge base: categories, articles and their versions, proposals, votes, synonyms, search
logs and vocabulary, the message search index, and the bot's sessions and log.

The full-text structures (SQLite FTS5 tables, PostgreSQL tsvector columns and GIN indexes) are not
models: migration 0002 creates them from ``knowledge/search_ddl.py``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.accounts.models import User
from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    INTERNAL = "internal"  # visible to agents and the console, never on /help or to the bot


class ProposalStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Category(Base):
    __tablename__ = "kb_category"
    __table_args__ = (UniqueConstraint("brand_id", "language", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    language: Mapped[str] = mapped_column(String(8), default="it")
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Article(Base):
    __tablename__ = "kb_article"
    __table_args__ = (
        UniqueConstraint("brand_id", "language", "slug"),
        Index("ix_kb_article_listing", "brand_id", "language", "status", "category_id"),
        Index("ix_kb_article_translation", "translation_group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_category.id", ondelete="SET NULL")
    )
    language: Mapped[str] = mapped_column(String(8), default="it")
    # Translations of one article share a group (the id of the first of them).
    translation_group: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80))
    summary: Mapped[str] = mapped_column(String(300), default="")
    body_md: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus), default=ArticleStatus.DRAFT)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    review_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    # Stemmed, accent-folded terms (knowledge/text.py); the full-text index reads these.
    search_title: Mapped[str] = mapped_column(Text, default="")
    search_body: Mapped[str] = mapped_column(Text, default="")
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    views: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]

    category: Mapped[Category | None] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(lazy="joined")

    @property
    def is_public(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class ArticleVersion(Base):
    """One saved state of an article; the latest equals the article. Restoring adds a version."""

    __tablename__ = "kb_article_version"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(300), default="")
    body_md: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus))
    category_id: Mapped[int | None]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship(lazy="joined")


class Proposal(Base):
    """An agent's proposed edit of an article; an editor accepts (a new version) or rejects it."""

    __tablename__ = "kb_proposal"
    __table_args__ = (Index("ix_kb_proposal_status", "status", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"))
    base_version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body_md: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(String(1000), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus), default=ProposalStatus.OPEN
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(lazy="joined")
    author: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[author_id])


class Vote(Base):
    """ "Was this helpful?" from the help center; the IP is kept only as a salted hash."""

    __tablename__ = "kb_vote"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), index=True
    )
    helpful: Mapped[bool]
    comment: Mapped[str] = mapped_column(String(1000), default="")
    ip_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Synonym(Base):
    """A group of words searched as one: "reso, rimborso, restituzione"."""

    __tablename__ = "kb_synonym"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="it")
    words: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Term(Base):
    """The indexed vocabulary (stems) with document counts: typo correction and term weights."""

    __tablename__ = "kb_term"

    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    term: Mapped[str] = mapped_column(String(40), primary_key=True)
    doc_count: Mapped[int] = mapped_column(default=0)


class SearchLog(Base):
    """Searches on the help center, by the bot and by agents; the empty ones show the gaps."""

    __tablename__ = "kb_search_log"
    __table_args__ = (Index("ix_kb_search_log_gaps", "brand_id", "result_count", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    source: Mapped[str] = mapped_column(String(20))  # help, bot, agent
    language: Mapped[str] = mapped_column(String(8), default="it")
    query: Mapped[str] = mapped_column(String(300))
    normalized: Mapped[str] = mapped_column(String(300), default="")
    result_count: Mapped[int] = mapped_column(default=0)
    top_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_article.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageSearch(Base):
    """Stemmed terms of a conversation message (filled by a dispatcher handler)."""

    __tablename__ = "kb_message_search"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    terms: Mapped[str] = mapped_column(Text, default="")


class Embedding(Base):
    """A sentence embedding of an article (only with the optional ``[semantic]`` extra)."""

    __tablename__ = "kb_embedding"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(80))
    vector: Mapped[bytes]  # float32, little-endian
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LearnedQuestion(Base):
    """A question a customer asked in their own words, tied to the article that answered it (an
    agent answered a handed-over question with it, a reader found it helpful from a search, or an
    editor added it): the shop's own signal, searched beside the article's text."""

    __tablename__ = "kb_learned_question"
    __table_args__ = (Index("ix_kb_learned_question_article", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8), default="it")
    text: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(20))  # handover, helpful, click, editor, import
    model: Mapped[str] = mapped_column(String(80), default="")
    vector: Mapped[bytes | None]  # float32 little-endian, from ``model``
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotState(enum.StrEnum):
    ACTIVE = "active"
    HANDED_OVER = "handed_over"
    RESOLVED = "resolved"


class BotSession(Base):
    """The bot's side of one conversation: turns, failures, and whether a person took over."""

    __tablename__ = "bot_session"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    state: Mapped[BotState] = mapped_column(_enum(BotState), default=BotState.ACTIVE)
    turns: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    awaiting_feedback: Mapped[bool] = mapped_column(default=False)
    last_article_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    handover_reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotLog(Base):
    """Every bot turn: what the customer wrote, what was retrieved, what the bot did."""

    __tablename__ = "bot_log"
    __table_args__ = (UniqueConstraint("inbound_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="SET NULL")
    )
    reply_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(20))  # answer, handover, feedback, greeting, ...
    reason: Mapped[str] = mapped_column(String(40), default="")
    query: Mapped[str] = mapped_column(String(500), default="")
    retrieved: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(default=0.0)
    composer: Mapped[str] = mapped_column(String(20), default="passage")  # passage | llm
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
