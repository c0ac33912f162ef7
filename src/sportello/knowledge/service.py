"""Reads: article listings, full-text search over articles and conversations, suggestions,
related articles, and the measures editors look at."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, defer, lazyload

from sportello.accounts.models import User
from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core.db import utcnow
from sportello.core.errors import NotFound
from sportello.knowledge import markdown, semantic, text
from sportello.knowledge import query as kbquery
from sportello.knowledge.models import (
    Article,
    ArticleStatus,
    ArticleVersion,
    BotLog,
    BotSession,
    BotState,
    Category,
    Proposal,
    ProposalStatus,
    SearchLog,
    Synonym,
    Vote,
)

log = logging.getLogger(__name__)

PUBLIC = (ArticleStatus.PUBLISHED,)
FOR_AGENTS = (ArticleStatus.PUBLISHED, ArticleStatus.INTERNAL)
TITLE_WEIGHT = 4.0
TITLE_SIGNAL = 1.0  # PostgreSQL pre-rank: a group found in the title counts this much more
CANDIDATES = 60  # how many of the engine's best the common ranking re-scores


@dataclass(frozen=True)
class Hit:
    article: Article
    rank: float  # engine score, higher is better (not comparable across engines)
    confidence: float  # share of the query the article covers, 0..1 (knowledge/query.py)


@dataclass
class SearchResult:
    query: kbquery.ParsedQuery
    hits: list[Hit] = field(default_factory=list)

    @property
    def corrections(self) -> dict[str, str]:
        return self.query.corrections


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# --- articles ----------------------------------------------------------------------------------


def _ranked_ids_sqlite(
    session: Session, match: str, candidates: int, *, cap: int | None = None
) -> Sequence[Any]:
    floor = 0
    if cap:  # walking the newest matches by rowid is cheap; scoring them all is not
        floor = (
            session.execute(
                sql(
                    "SELECT min(rowid) FROM (SELECT rowid FROM kb_article_fts "
                    "WHERE kb_article_fts MATCH :q ORDER BY rowid DESC LIMIT :cap)"
                ),
                {"q": match, "cap": cap},
            ).scalar()
            or 0
        )
    # FTS5's bm25 (title weighted) picks the best few in SQL; the same statement reads the
    # columns the filters and the common ranking need (one round trip, no ORM rows).
    return session.execute(
        sql(
            "SELECT f.id, -f.r, a.brand_id, a.language, a.status, a.search_title, a.search_body "
            "FROM (SELECT rowid AS id, bm25(kb_article_fts, :tw, 1.0) AS r FROM kb_article_fts "
            "WHERE kb_article_fts MATCH :q AND rowid >= :floor ORDER BY r LIMIT :n) f "
            "JOIN kb_article a ON a.id = f.id ORDER BY f.r"
        ),
        {"q": match, "n": candidates, "tw": TITLE_WEIGHT, "floor": floor},
    ).all()


def _ranked_ids_postgres(
    session: Session,
    plan: kbquery.MatchPlan,
    candidates: int,
    *,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
) -> Sequence[Any]:
    """The best ``candidates`` matches as rows (id, pre-rank, search_title, search_body).

    Gathering uses the GIN indexes, one bitmap lookup per group of the plan; the pre-rank never
    reads the large, toasted ``search_vector``: it sums the IDF of the groups an article
    matches and boosts those in its title (the small ``title_vector``, stored inline). That is
    BM25 without term frequencies; ts_rank has no IDF and would detoast every match. Only the
    best ``candidates`` rows are read in full, in the same statement, for the common BM25F
    (search_articles). Capped plans (only very common words) gather title matches and the
    intersection of the two rarest words, newest first, cut by an id range (_capped_floor)."""
    unique = {id(g): g for g in [*plan.any_of, *plan.title_of, *plan.all_of] if g.alternatives}
    groups = list(unique.values())
    if not groups:
        return []
    params: dict[str, Any] = {
        "b": brand_id,
        "langs": list(languages),
        "st": [s.value for s in statuses],
        "cap": CAPPED_BUDGET,
    }
    for i, group in enumerate(groups):
        params[f"g{i}"] = kbquery.ParsedQuery.ts_group(group)
    index = {id(g): i for i, g in enumerate(groups)}
    where = "a.brand_id = :b AND a.language = ANY(:langs) AND a.status = ANY(:st)"
    branches: list[tuple[str, list[int], bool]] = []
    for group in plan.any_of:
        if id(group) not in index:
            continue
        i = index[id(group)]
        branches.append((f"a.search_vector @@ to_tsquery('simple', :g{i})", [i], False))
    capped_where = where
    floor = _capped_floor(session, plan) if plan.title_of or plan.all_of else 0
    if floor:  # the newest matches only (query.MatchPlan.capped): an id range, not a sort
        params["floor"] = floor
        capped_where += " AND a.id >= :floor"
    if plan.title_of:
        either = " || ".join(f"to_tsquery('simple', :g{index[id(g)]})" for g in plan.title_of)
        branches.append((f"a.title_vector @@ ({either})", [], True))
    if len(plan.all_of) >= 2:
        both = " && ".join(f"to_tsquery('simple', :g{index[id(g)]})" for g in plan.all_of)
        branches.append((f"a.search_vector @@ ({both})", [index[id(g)] for g in plan.all_of], True))
    # score = the weights of the groups an article matches, plus TITLE_SIGNAL times the weights
    # of those in its title; one row per article and branch, summed per article.
    in_body = {i for _, found, _ in branches for i in found}
    title_terms = " + ".join(
        f"(m.title_vector @@ to_tsquery('simple', :g{i}))::int * CAST(:tw{i} AS float8)"
        for i in range(len(groups))
    )
    for i, group in enumerate(groups):
        params[f"tw{i}"] = group.weight * (TITLE_SIGNAL + (0.0 if i in in_body else 1.0))
    ctes, selects = [], []
    for n, (match, found, capped) in enumerate(branches):
        # The SQL is assembled from fixed fragments and numbered placeholders; every value the
        # query names is a bound parameter (:g0, :tw0, :bw0...), never text from the request.
        ctes.append(
            f"m{n} AS MATERIALIZED (SELECT a.id, a.title_vector FROM kb_article a "  # noqa: S608
            f"WHERE {match} AND {capped_where if capped else where})"
        )
        params[f"bw{n}"] = sum(groups[i].weight for i in found)
        cap = " ORDER BY m.id DESC LIMIT :cap" if capped else ""
        selects.append(
            f"(SELECT m.id, CAST(:bw{n} AS float8) AS bw, {title_terms} AS tw FROM m{n} m{cap})"  # noqa: S608
        )
    params["n"] = candidates
    rows = session.execute(
        sql(
            "WITH " + ", ".join(ctes) + ", u AS (" + " UNION ALL ".join(selects) + "), "  # noqa: S608
            "t AS (SELECT u.id, sum(u.bw) + max(u.tw) AS r FROM u GROUP BY u.id "
            "ORDER BY r DESC, u.id DESC LIMIT :n) "
            "SELECT t.id, t.r, a.search_title, a.search_body FROM t "
            "JOIN kb_article a ON a.id = t.id ORDER BY t.r DESC, t.id DESC"
        ),
        params,
    ).all()
    return rows


PG_BUDGET = 800  # PostgreSQL: matches gathered for one query (query.match_plan)
CAPPED_BUDGET = 500  # newest matches ranked for a capped plan (PostgreSQL: per branch)
TITLE_SHARE = 0.05  # about the share of an article's terms in its title


def _capped_floor(session: Session, plan: kbquery.MatchPlan) -> int:
    """The lowest id of about the newest CANDIDATE_BUDGET matches of a capped plan, estimated
    from document frequencies (words independent, ids roughly in insertion order), so the GIN
    lookup is cut by a primary-key range instead of visiting every match and sorting."""
    vocab_docs = max(1, plan.documents)
    expected = sum(g.df for g in plan.title_of) * TITLE_SHARE
    if len(plan.all_of) >= 2:
        expected += math.prod(g.df / vocab_docs for g in plan.all_of) * vocab_docs
    if expected <= 2 * CAPPED_BUDGET:
        return 0
    top = session.execute(sql("SELECT max(id) FROM kb_article")).scalar() or 0
    return max(0, int(top - top * 2 * CAPPED_BUDGET / expected))


def search_articles(
    session: Session,
    q: str,
    *,
    brand_id: int,
    language: str | None = None,
    statuses: Sequence[ArticleStatus] = PUBLIC,
    limit: int = 10,
    prefix: bool = False,
    exclude_ids: Sequence[int] = (),
    any_language: bool = False,
) -> SearchResult:
    """Ranked articles for a query; never raises on odd input (it is parsed into safe terms)."""
    parsed = kbquery.parse(session, q, brand_id=brand_id, language=language, prefix=prefix)
    result = SearchResult(parsed)
    if parsed.empty:
        return result
    languages = list(text.LANGUAGES) if any_language else [parsed.language]
    encoding = semantic.encode_soon(session, parsed.raw)  # overlaps the lexical query
    postgres = _dialect(session) == "postgresql"
    # PostgreSQL reads a heap page per gathered match (for the filters and the title vector);
    # FTS5 ranks from its own index, so it can afford the larger budget.
    budget = min(PG_BUDGET, kbquery.CANDIDATE_BUDGET) if postgres else None
    plan = kbquery.match_plan(parsed, session, budget)
    wanted = limit + len(exclude_ids)
    window = max(wanted * 3, CANDIDATES)
    if postgres:
        rows = _ranked_ids_postgres(
            session, plan, window, brand_id=brand_id, languages=languages, statuses=statuses
        )
        ranked = [(int(row[0]), float(row[1])) for row in rows]
        candidates = {int(row[0]): row for row in rows}
    else:
        # FTS5 ranks fastest on its own table; filter the best candidates afterwards and widen
        # the window only when filters (brand, language, status) removed too many.
        match = parsed.fts5(plan)
        # A capped plan (only very common words) ranks the newest CAPPED_BUDGET matches: the
        # same bound as PostgreSQL's, and two thirds of the time of the larger one at 100,000.
        candidates = {}
        budget = CAPPED_BUDGET
        for size, cap in ((window, budget), (2000, budget * 10), (1_000_000, None)):
            rows = _ranked_ids_sqlite(session, match, size, cap=cap if plan.capped else None)
            ranked = [(int(row[0]), float(row[1])) for row in rows]
            candidates = {
                int(row[0]): row
                for row in rows
                if row[2] == brand_id and row[3] in languages and row[4] in statuses
            }
            exhausted = len(ranked) < size and not (plan.capped and cap)
            if len(candidates) >= wanted or exhausted:
                break
    # The engines gather candidates; one BM25F over the stored terms ranks them (same on both).
    scored = []
    for article_id, _ in ranked:
        c = candidates.get(article_id)
        if c is None or article_id in exclude_ids:
            continue
        title_terms, body_terms = c.search_title.split(), c.search_body.split()
        scored.append((article_id, kbquery.bm25(parsed, title_terms, body_terms)))
    scored.sort(key=lambda item: -item[1])
    fused = semantic.fuse(
        session,
        parsed.raw,
        scored,
        brand_id=brand_id,
        languages=languages,
        statuses=statuses,
        exclude_ids=exclude_ids,
        encoding=encoding,
    )
    top = (fused if fused is not None else scored)[:limit]
    articles = _load(session, [i for i, _ in top])
    for article_id, rank in top:
        article = articles.get(article_id)
        if article is None:
            continue
        if fused is not None:
            confidence = semantic.confidence(rank)
        else:
            confidence = kbquery.coverage(
                parsed,
                article.search_body.split() + article.search_title.split(),
                article.search_title.split(),
            )
        result.hits.append(Hit(article, rank, confidence))
    return result


def _load(session: Session, ids: Sequence[int]) -> dict[int, Article]:
    if not ids:
        return {}
    found: dict[int, Article] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = (
            select(Article)
            .options(lazyload(Article.owner), lazyload(Article.category), defer(Article.body_html))
            .where(Article.id.in_(chunk))
        )
        for article in session.scalars(stmt):
            found[article.id] = article
    return found


def best_passage(article: Article, parsed: kbquery.ParsedQuery, max_chars: int = 600) -> str:
    """The paragraph of the article that covers most of the query (the bot's answer)."""
    paragraphs = markdown.paragraphs(article.body_md) or [article.summary or article.title]
    best, best_score = paragraphs[0], -1.0
    for position, paragraph in enumerate(paragraphs):
        stems = set(text.terms(paragraph, article.language))
        score = sum(g.weight for g in parsed.groups if g.stems & stems) - position * 0.01
        if score > best_score:
            best, best_score = paragraph, score
    return best if len(best) <= max_chars else best[: max_chars - 1].rsplit(" ", 1)[0] + "…"


def related_articles(session: Session, article: Article, *, limit: int = 4) -> list[Article]:
    """Published articles like this one: its title and tags as a query, same category first."""
    q = " ".join([article.title, *article.tags])
    result = search_articles(
        session,
        q,
        brand_id=article.brand_id,
        language=article.language,
        limit=limit + 4,
        exclude_ids=[article.id],
    )
    hits = sorted(
        result.hits, key=lambda h: (h.article.category_id != article.category_id, -h.rank)
    )
    return [h.article for h in hits[:limit]]


def suggestions_for(
    session: Session, conversation: Conversation, *, limit: int = 5
) -> SearchResult:
    """Articles for an open conversation: its subject and the customer's latest messages."""
    texts = list(
        session.scalars(
            select(Message.text)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.INBOUND,
            )
            .order_by(Message.id.desc())
            .limit(3)
        )
    )
    q = " ".join([conversation.subject, *reversed(texts)])[: text.MAX_QUERY_CHARS]
    return search_articles(
        session, q, brand_id=conversation.brand_id, statuses=FOR_AGENTS, limit=limit
    )


# --- conversations -----------------------------------------------------------------------------


def search_conversations(
    session: Session, user: User, q: str, *, limit: int = 50
) -> list[Conversation]:
    """Conversations whose number, subject or messages match, best first, within what the user
    may see: the console's search (``sportello.search``), which analyses words as articles are."""
    from sportello.search import service as search_service

    found = search_service.search(session, user, q, groups=("conversations",), limit=limit)
    return list(found.conversations.items)


# --- listings ----------------------------------------------------------------------------------


def categories(session: Session, *, brand_id: int, language: str) -> list[Category]:
    return list(
        session.scalars(
            select(Category)
            .where(Category.brand_id == brand_id, Category.language == language)
            .order_by(Category.position, Category.name)
        )
    )


def all_categories(session: Session, *, brand_id: int) -> list[Category]:
    return list(
        session.scalars(
            select(Category)
            .where(Category.brand_id == brand_id)
            .order_by(Category.language, Category.position, Category.name)
        )
    )


def get_category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound("category not found")
    return category


def category_by_slug(session: Session, *, brand_id: int, language: str, slug: str) -> Category:
    category = session.scalar(
        select(Category).where(
            Category.brand_id == brand_id, Category.language == language, Category.slug == slug
        )
    )
    if category is None:
        raise NotFound("category not found")
    return category


def public_articles(
    session: Session,
    *,
    brand_id: int,
    language: str,
    category_id: int | None = None,
    limit: int = 200,
) -> list[Article]:
    stmt = select(Article).where(
        Article.brand_id == brand_id,
        Article.language == language,
        Article.status == ArticleStatus.PUBLISHED,
    )
    if category_id is not None:
        stmt = stmt.where(Article.category_id == category_id)
    return list(session.scalars(stmt.order_by(Article.title).limit(limit)))


def popular_articles(
    session: Session, *, brand_id: int, language: str, limit: int = 6
) -> list[Article]:
    return list(
        session.scalars(
            select(Article)
            .where(
                Article.brand_id == brand_id,
                Article.language == language,
                Article.status == ArticleStatus.PUBLISHED,
            )
            .order_by(Article.views.desc(), Article.helpful_yes.desc(), Article.id)
            .limit(limit)
        )
    )


def public_article_by_slug(session: Session, *, brand_id: int, language: str, slug: str) -> Article:
    article = session.scalar(
        select(Article).where(
            Article.brand_id == brand_id,
            Article.language == language,
            Article.slug == slug[:80],
            Article.status == ArticleStatus.PUBLISHED,
        )
    )
    if article is None:
        raise NotFound("article not found")
    return article


def translations_of(session: Session, article: Article, *, public: bool = True) -> list[Article]:
    if article.translation_group is None:
        return []
    stmt = select(Article).where(
        Article.translation_group == article.translation_group, Article.id != article.id
    )
    if public:
        stmt = stmt.where(Article.status == ArticleStatus.PUBLISHED)
    return list(session.scalars(stmt.order_by(Article.language)))


def sitemap_entries(session: Session, *, brand_id: int) -> list[Article]:
    return list(
        session.scalars(
            select(Article)
            .where(Article.brand_id == brand_id, Article.status == ArticleStatus.PUBLISHED)
            .order_by(Article.language, Article.id)
            .limit(50_000)
        )
    )


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise NotFound("article not found")
    return article


def article_for_agent(session: Session, article_id: int) -> Article:
    """Agents read published and internal articles; drafts are for editors and their owner."""
    return get_article(session, article_id)


def articles_for_editor(
    session: Session,
    *,
    brand_id: int,
    status: ArticleStatus | None = None,
    language: str | None = None,
    q: str = "",
    limit: int = 200,
) -> list[Article]:
    if q.strip():
        result = search_articles(
            session,
            q,
            brand_id=brand_id,
            language=language,
            statuses=[status] if status else list(ArticleStatus),
            limit=limit,
            any_language=language is None,
        )
        return [h.article for h in result.hits]
    stmt = select(Article).where(Article.brand_id == brand_id)
    if status is not None:
        stmt = stmt.where(Article.status == status)
    if language:
        stmt = stmt.where(Article.language == language)
    return list(session.scalars(stmt.order_by(Article.updated_at.desc()).limit(limit)))


def versions(session: Session, article: Article) -> list[ArticleVersion]:
    return list(
        session.scalars(
            select(ArticleVersion)
            .where(ArticleVersion.article_id == article.id)
            .order_by(ArticleVersion.version.desc())
        )
    )


def get_version(session: Session, article: Article, version: int) -> ArticleVersion:
    row = session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article.id, ArticleVersion.version == version
        )
    )
    if row is None:
        raise NotFound("version not found")
    return row


def diff(old: str, new: str, *, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) pairs: kind is add, del, hunk or same."""
    import difflib

    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=2
    ):
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


def open_proposals(session: Session, *, brand_id: int) -> list[Proposal]:
    return list(
        session.scalars(
            select(Proposal)
            .join(Article, Article.id == Proposal.article_id)
            .where(Article.brand_id == brand_id, Proposal.status == ProposalStatus.OPEN)
            .order_by(Proposal.created_at)
        )
    )


def get_proposal(session: Session, proposal_id: int) -> Proposal:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound("proposal not found")
    return proposal


def synonyms(session: Session, *, brand_id: int) -> list[Synonym]:
    return list(
        session.scalars(
            select(Synonym)
            .where(Synonym.brand_id == brand_id)
            .order_by(Synonym.language, Synonym.id)
        )
    )


def due_for_review(
    session: Session, *, brand_id: int, now: datetime | None = None
) -> list[Article]:
    now = now or utcnow()
    return list(
        session.scalars(
            select(Article)
            .where(
                Article.brand_id == brand_id,
                Article.review_at.is_not(None),
                Article.review_at <= now,
                Article.status != ArticleStatus.DRAFT,
            )
            .order_by(Article.review_at)
            .limit(100)
        )
    )


# --- measures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measures:
    since: datetime
    bot_conversations: int
    deflected: int
    handed_over: int
    votes_yes: int
    votes_no: int
    searches: int
    empty_searches: int

    @property
    def deflection_rate(self) -> float | None:
        return self.deflected / self.bot_conversations if self.bot_conversations else None

    @property
    def helpful_rate(self) -> float | None:
        total = self.votes_yes + self.votes_no
        return self.votes_yes / total if total else None


def measures(session: Session, *, brand_id: int, days: int = 30) -> Measures:
    """Deflection: bot conversations that ended (resolved or closed) with no person writing."""
    since = utcnow() - timedelta(days=max(1, min(days, 3650)))
    person_wrote = (
        select(Message.id)
        .where(
            Message.conversation_id == BotSession.conversation_id,
            Message.direction == Direction.OUTBOUND,
            Message.author_id.is_not(None),
        )
        .exists()
    )
    ended = Conversation.status.in_([Status.RESOLVED, Status.CLOSED])
    row = session.execute(
        select(
            func.count(),
            func.sum(
                case(
                    (and_(ended, ~person_wrote, BotSession.state != BotState.HANDED_OVER), 1),
                    else_=0,
                )
            ),
            func.sum(case((BotSession.state == BotState.HANDED_OVER, 1), else_=0)),
        )
        .select_from(BotSession)
        .join(Conversation, Conversation.id == BotSession.conversation_id)
        .where(BotSession.brand_id == brand_id, BotSession.created_at >= since)
    ).one()
    votes = session.execute(
        select(
            func.sum(case((Vote.helpful.is_(True), 1), else_=0)),
            func.sum(case((Vote.helpful.is_(False), 1), else_=0)),
        )
        .join(Article, Article.id == Vote.article_id)
        .where(Article.brand_id == brand_id, Vote.created_at >= since)
    ).one()
    searches = session.execute(
        select(func.count(), func.sum(case((SearchLog.result_count == 0, 1), else_=0))).where(
            SearchLog.brand_id == brand_id, SearchLog.created_at >= since
        )
    ).one()
    return Measures(
        since=since,
        bot_conversations=int(row[0] or 0),
        deflected=int(row[1] or 0),
        handed_over=int(row[2] or 0),
        votes_yes=int(votes[0] or 0),
        votes_no=int(votes[1] or 0),
        searches=int(searches[0] or 0),
        empty_searches=int(searches[1] or 0),
    )


@dataclass(frozen=True)
class Gap:
    query: str
    language: str
    count: int
    last_at: datetime


def search_gaps(session: Session, *, brand_id: int, days: int = 30, limit: int = 100) -> list[Gap]:
    """Searches with no result, grouped by normalised text, most frequent first."""
    since = utcnow() - timedelta(days=max(1, min(days, 3650)))
    rows = session.execute(
        select(
            SearchLog.normalized,
            SearchLog.language,
            func.count(),
            func.max(SearchLog.created_at),
            func.min(SearchLog.query),
        )
        .where(
            SearchLog.brand_id == brand_id,
            SearchLog.result_count == 0,
            SearchLog.created_at >= since,
        )
        .group_by(SearchLog.normalized, SearchLog.language)
        .order_by(func.count().desc(), func.max(SearchLog.created_at).desc())
        .limit(limit)
    ).all()
    from sportello.core.db import UTCDateTime

    def as_dt(value: object) -> datetime:
        if isinstance(value, datetime):
            return UTCDateTime().process_result_value(value, None) or value
        return datetime.fromisoformat(str(value))

    return [Gap(r[4] or r[0], r[1], int(r[2]), as_dt(r[3])) for r in rows]


def article_votes(session: Session, article: Article, *, limit: int = 50) -> list[Vote]:
    return list(
        session.scalars(
            select(Vote)
            .where(Vote.article_id == article.id, Vote.comment != "")
            .order_by(Vote.id.desc())
            .limit(limit)
        )
    )


def bot_log(session: Session, *, conversation_id: int) -> list[BotLog]:
    return list(
        session.scalars(
            select(BotLog).where(BotLog.conversation_id == conversation_id).order_by(BotLog.id)
        )
    )


def recent_bot_log(session: Session, *, limit: int = 50) -> list[BotLog]:
    return list(session.scalars(select(BotLog).order_by(BotLog.id.desc()).limit(limit)))


def learned_questions(session: Session, article: Article, *, limit: int = 50) -> list[Any]:
    """The questions learned for an article, newest first."""
    from sportello.knowledge.models import LearnedQuestion

    return list(
        session.scalars(
            select(LearnedQuestion)
            .where(LearnedQuestion.article_id == article.id)
            .order_by(LearnedQuestion.id.desc())
            .limit(limit)
        )
    )


# ---- the bot's threshold, calibrated on its own evidence ---------------------------------------

CALIBRATION_THRESHOLDS = tuple(round(0.3 + 0.05 * i, 2) for i in range(11))  # 0.30 ... 0.80
CALIBRATION_MIN_CASES = 20


@dataclass
class CalibrationRow:
    threshold: float
    right: int  # answered, and the customer said it helped
    wrong: int  # answered, and the customer said it did not (or asked again and gave up)
    handed_over: int  # below the threshold: a person would have taken it


@dataclass
class Calibration:
    cases: int  # answers of the bot on this channel customers judged
    rows: list[CalibrationRow]
    # "channel": the rows count this channel's judged answers; "evaluation": too few of those,
    # the rows count the bundled evaluation set's questions (EVALUATION_FILE) instead
    source: str = "channel"
    source_cases: int = 0  # what the rows count
    source_articles: int = 0  # the evaluation set's articles

    @property
    def enough(self) -> bool:
        return self.cases >= CALIBRATION_MIN_CASES


EVALUATION_FILE = Path(__file__).with_name("data") / "bot_evaluation.json"


def evaluation_cases() -> tuple[list[tuple[float, bool]], int]:
    """(confidence, right) for the bundled evaluation set's colloquial Italian questions, as the
    installed engine (the model's, or lexical) ranked them, and the set's article count.
    bench/kb_search.py --write-evaluation measures them; empty if the file is missing."""
    try:
        data = json.loads(EVALUATION_FILE.read_text())
    except (OSError, ValueError):
        return [], 0
    engine = semantic.MODEL_NAME if semantic.embedder() is not None else "lexical"
    cases = data.get("engines", {}).get(engine) or []
    return [(float(c), bool(r)) for c, r in cases], int(data.get("articles", 0))


def bot_feedback_cases(session: Session, *, channel_id: int) -> list[tuple[float, bool]]:
    """(confidence, helped) for each answer of the bot on this channel the customer judged: the
    next turn of the conversation was "yes" (helped), "no", or a handover for repeated
    failures (did not help). Answers nobody judged say nothing and are left out."""
    logs = session.scalars(
        select(BotLog)
        .join(Conversation, Conversation.id == BotLog.conversation_id)
        .where(Conversation.channel_id == channel_id)
        .order_by(BotLog.conversation_id, BotLog.id)
    )
    cases: list[tuple[float, bool]] = []
    pending: dict[int, float] = {}  # conversation -> confidence of its unjudged answer
    for log in logs:
        if log.action == "answer":
            pending[log.conversation_id] = float(log.confidence or 0.0)
            continue
        confidence = pending.pop(log.conversation_id, None)
        if confidence is None:
            continue
        if log.action == "feedback_yes":
            cases.append((confidence, True))
        elif log.action == "feedback_no" or (
            log.action == "handover" and log.reason == "repeated_failure"
        ):
            cases.append((confidence, False))
    return cases


def calibrate(
    cases: Sequence[tuple[float, bool]], thresholds: Sequence[float] = CALIBRATION_THRESHOLDS
) -> Calibration:
    """What each candidate threshold would have done with the judged answers: at or above it
    the bot answers (right or wrong as the customer said), below it hands over."""
    rows = []
    for t in thresholds:
        answered = [helped for confidence, helped in cases if confidence >= t]
        rows.append(
            CalibrationRow(
                threshold=t,
                right=sum(answered),
                wrong=len(answered) - sum(answered),
                handed_over=len(cases) - len(answered),
            )
        )
    return Calibration(cases=len(cases), rows=rows)


def bot_calibration(session: Session, *, channel_id: int) -> Calibration:
    """The channel's own judged answers replayed at each threshold; under
    CALIBRATION_MIN_CASES of them, the bundled evaluation set's questions instead (said so)."""
    own = bot_feedback_cases(session, channel_id=channel_id)
    if len(own) < CALIBRATION_MIN_CASES:
        bundled, articles = evaluation_cases()
        if bundled:
            table = calibrate(bundled)
            return Calibration(len(own), table.rows, "evaluation", len(bundled), articles)
    table = calibrate(own)
    return Calibration(len(own), table.rows, "channel", len(own))
