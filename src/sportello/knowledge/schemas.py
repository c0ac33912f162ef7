"""API shapes of the knowledge base."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ArticleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    language: str
    title: str
    slug: str
    summary: str
    status: str
    category_id: int | None
    tags: list[str]
    version: int
    updated_at: datetime
    url: str | None = None


class ArticleDetail(ArticleRead):
    body_md: str
    body_html: str


class SearchHit(BaseModel):
    article: ArticleRead
    confidence: float


class SearchResponse(BaseModel):
    query: str
    language: str
    hits: list[SearchHit]
