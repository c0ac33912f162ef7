"""From what someone typed to a safe full-text query: content words, stems, synonyms, typo fixes.

Nothing the user types reaches the engine's query syntax: every term is ``[a-z0-9]+`` after folding
and stemming, and the engine syntax (quotes, OR, ``|``, prefix stars) is added here. So ``"``,
``*``, ``NEAR``, ``OR``, ``-`` or a megabyte of symbols are just text, and the work is bounded
(``MAX_QUERY_CHARS`` characters, ``MAX_QUERY_TERMS`` terms).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.knowledge import text
from sportello.knowledge.models import Article, Synonym, Term

VOCAB_TTL_SECONDS = 60.0
SHORT_QUERY_WORDS = 4  # typo correction applies to queries of at most this many words
MAX_GROUP_ALTERNATIVES = 8
SYNONYM_FACTOR = 0.9


@dataclass(frozen=True)
class Alternative:
    """One way a query word may appear: a stem, a phrase of stems, or a prefix."""

    stems: tuple[str, ...]
    prefix: bool = False
    factor: float = 1.0  # how much a match counts: the word itself 1, a synonym or typo fix less


@dataclass
class Group:
    """A query word and its alternatives (synonyms, a typo correction); any one matches."""

    word: str
    alternatives: list[Alternative] = field(default_factory=list)
    corrected: str | None = None
    weight: float = 1.0  # inverse document frequency of the word's best alternative
    df: int = 0  # documents matching any alternative, at most (set by match_plan)

    def add(self, alternative: Alternative) -> None:
        key = (alternative.stems, alternative.prefix)
        if len(self.alternatives) < MAX_GROUP_ALTERNATIVES and all(
            (a.stems, a.prefix) != key for a in self.alternatives
        ):
            self.alternatives.append(alternative)

    @property
    def stems(self) -> set[str]:
        return {s for a in self.alternatives if not a.prefix for s in a.stems}


@dataclass
class ParsedQuery:
    raw: str
    language: str
    groups: list[Group]

    @property
    def empty(self) -> bool:
        return not self.groups

    @property
    def normalized(self) -> str:
        return " ".join(g.corrected or g.word for g in self.groups)[:300]

    @property
    def corrections(self) -> dict[str, str]:
        return {g.word: g.corrected for g in self.groups if g.corrected}

    @staticmethod
    def _fts5_group(group: Group) -> str:
        alts = [
            '"' + " ".join(a.stems) + '"' + ("*" if a.prefix else "") for a in group.alternatives
        ]
        return "(" + " OR ".join(alts) + ")"

    @staticmethod
    def ts_group(group: Group, weight: str = "") -> str:
        alts = []
        for alt in group.alternatives:
            if alt.prefix:
                alts.append(f"{alt.stems[0]}:*{weight}")
            else:
                alts.append(" <-> ".join(f"{s}:{weight}" if weight else s for s in alt.stems))
        return "(" + " | ".join(alts) + ")"

    def fts5(self, plan: MatchPlan | None = None) -> str:
        """An FTS5 MATCH expression (every term quoted)."""
        plan = plan or MatchPlan(any_of=self.groups)
        parts = [self._fts5_group(g) for g in plan.any_of if g.alternatives]
        if plan.title_of:
            parts.append(
                "search_title : (" + " OR ".join(self._fts5_group(g) for g in plan.title_of) + ")"
            )
        if len(plan.all_of) >= 2:
            parts.append("(" + " AND ".join(self._fts5_group(g) for g in plan.all_of) + ")")
        return " OR ".join(parts)

    def tsquery(self, plan: MatchPlan | None = None) -> str:
        """A PostgreSQL tsquery text (terms are [a-z0-9]+ only)."""
        plan = plan or MatchPlan(any_of=self.groups)
        parts = [self.ts_group(g) for g in plan.any_of if g.alternatives]
        parts += [self.ts_group(g, "A") for g in plan.title_of]
        if len(plan.all_of) >= 2:
            parts.append("(" + " & ".join(self.ts_group(g) for g in plan.all_of) + ")")
        return " | ".join(parts)


# --- vocabulary and synonyms, cached per process ------------------------------------------------


@dataclass
class _Vocabulary:
    doc_count: dict[str, int]
    keys: list[str]
    documents: int
    loaded_at: float


_lock = threading.Lock()
_vocab: dict[str, _Vocabulary] = {}
_synonyms: dict[tuple[int, str], tuple[float, dict[str, list[tuple[str, ...]]]]] = {}


def invalidate() -> None:
    """Forget cached vocabulary and synonyms (after writes in this process)."""
    with _lock:
        _vocab.clear()
        _synonyms.clear()


def vocabulary(session: Session, language: str) -> _Vocabulary:
    now = time.monotonic()
    cached = _vocab.get(language)
    if cached is not None and now - cached.loaded_at < VOCAB_TTL_SECONDS:
        return cached
    rows = session.execute(
        select(Term.term, Term.doc_count).where(Term.language == language, Term.doc_count > 0)
    ).all()
    counts = {term: count for term, count in rows}
    documents = session.scalar(select(func.count(Article.id)).where(Article.language == language))
    vocab = _Vocabulary(counts, list(counts), int(documents or 0), now)
    with _lock:
        _vocab[language] = vocab
    return vocab


def synonym_map(session: Session, brand_id: int, language: str) -> dict[str, list[tuple[str, ...]]]:
    """stem (or "stem stem" for a phrase) → the stem tuples of every entry of its groups."""
    now = time.monotonic()
    cached = _synonyms.get((brand_id, language))
    if cached is not None and now - cached[0] < VOCAB_TTL_SECONDS:
        return cached[1]
    mapping: dict[str, list[tuple[str, ...]]] = {}
    for words in session.scalars(
        select(Synonym.words).where(Synonym.brand_id == brand_id, Synonym.language == language)
    ):
        entries = [tuple(text.terms(w, language)) for w in words]
        entries = [e for e in entries if e]
        for entry in entries:
            # single words key by their stem; phrases by their stems joined with spaces
            key = " ".join(entry)
            mapping.setdefault(key, [])
            for other in entries:
                if other not in mapping[key]:
                    mapping[key].append(other)
    with _lock:
        _synonyms[(brand_id, language)] = (now, mapping)
    return mapping


def correct(stem: str, vocab: _Vocabulary) -> str | None:
    """The closest indexed stem (edit distance 1, or 2 for long words), the commonest on ties."""
    if len(stem) < 4 or not vocab.keys:
        return None
    max_distance = 1 if len(stem) <= 6 else 2
    found = process.extract(
        stem, vocab.keys, scorer=Levenshtein.distance, score_cutoff=max_distance, limit=8
    )
    if not found:
        return None
    best = min(found, key=lambda item: (item[1], -vocab.doc_count.get(item[0], 0)))
    return str(best[0])


def idf(count: int, documents: int) -> float:
    return math.log(1 + (documents - count + 0.5) / (count + 0.5)) if documents else 1.0


def parse(
    session: Session,
    raw: str,
    *,
    brand_id: int,
    language: str | None = None,
    prefix: bool = False,
    fix_typos: bool = True,
) -> ParsedQuery:
    clipped = text.clip_query(raw)
    lang = language if language in text.LANGUAGES else text.guess_language(clipped)
    assert lang is not None
    words = text.content_words(clipped, lang)
    # "come?" or "il" alone: all stop words; search them rather than nothing.
    if not words:
        words = [w for w in text.words(clipped) if len(w) > 2]
    seen: set[str] = set()
    unique: list[str] = []
    for word in words:
        if word not in seen:
            seen.add(word)
            unique.append(word)
    unique = unique[: text.MAX_QUERY_TERMS]
    vocab = vocabulary(session, lang)
    synonyms = synonym_map(session, brand_id, lang)
    short = len(unique) <= SHORT_QUERY_WORDS
    groups: list[Group] = []
    for index, word in enumerate(unique):
        stem = text.stem(word, lang)
        group = Group(word)
        group.add(Alternative((stem,)))
        is_last = index == len(unique) - 1
        if prefix and is_last and len(word) >= 3 and not raw.endswith(" "):
            group.add(Alternative((word,), prefix=True))
            if stem != word:
                group.add(Alternative((stem,), prefix=True))
            # "pagam" is on its way to "pagamento", indexed as the stem "pag"
            for cut in range(len(word) - 1, 2, -1):
                if vocab.doc_count.get(word[:cut], 0) > 0:
                    group.add(Alternative((word[:cut],), factor=SYNONYM_FACTOR))
                    break
        known = vocab.doc_count.get(stem, 0) > 0
        if not known and fix_typos and short and not (prefix and is_last):
            fixed = correct(stem, vocab)
            if fixed is not None:
                group.corrected = fixed
                group.add(Alternative((fixed,), factor=SYNONYM_FACTOR))
        for base in [stem, group.corrected]:
            for entry in synonyms.get(base or "", []):
                group.add(Alternative(entry, factor=SYNONYM_FACTOR))
        counts = [
            vocab.doc_count.get(a.stems[0], 0)
            for a in group.alternatives
            if len(a.stems) == 1 and not a.prefix
        ]
        best = max(counts) if counts else 0
        group.weight = idf(best, vocab.documents) if best else idf(0, max(vocab.documents, 1))
        groups.append(group)
    _phrase_synonyms(groups, synonyms, lang)
    return ParsedQuery(raw=clipped, language=lang, groups=groups)


def _phrase_synonyms(
    groups: list[Group], synonyms: dict[str, list[tuple[str, ...]]], language: str
) -> None:
    """A synonym entry of several words ("soldi indietro") found in the query adds a group."""
    stems = [text.stem(g.word, language) for g in groups]
    for key, entries in synonyms.items():
        phrase = key.split(" ")
        if len(phrase) < 2:
            continue
        n = len(phrase)
        if any(stems[i : i + n] == phrase for i in range(len(stems) - n + 1)):
            group = Group(key)
            for entry in entries:
                group.add(Alternative(entry))
            group.weight = max((g.weight for g in groups), default=1.0)
            groups.append(group)


CANDIDATE_BUDGET = 1500  # documents the engine may have to rank for one query


@dataclass
class MatchPlan:
    """Which documents the engine gathers (the ranking then scores every group):

    ``any_of`` groups match anywhere; when even the rarest word is very common, ``title_of``
    groups match in titles only and ``all_of`` groups must all match (an intersection)."""

    any_of: list[Group] = field(default_factory=list)
    title_of: list[Group] = field(default_factory=list)
    all_of: list[Group] = field(default_factory=list)
    # Over budget even so (words found in nearly every article): rank only the newest
    # CANDIDATE_BUDGET matches. Such a query cannot tell articles apart anyway.
    capped: bool = False
    documents: int = 0  # in the language's vocabulary


def group_df(group: Group, vocab: _Vocabulary) -> int:
    total = 0
    for alt in group.alternatives:
        if alt.prefix:
            total += (
                sum(
                    count
                    for term, count in vocab.doc_count.items()
                    if term.startswith(alt.stems[0])
                )
                if len(vocab.keys) < 50_000
                else vocab.documents
            )
        else:
            total += min(vocab.doc_count.get(s, 0) for s in alt.stems)
    return total


def match_plan(parsed: ParsedQuery, session: Session, budget: int | None = None) -> MatchPlan:
    """Bound the candidate set on large knowledge bases: rare words first, within a budget
    (CANDIDATE_BUDGET unless given)."""
    budget = budget or CANDIDATE_BUDGET
    vocab = vocabulary(session, parsed.language)
    if vocab.documents <= budget:
        return MatchPlan(any_of=list(parsed.groups))
    for group in parsed.groups:
        group.df = group_df(group, vocab)
    ranked = sorted(parsed.groups, key=lambda g: g.df)
    plan = MatchPlan(documents=vocab.documents)
    spent = 0
    for group in ranked:
        df = group.df
        if spent + df > budget:
            break
        plan.any_of.append(group)
        spent += df
    if not plan.any_of:
        plan.title_of = ranked[:3]
        if len(ranked) >= 2:
            plan.all_of = ranked[:2]
        plan.capped = True
    return plan


BM25_K1 = 1.2
BM25_B = 0.75
TITLE_BOOST = 3.0
AVG_TITLE_TERMS = 4.0
AVG_BODY_TERMS = 120.0


def bm25(parsed: ParsedQuery, title_terms: Sequence[str], body_terms: Sequence[str]) -> float:
    """BM25F over the title (boosted) and body terms of one candidate, with the vocabulary's
    document frequencies: the same score on SQLite and PostgreSQL (PostgreSQL's ts_rank has no
    IDF, so engines only gather candidates; this ranks them)."""
    # list.count per query stem (a few) is several times faster than a Counter of every term
    title_norm = 1 - BM25_B + BM25_B * len(title_terms) / AVG_TITLE_TERMS
    body_norm = 1 - BM25_B + BM25_B * len(body_terms) / AVG_BODY_TERMS
    score = 0.0
    for group in parsed.groups:
        tf = 0.0
        for alt in group.alternatives:
            factor = alt.factor
            if len(alt.stems) == 1 and not alt.prefix:
                stem = alt.stems[0]
                t, b = title_terms.count(stem), body_terms.count(stem)
            elif alt.prefix:
                stem = alt.stems[0]
                t = sum(1 for k in title_terms if k.startswith(stem))
                b = sum(1 for k in body_terms if k.startswith(stem))
            else:
                t = _phrase_count(title_terms, alt.stems)
                b = _phrase_count(body_terms, alt.stems)
            tf += factor * (TITLE_BOOST * t / title_norm + b / body_norm)
        if tf:
            score += group.weight * tf * (BM25_K1 + 1) / (tf + BM25_K1)
    return score


def _phrase_count(terms: Sequence[str], phrase: tuple[str, ...]) -> int:
    n = len(phrase)
    first = phrase[0]
    return sum(
        1 for i, term in enumerate(terms) if term == first and tuple(terms[i : i + n]) == phrase
    )


def coverage(
    parsed: ParsedQuery, document_terms: Iterable[str], title_terms: Iterable[str]
) -> float:
    """How much of the query (weighted by rarity) a document covers, 0..1; a title match counts
    more. The bot's confidence, the same on every engine."""
    doc = set(document_terms)
    title = set(title_terms)
    total = 0.0
    got = 0.0
    for group in parsed.groups:
        total += group.weight
        stems = group.stems
        phrases = [a.stems for a in group.alternatives if len(a.stems) > 1]
        hit_title = bool(stems & title) or any(set(p) <= title for p in phrases)
        hit_doc = hit_title or bool(stems & doc) or any(set(p) <= doc for p in phrases)
        if hit_title:
            got += group.weight
        elif hit_doc:
            got += group.weight * 0.8
    return got / total if total else 0.0
