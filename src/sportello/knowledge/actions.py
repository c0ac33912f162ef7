"""Writes on the knowledge base: articles and versions, proposals, categories, synonyms, votes,
search logs, and the message search index. ``check_*`` validates, ``do_*`` writes; the caller owns
the transaction."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.config import get_settings
from sportello.conversations.models import Direction, Message
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied
from sportello.core.events import EventPayload, emit, register_event
from sportello.knowledge import markdown, semantic, text
from sportello.knowledge import query as kbquery
from sportello.knowledge.importer import ImportItem
from sportello.knowledge.models import (
    Article,
    ArticleStatus,
    ArticleVersion,
    Category,
    Embedding,
    LearnedQuestion,
    Proposal,
    ProposalStatus,
    SearchLog,
    Synonym,
    Term,
    Vote,
)

MAX_TITLE = 200


class ArticleUpdated(EventPayload):
    """An article was saved as a new version (frontline proposes a "what changed" briefing)."""

    article_id: int
    version: int
    by_user_id: int | None


register_event("kb.article_updated", ArticleUpdated)

MAX_SUMMARY = 300
MAX_BODY_CHARS = 100_000
MAX_TAGS = 20
MAX_COMMENT = 1000
MAX_SYNONYM_WORDS = 12


def is_editor(user: User) -> bool:
    return user.is_supervisor


def check_editor(user: User) -> None:
    if not is_editor(user):
        raise PermissionDenied("only supervisors and admins edit articles; propose an edit instead")


def _clean_tags(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in tags:
        tag = " ".join(raw.strip().lower().split())[:40]
        if tag:
            seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    return list(seen)


def check_article(*, title: str, body_md: str, summary: str = "", language: str = "it") -> None:
    if not title.strip():
        raise InvalidInput("an article needs a title", field="title")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"the title is longer than {MAX_TITLE} characters", field="title")
    if len(summary) > MAX_SUMMARY:
        raise InvalidInput(f"the summary is longer than {MAX_SUMMARY} characters", field="summary")
    if len(body_md) > MAX_BODY_CHARS:
        raise InvalidInput(
            f"the article is too long: {len(body_md):,} characters, the limit is "
            f"{MAX_BODY_CHARS:,}; split it into several articles",
            field="body_md",
            limit=MAX_BODY_CHARS,
        )
    if language not in text.LANGUAGES:
        raise InvalidInput("the language must be it or en", field="language")


# --- the search index of an article ------------------------------------------------------------


def _upsert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _count_terms(session: Session, language: str, removed: set[str], added: set[str]) -> None:
    gone = removed - added
    new = added - removed
    if gone:
        session.execute(
            update(Term)
            .where(Term.language == language, Term.term.in_(sorted(gone)))
            .values(doc_count=Term.doc_count - 1)
        )
    if new:
        upsert = _upsert(session)
        stmt = upsert(Term).values(
            [{"language": language, "term": t, "doc_count": 1} for t in sorted(new)]
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["language", "term"], set_={"doc_count": Term.doc_count + 1}
            )
        )


def _terms_of(article: Article) -> set[str]:
    return {t[:40] for t in (article.search_title + " " + article.search_body).split()}


def index_fields(
    *, title: str, tags: Sequence[str], summary: str, body_md: str, language: str
) -> tuple[str, str]:
    title_terms = text.index_text(" ".join([title, *tags]), language)
    body_terms = text.index_text(summary + "\n" + markdown.to_text(body_md), language)
    return title_terms, body_terms


def _reindex(session: Session, article: Article, *, previous_language: str | None = None) -> None:
    before = _terms_of(article) if article.id is not None else set()
    old_language = previous_language or article.language
    article.search_title, article.search_body = index_fields(
        title=article.title,
        tags=article.tags,
        summary=article.summary,
        body_md=article.body_md,
        language=article.language,
    )
    after = _terms_of(article)
    if old_language != article.language:
        _count_terms(session, old_language, before, set())
        _count_terms(session, article.language, set(), after)
    else:
        _count_terms(session, article.language, before, after)
    kbquery.invalidate()


# --- articles ----------------------------------------------------------------------------------


def _unique_slug(
    session: Session, brand_id: int, language: str, wanted: str, own_id: int | None
) -> str:
    base = text.slugify(wanted)
    slug = base
    n = 2
    while True:
        clash = session.scalar(
            select(Article.id).where(
                Article.brand_id == brand_id, Article.language == language, Article.slug == slug
            )
        )
        if clash is None or clash == own_id:
            return slug
        suffix = f"-{n}"
        slug = base[: 80 - len(suffix)] + suffix
        n += 1


def _snapshot(session: Session, article: Article, by: User | None, note: str) -> None:
    session.add(
        ArticleVersion(
            article_id=article.id,
            version=article.version,
            title=article.title,
            summary=article.summary,
            body_md=article.body_md,
            tags=list(article.tags),
            status=article.status,
            category_id=article.category_id,
            author_id=by.id if by else None,
            note=note[:300],
        )
    )


def do_create_article(
    session: Session,
    *,
    brand_id: int,
    by: User | None,
    title: str,
    body_md: str,
    summary: str = "",
    language: str = "it",
    category: Category | None = None,
    tags: Sequence[str] = (),
    status: ArticleStatus = ArticleStatus.DRAFT,
    review_at: datetime | None = None,
    translation_of: Article | None = None,
    slug: str | None = None,
) -> Article:
    """Editors create articles in any status; agents only drafts (an editor publishes them)."""
    if by is not None and not is_editor(by) and status != ArticleStatus.DRAFT:
        raise PermissionDenied("agents can create drafts only; an editor publishes them")
    check_article(title=title, body_md=body_md, summary=summary, language=language)
    if category is not None and category.language != language:
        raise InvalidInput("the category is in another language", field="category_id")
    now = utcnow()
    article = Article(
        brand_id=brand_id,
        category_id=category.id if category else None,
        language=language,
        title=title.strip(),
        slug=_unique_slug(session, brand_id, language, slug or title, None),
        summary=summary.strip() or markdown.summary_from(body_md),
        body_md=body_md,
        body_html=markdown.to_html(body_md),
        tags=_clean_tags(tags),
        status=status,
        owner_id=by.id if by else None,
        review_at=review_at,
        version=1,
        created_at=now,
        updated_at=now,
        published_at=now if status == ArticleStatus.PUBLISHED else None,
    )
    if translation_of is not None:
        if translation_of.language == language:
            raise InvalidInput("a translation must be in another language", field="language")
        if translation_of.translation_group is None:
            translation_of.translation_group = translation_of.id
        article.translation_group = translation_of.translation_group
    _reindex(session, article)
    session.add(article)
    session.flush()
    _snapshot(session, article, by, "created")
    semantic.embed_article(session, article)
    return article


def do_update_article(
    session: Session,
    *,
    article: Article,
    by: User,
    title: str,
    body_md: str,
    summary: str = "",
    category: Category | bool | None = False,
    tags: Sequence[str] | None = None,
    status: ArticleStatus | None = None,
    review_at: datetime | bool | None = False,
    language: str | None = None,
    note: str = "",
    base_version: int | None = None,
) -> Article:
    """Save an edit as a new version (nothing is saved when nothing changed).

    ``base_version`` guards against overwriting a colleague's save made in the meantime.
    """
    owner_draft = article.status == ArticleStatus.DRAFT and article.owner_id == by.id
    if not is_editor(by) and not owner_draft:
        raise PermissionDenied("only supervisors and admins edit articles; propose an edit instead")
    if not is_editor(by) and status not in (None, ArticleStatus.DRAFT):
        raise PermissionDenied("agents can create drafts only; an editor publishes them")
    if base_version is not None and base_version != article.version:
        raise Conflict(
            "someone saved this article while you were editing it: reload and apply your changes",
            current_version=article.version,
        )
    lang = language or article.language
    check_article(title=title, body_md=body_md, summary=summary, language=lang)
    new_category = article.category if category is False else category
    if isinstance(new_category, Category) and new_category.language != lang:
        raise InvalidInput("the category is in another language", field="category_id")
    new_tags = _clean_tags(tags) if tags is not None else list(article.tags)
    new_status = status or article.status
    new_summary = summary.strip() or markdown.summary_from(body_md)
    changed = (
        title.strip() != article.title
        or body_md != article.body_md
        or new_summary != article.summary
        or new_tags != list(article.tags)
        or new_status != article.status
        or lang != article.language
        or (new_category.id if isinstance(new_category, Category) else None) != article.category_id
    )
    if review_at is not False:
        article.review_at = review_at if isinstance(review_at, datetime) else None
    if not changed:
        return article
    previous_language = article.language
    article.title = title.strip()
    article.body_md = body_md
    article.body_html = markdown.to_html(body_md)
    article.summary = new_summary
    article.tags = new_tags
    article.category_id = new_category.id if isinstance(new_category, Category) else None
    if lang != article.language:
        article.language = lang
        article.slug = _unique_slug(session, article.brand_id, lang, article.slug, article.id)
    if new_status == ArticleStatus.PUBLISHED and article.published_at is None:
        article.published_at = utcnow()
    article.status = new_status
    article.version += 1
    article.updated_at = utcnow()
    _reindex(session, article, previous_language=previous_language)
    session.flush()
    _snapshot(session, article, by, note or "edited")
    semantic.embed_article(session, article)
    emit(
        session,
        "kb.article_updated",
        ArticleUpdated(article_id=article.id, version=article.version, by_user_id=by.id),
    )
    return article


def do_set_status(
    session: Session, *, article: Article, by: User, status: ArticleStatus
) -> Article:
    return do_update_article(
        session,
        article=article,
        by=by,
        title=article.title,
        body_md=article.body_md,
        summary=article.summary,
        status=status,
        note=f"status: {status.value}",
    )


def do_restore_version(session: Session, *, article: Article, by: User, version: int) -> Article:
    check_editor(by)
    old = session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article.id, ArticleVersion.version == version
        )
    )
    if old is None:
        raise InvalidInput("no such version", field="version")
    category = session.get(Category, old.category_id) if old.category_id else None
    return do_update_article(
        session,
        article=article,
        by=by,
        title=old.title,
        body_md=old.body_md,
        summary=old.summary,
        category=category,
        tags=old.tags,
        note=f"restored version {version}",
    )


def do_delete_article(session: Session, *, article: Article, by: User) -> None:
    check_editor(by)
    _count_terms(session, article.language, _terms_of(article), set())
    session.delete(article)
    session.flush()
    kbquery.invalidate()
    semantic.invalidate()


# --- proposals ---------------------------------------------------------------------------------


def do_propose_edit(
    session: Session, *, article: Article, by: User, title: str, body_md: str, note: str = ""
) -> Proposal:
    check_article(title=title, body_md=body_md, language=article.language)
    if len(note) > 1000:
        raise InvalidInput("the note is longer than 1000 characters", field="note")
    if title.strip() == article.title and body_md == article.body_md:
        raise InvalidInput("the proposal changes nothing", field="body_md")
    proposal = Proposal(
        article_id=article.id,
        base_version=article.version,
        title=title.strip(),
        body_md=body_md,
        note=note.strip(),
        author_id=by.id,
    )
    session.add(proposal)
    session.flush()
    return proposal


def _decide(proposal: Proposal, by: User, status: ProposalStatus) -> None:
    check_editor(by)
    if proposal.status != ProposalStatus.OPEN:
        raise Conflict("this proposal was already decided")
    proposal.status = status
    proposal.decided_by_id = by.id
    proposal.decided_at = utcnow()


def do_accept_proposal(session: Session, *, proposal: Proposal, by: User) -> Article:
    _decide(proposal, by, ProposalStatus.ACCEPTED)
    article = proposal.article
    author = proposal.author.name if proposal.author else "?"
    return do_update_article(
        session,
        article=article,
        by=by,
        title=proposal.title,
        body_md=proposal.body_md,
        summary="" if proposal.body_md != article.body_md else article.summary,
        note=f"proposal #{proposal.id} by {author}",
    )


def do_reject_proposal(session: Session, *, proposal: Proposal, by: User) -> Proposal:
    _decide(proposal, by, ProposalStatus.REJECTED)
    return proposal


def do_draft_from_reply(session: Session, *, message: Message, by: User, brand_id: int) -> Article:
    """An agent's good reply becomes a draft article (an editor reviews and publishes it)."""
    if message.direction != Direction.OUTBOUND or not message.text.strip():
        raise InvalidInput("only a reply with text can become an article", field="message_id")
    language = text.guess_language(message.text)
    first_line = message.text.strip().splitlines()[0]
    title = first_line if len(first_line) <= 80 else first_line[:77].rsplit(" ", 1)[0] + "…"
    return do_create_article(
        session,
        brand_id=brand_id,
        by=by,
        title=title,
        body_md=message.text[:MAX_BODY_CHARS],
        language=language,
        status=ArticleStatus.DRAFT,
    )


# --- categories and synonyms -------------------------------------------------------------------


def do_create_category(
    session: Session,
    *,
    brand_id: int,
    by: User,
    name: str,
    language: str = "it",
    description: str = "",
    position: int = 0,
) -> Category:
    check_editor(by)
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a category needs a name of at most 200 characters", field="name")
    if language not in text.LANGUAGES:
        raise InvalidInput("the language must be it or en", field="language")
    slug = text.slugify(name)
    clash = session.scalar(
        select(Category.id).where(
            Category.brand_id == brand_id, Category.language == language, Category.slug == slug
        )
    )
    if clash is not None:
        raise Conflict("a category with this name exists", field="name")
    category = Category(
        brand_id=brand_id,
        language=language,
        name=name.strip(),
        slug=slug,
        description=description.strip()[:500],
        position=position,
    )
    session.add(category)
    session.flush()
    return category


def do_update_category(
    session: Session, *, category: Category, by: User, name: str, description: str, position: int
) -> Category:
    check_editor(by)
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a category needs a name of at most 200 characters", field="name")
    category.name = name.strip()
    category.description = description.strip()[:500]
    category.position = position
    return category


def parse_synonyms(line: str) -> list[str]:
    words = [" ".join(w.split()).lower()[:60] for w in line.replace(";", ",").split(",")]
    return list(dict.fromkeys(w for w in words if w))


def do_add_synonyms(
    session: Session, *, brand_id: int, by: User, words: Sequence[str], language: str = "it"
) -> Synonym:
    if not by.is_admin:
        raise PermissionDenied("admins only")
    cleaned = list(dict.fromkeys(w.strip().lower() for w in words if w.strip()))
    if len(cleaned) < 2:
        raise InvalidInput("a synonym group needs at least two words", field="words")
    if len(cleaned) > MAX_SYNONYM_WORDS:
        raise InvalidInput(f"at most {MAX_SYNONYM_WORDS} words in a group", field="words")
    if any(not text.terms(w, language) for w in cleaned):
        raise InvalidInput("every entry needs a word that is not a stop word", field="words")
    if language not in text.LANGUAGES:
        raise InvalidInput("the language must be it or en", field="language")
    group = Synonym(brand_id=brand_id, language=language, words=cleaned)
    session.add(group)
    session.flush()
    kbquery.invalidate()
    return group


def do_delete_synonyms(session: Session, *, group: Synonym, by: User) -> None:
    if not by.is_admin:
        raise PermissionDenied("admins only")
    session.delete(group)
    session.flush()
    kbquery.invalidate()


# --- votes and search logs ---------------------------------------------------------------------


def ip_hash(ip: str | None) -> str:
    key = get_settings().effective_secret_key()
    return hashlib.sha256(f"{key}:{ip or '-'}".encode()).hexdigest()


def do_vote(
    session: Session, *, article: Article, helpful: bool, comment: str = "", ip: str | None = None
) -> Vote:
    """A help-center vote. The comment is stored as plain text and always shown escaped."""
    if article.status != ArticleStatus.PUBLISHED:
        raise InvalidInput("this article cannot be rated", field="article")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"the comment is longer than {MAX_COMMENT} characters", field="comment")
    vote = Vote(article_id=article.id, helpful=helpful, comment=comment, ip_hash=ip_hash(ip))
    session.add(vote)
    column = Article.helpful_yes if helpful else Article.helpful_no
    session.execute(update(Article).where(Article.id == article.id).values({column: column + 1}))
    return vote


LEARNED_SOURCES = ("handover", "helpful", "click", "editor", "import")
MAX_LEARNED_PER_ARTICLE = 50


def do_learn_question(
    session: Session, *, article: Article, question: str, source: str
) -> LearnedQuestion | None:
    """Remember a customer's own words for the article that answered them (a signal the hybrid
    ranking searches beside the article). Repeats and near-empty questions are skipped; an
    article keeps its newest MAX_LEARNED_PER_ARTICLE."""
    if source not in LEARNED_SOURCES:
        raise InvalidInput("unknown source", field="source")
    clean = " ".join(question.split())[:300]
    if len(text.content_words(clean, article.language)) < 1:
        return None
    existing = session.scalars(
        select(LearnedQuestion)
        .where(LearnedQuestion.article_id == article.id)
        .order_by(LearnedQuestion.id)
    ).all()
    if any(q.text.casefold() == clean.casefold() for q in existing):
        return None
    # over the cap: readers' clicks (the weakest signal) go first, then the oldest
    weakest = sorted(existing, key=lambda q: (q.source != "click", q.id))
    for old in weakest[: max(0, len(existing) - MAX_LEARNED_PER_ARTICLE + 1)]:
        session.delete(old)
    learned = LearnedQuestion(
        brand_id=article.brand_id,
        article_id=article.id,
        language=article.language,
        text=clean,
        source=source,
    )
    semantic.embed_question(learned)
    session.add(learned)
    session.flush()
    return learned


READER_SIGNALS = ("click", "yes", "no")


def reader_token(article_id: int, query: str) -> str:
    """Signs (article, search) for a help-center result link: only a search the help center ran
    and a result it showed can teach the ranking, not any URL a visitor makes up."""
    key = get_settings().effective_secret_key().encode()
    message = f"kb-click:{article_id}:{query}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


def reader_token_ok(article_id: int, query: str, token: str) -> bool:
    return bool(query.strip()) and hmac.compare_digest(reader_token(article_id, query), token)


def do_learn_from_reader(
    session: Session, *, article: Article, query: str, signal: str
) -> LearnedQuestion | None:
    """A help-center reader's signal about an article they reached from a search: a click
    learns the search's words for the article ("click"); "yes" to "was this helpful" makes it a
    helpful one; "no" forgets what the click taught (an editor's or a helpful one stays)."""
    if signal not in READER_SIGNALS:
        raise InvalidInput("unknown signal", field="signal")
    clean = " ".join(query.split())[:300]
    same = [
        q
        for q in session.scalars(
            select(LearnedQuestion).where(LearnedQuestion.article_id == article.id)
        )
        if q.text.casefold() == clean.casefold()
    ]
    if signal == "no":
        for learned in same:
            if learned.source == "click":
                session.delete(learned)
                semantic.invalidate()
        return None
    if signal == "yes" and same:
        for learned in same:
            if learned.source == "click":
                learned.source = "helpful"
        return same[0]
    return do_learn_question(
        session, article=article, question=clean, source="click" if signal == "click" else "helpful"
    )


def do_count_view(session: Session, *, article: Article) -> None:
    session.execute(update(Article).where(Article.id == article.id).values(views=Article.views + 1))


def do_log_search(
    session: Session,
    *,
    brand_id: int,
    source: str,
    query: str,
    language: str,
    normalized: str,
    result_count: int,
    top_article_id: int | None,
) -> SearchLog:
    row = SearchLog(
        brand_id=brand_id,
        source=source[:20],
        language=language[:8],
        query=text.clip_query(query)[:300],
        normalized=normalized[:300],
        result_count=result_count,
        top_article_id=top_article_id,
    )
    session.add(row)
    return row


# --- the conversation index --------------------------------------------------------------------


def reindex_articles(session: Session, *, batch: int = 500) -> int:
    """Recompute every article's terms and the vocabulary (after a stemming change)."""
    session.execute(delete(Term))
    counts: dict[tuple[str, str], int] = {}
    done = 0
    last = 0
    while True:
        articles = list(
            session.scalars(
                select(Article).where(Article.id > last).order_by(Article.id).limit(batch)
            )
        )
        if not articles:
            break
        for article in articles:
            article.search_title, article.search_body = index_fields(
                title=article.title,
                tags=article.tags,
                summary=article.summary,
                body_md=article.body_md,
                language=article.language,
            )
            for term in _terms_of(article):
                key = (article.language, term)
                counts[key] = counts.get(key, 0) + 1
            last = article.id
            done += 1
        session.flush()
    if counts:
        rows = [{"language": k[0], "term": k[1], "doc_count": v} for k, v in counts.items()]
        for start in range(0, len(rows), 5000):
            session.execute(insert(Term), rows[start : start + 5000])
    kbquery.invalidate()
    return done


# --- import ------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # titles already in the knowledge base
    errors: list[tuple[int, str]] = field(default_factory=list)  # (1-based record, message)


def do_import_articles(
    session: Session,
    *,
    brand_id: int,
    by: User,
    items: Sequence[ImportItem],
    language: str = "it",
    publish: bool = True,
) -> ImportReport:
    """Create an article per record (categories by name, made when missing). A record that is
    invalid is reported with its number and skipped; one whose title already exists in that
    language is skipped too, so importing the same file twice adds nothing."""
    check_editor(by)
    if language not in text.LANGUAGES:
        raise InvalidInput("the language must be it or en", field="language")
    report = ImportReport()
    categories = {
        (c.language, c.name.casefold()): c
        for c in session.scalars(select(Category).where(Category.brand_id == brand_id))
    }
    titles = {
        (lang, title.casefold())
        for lang, title in session.execute(
            select(Article.language, Article.title).where(Article.brand_id == brand_id)
        )
    }
    for number, item in enumerate(items, start=1):
        lang = item.language if item.language in text.LANGUAGES else language
        title = item.title.strip()
        if (lang, title.casefold()) in titles:
            report.skipped.append(title)
            continue
        try:
            check_article(title=title, body_md=item.body_md, language=lang)
            category = None
            if item.category.strip():
                key = (lang, item.category.strip().casefold())
                category = categories.get(key)
                if category is None:
                    category = do_create_category(
                        session, brand_id=brand_id, by=by, name=item.category.strip()[:200],
                        language=lang,
                    )  # fmt: skip
                    categories[key] = category
            with session.begin_nested():
                article = do_create_article(
                    session,
                    brand_id=brand_id,
                    by=by,
                    title=title,
                    body_md=item.body_md,
                    language=lang,
                    category=category,
                    tags=item.tags,
                    status=ArticleStatus.PUBLISHED
                    if publish and item.published
                    else ArticleStatus.DRAFT,
                )
        except (InvalidInput, Conflict) as exc:
            report.errors.append((number, str(exc)))
            continue
        titles.add((lang, title.casefold()))
        report.created.append(article.id)
    return report


def embed_missing(session: Session) -> int:
    """Embed the articles and learned questions that have no vector from the installed model
    (after installing or changing it; ``sportello kb embed``). Returns how many were embedded."""
    model = semantic.embedder()
    if model is None:
        return 0
    current = select(Embedding.article_id).where(Embedding.model == model.name)
    done = 0
    for article in session.scalars(select(Article).where(Article.id.not_in(current))):
        semantic.embed_article(session, article)
        done += 1
    for question in session.scalars(
        select(LearnedQuestion).where(LearnedQuestion.model != model.name)
    ):
        semantic.embed_question(question)
        done += 1
    return done
