"""Language of a text, offline: ``py3langid`` (langid.py's model, shipped in the wheel, BSD).

The candidate set is the languages a shop in Italy meets most; a text too short to tell (or
that the model does not favour clearly) gives ``fallback``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

CANDIDATES = ("it", "en", "fr", "de", "es", "pt", "nl", "ro")
MIN_CONFIDENCE = 0.6


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(CANDIDATES))
    return identifier


def detect(text: str, *, fallback: str = "it") -> tuple[str, float]:
    """(language code, probability); ``fallback`` with 0.0 when the text says too little."""
    letters = sum(c.isalpha() for c in text[:40])
    if letters < 3:
        return fallback, 0.0
    language, probability = _identifier().classify(text)
    probability = float(probability)
    if probability < MIN_CONFIDENCE:
        return fallback, probability
    return str(language), probability
