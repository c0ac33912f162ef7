"""API shapes of the knowledge base."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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


class ImportRequest(BaseModel):
    filename: str = Field(
        min_length=1, max_length=200, description="Its ending names the format: .csv, .json, .md"
    )
    content: str = Field(max_length=50 * 1024 * 1024, description="The file's text (UTF-8)")
    language: str = Field("it", pattern="^(it|en)$", description="For records that name none")
    draft: bool = False


class ImportError_(BaseModel):
    record: int
    error: str


class ImportResponse(BaseModel):
    created: list[int]
    skipped: list[str]
    errors: list[ImportError_]


class LearnedQuestionCreate(BaseModel):
    text: str = Field(min_length=1, max_length=300)


class LearnedQuestionRead(BaseModel):
    id: int | None
    article_id: int
    text: str
    source: str
