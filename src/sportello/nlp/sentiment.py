"""Sentiment of one message: negative / neutral / positive with a score in [-1, 1].

English goes to VADER (``vaderSentiment``: a lexicon and rules built for short informal text,
MIT licence, the lexicon ships in the wheel). Italian uses the same method on our own lexicon
(``lexicon_it``): word-start matches, phrases, negation of the next three words, boosters,
"ma/però" contrast, exclamation marks, capitals and emoji, normalised as VADER's compound
(``x / sqrt(x² + 15)``). Both run in well under a millisecond per message on one core.

The thresholds that turn a score into a label are the shop's (``Thresholds``): the defaults
are VADER's (±0.05 is too eager for customer mail, so ±0.2), and ``calibrate`` moves them from
the shop's CSAT answers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sportello.nlp.lexicon_it import BOOSTERS, CONTRASTS, LEXICON, NEGATIONS

NEGATIVE = "negative"
NEUTRAL = "neutral"
POSITIVE = "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_EMOJI = {
    "😀": 2.0,
    "😃": 2.0,
    "😄": 2.0,
    "😊": 2.0,
    "🙂": 1.0,
    "😍": 3.0,
    "👍": 1.6,
    "❤": 2.4,
    "🙏": 1.2,
    "👏": 2.0,
    "🎉": 2.0,
    "😡": -3.0,
    "😠": -2.6,
    "🤬": -3.4,
    "😤": -2.4,
    "😞": -2.0,
    "😢": -2.2,
    "😭": -2.6,
    "👎": -2.0,
    "🙁": -1.6,
    "☹": -1.8,
    "😒": -1.8,
    "🤦": -2.0,
    ":)": 1.6,
    ":-)": 1.6,
    ":(": -1.6,
    ":-(": -1.6,
    ":D": 2.0,
}


@dataclass(frozen=True)
class Thresholds:
    negative: float = -0.2  # a score at or below is negative
    positive: float = 0.2  # at or above is positive

    def label(self, score: float) -> str:
        if score <= self.negative:
            return NEGATIVE
        if score >= self.positive:
            return POSITIVE
        return NEUTRAL


DEFAULT = Thresholds()


@dataclass(frozen=True)
class Sentiment:
    label: str
    score: float
    language: str

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(self.score, 4), "language": self.language}


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace("’", "'").lower()


# Prefix index: first three letters -> (prefix, valence, whole word?), longest first.
_INDEX: dict[str, list[tuple[str, float, bool]]] = {}
_PHRASES: list[tuple[re.Pattern[str], float, int]] = []
for _key, _val in LEXICON.items():
    if " " in _key:
        _PHRASES.append((re.compile(r"\b" + re.escape(_key) + r"\b"), _val, _key.count(" ") + 1))
        continue
    _whole = _key.endswith("$")
    _stem = _key.rstrip("$")
    _INDEX.setdefault(_stem[:3], []).append((_stem, _val, _whole))
for _entries in _INDEX.values():
    _entries.sort(key=lambda e: -len(e[0]))


def _valence(word: str) -> float:
    for stem, value, whole in _INDEX.get(word[:3], ()):
        if (word == stem) if whole else word.startswith(stem):
            return value
    return 0.0


def _normalize(total: float, alpha: float = 15.0) -> float:
    return max(-1.0, min(1.0, total / math.sqrt(total * total + alpha)))


def _score_italian(text: str) -> float:
    low = _fold(text)
    words = _WORD.findall(low)
    used = [False] * len(words)
    values: list[float] = []
    # Phrases first ("non risponde", "presi in giro"): their words are not scored again.
    if _PHRASES:
        joined = " ".join(words)
        for pattern, value, _length in _PHRASES:
            for match in pattern.finditer(joined):
                start = joined.count(" ", 0, match.start())
                end = start + match.group(0).count(" ") + 1
                if not any(used[start:end]):
                    for i in range(start, end):
                        used[i] = True
                    values.append(value)
    contrast_at = -1
    for i, word in enumerate(words):
        if word in CONTRASTS:
            contrast_at = len(values)
        if used[i]:
            continue
        value = _valence(word)
        if not value:
            continue
        scale = 1.0
        for back in range(1, 4):
            j = i - back
            if j < 0:
                break
            prev = words[j]
            if prev in NEGATIONS:
                scale *= -0.74
                break
            boost = BOOSTERS.get(prev)
            if boost:
                scale *= 1 + boost
        values.append(value * scale)
    if contrast_at >= 0:
        values = [v * 0.5 for v in values[:contrast_at]] + [v * 1.5 for v in values[contrast_at:]]
    total = sum(values)
    for emoji, value in _EMOJI.items():
        if emoji in text:
            total += value * text.count(emoji)
    if total:
        bangs = min(text.count("!"), 4)
        total += math.copysign(0.292 * bangs, total)
        upper = sum(1 for c in text if c.isupper())
        if upper >= 8 and upper / max(1, sum(1 for c in text if c.isalpha())) > 0.7:
            total *= 1.3
        if "?" in text and total < 0 and text.count("?") > 1:
            total -= 0.18 * min(text.count("?"), 3)
    return _normalize(total)


def _score_english(text: str) -> float:
    return float(_vader().polarity_scores(text)["compound"])


def score(text: str, language: str) -> float:
    """The compound score of one text in [-1, 1] (0 for nothing sentimental)."""
    if not text.strip():
        return 0.0
    if language == "it":
        return _score_italian(text)
    if language == "en":
        return _score_english(text)
    # Any other language: the better-informed of the two (a word of ours or VADER's).
    it, en = _score_italian(text), _score_english(text)
    return it if abs(it) >= abs(en) else en


def analyse(text: str, language: str, thresholds: Thresholds = DEFAULT) -> Sentiment:
    value = score(text, language)
    return Sentiment(label=thresholds.label(value), score=value, language=language)


def analyse_many(
    texts: Iterable[str], languages: Sequence[str], thresholds: Thresholds = DEFAULT
) -> list[Sentiment]:
    return [analyse(t, lang, thresholds) for t, lang in zip(texts, languages, strict=True)]


def conversation_score(scores: Sequence[float]) -> float:
    """A conversation's mood: the customer's recent messages weigh more (each earlier one
    half as much), so a customer who calmed down reads calmer, and one who just lost patience
    reads angry at once."""
    if not scores:
        return 0.0
    weights = [0.5 ** (len(scores) - 1 - i) for i in range(len(scores))]
    return sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)


def calibrate(pairs: Sequence[tuple[float, int]], *, minimum: int = 20) -> Thresholds | None:
    """Thresholds fitted to the shop's own CSAT: ``pairs`` are (conversation score, CSAT 1-5).

    A CSAT of 1-2 says the customer was unhappy, 4-5 happy, 3 neither. The negative threshold
    is the score cut that best separates unhappy from the rest (Youden's J on the customers'
    own answers), the positive one likewise for happy. ``None`` until ``minimum`` answers."""
    if len(pairs) < minimum:
        return None

    def best_cut(positive_class: Sequence[bool], scores: Sequence[float], below: bool) -> float:
        candidates = sorted(set(round(s, 2) for s in scores))
        total_pos = sum(positive_class) or 1
        total_neg = (len(positive_class) - sum(positive_class)) or 1
        best, best_j = None, -1.0
        for cut in candidates:
            hits = [(s <= cut) if below else (s >= cut) for s in scores]
            tp = sum(1 for h, p in zip(hits, positive_class, strict=True) if h and p)
            fp = sum(1 for h, p in zip(hits, positive_class, strict=True) if h and not p)
            j = tp / total_pos - fp / total_neg
            if j > best_j:
                best, best_j = cut, j
        return best if best is not None else 0.0

    scores = [s for s, _ in pairs]
    negative = best_cut([c <= 2 for _, c in pairs], scores, below=True)
    positive = best_cut([c >= 4 for _, c in pairs], scores, below=False)
    negative = max(-0.9, min(-0.02, negative))
    positive = min(0.9, max(0.02, positive))
    return Thresholds(negative=round(negative, 3), positive=round(positive, 3))
