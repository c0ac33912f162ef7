"""Text for search: accent folding, tokens, stop words and Snowball stemming (Italian, English).

Both engines index the *same* terms: the Snowball stemmers (the algorithms of PostgreSQL's
``italian``/``english`` configurations) run here, in Python, after accent folding, so SQLite FTS5
and PostgreSQL see identical stems and a query behaves the same on both.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

LANGUAGES = ("it", "en")
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 24
MAX_TOKEN_CHARS = 40

IT_STOP = frozenset(
    [
        "a",
        "ad",
        "al",
        "allo",
        "ai",
        "agli",
        "all",
        "alla",
        "alle",
        "con",
        "col",
        "coi",
        "da",
        "dal",
        "dallo",
        "dai",
        "dagli",
        "dall",
        "dalla",
        "dalle",
        "di",
        "d",
        "del",
        "dello",
        "dei",
        "degli",
        "dell",
        "della",
        "delle",
        "in",
        "nel",
        "nello",
        "nei",
        "negli",
        "nell",
        "nella",
        "nelle",
        "su",
        "sul",
        "sullo",
        "sui",
        "sugli",
        "sull",
        "sulla",
        "sulle",
        "per",
        "tra",
        "fra",
        "il",
        "lo",
        "la",
        "i",
        "gli",
        "l",
        "le",
        "un",
        "uno",
        "una",
        "un",
        "e",
        "ed",
        "o",
        "od",
        "ma",
        "che",
        "chi",
        "cui",
        "non",
        "come",
        "dove",
        "quando",
        "perche",
        "se",
        "mi",
        "ti",
        "si",
        "ci",
        "vi",
        "ne",
        "me",
        "te",
        "lui",
        "lei",
        "noi",
        "voi",
        "loro",
        "mio",
        "mia",
        "miei",
        "mie",
        "tuo",
        "tua",
        "tuoi",
        "tue",
        "suo",
        "sua",
        "suoi",
        "sue",
        "nostro",
        "nostra",
        "nostri",
        "nostre",
        "vostro",
        "vostra",
        "questo",
        "questa",
        "questi",
        "queste",
        "quello",
        "quella",
        "quelli",
        "quelle",
        "sono",
        "sei",
        "siamo",
        "siete",
        "era",
        "ero",
        "erano",
        "sara",
        "ho",
        "hai",
        "ha",
        "abbiamo",
        "avete",
        "hanno",
        "avevo",
        "aveva",
        "avere",
        "essere",
        "fare",
        "fa",
        "faccio",
        "fatto",
        "posso",
        "puoi",
        "puo",
        "possiamo",
        "possono",
        "potrei",
        "potete",
        "devo",
        "deve",
        "devono",
        "dovrei",
        "voglio",
        "vuoi",
        "vorrei",
        "vorremmo",
        "anche",
        "gia",
        "piu",
        "molto",
        "poco",
        "cosa",
        "quale",
        "quali",
        "quanto",
        "quanta",
        "quanti",
        "quante",
        "qual",
        "sto",
        "sta",
        "stai",
        "stato",
        "stata",
        "c",
        "ecc",
        "buongiorno",
        "buonasera",
        "salve",
        "ciao",
        "grazie",
        "gentile",
        "gentili",
        "cortesemente",
        "favore",
        "prego",
        "ok",
        "allora",
        "quindi",
        "pero",
        "invece",
        "ancora",
        "solo",
        "sempre",
        "mai",
        "qui",
        "li",
        "la",
        "ogni",
        "tutto",
        "tutti",
        "tutta",
        "tutte",
        "altro",
        "altra",
        "altri",
        "nessun",
        "nessuno",
        "niente",
        "qualcosa",
        "qualche",
        "dopo",
        "prima",
        "adesso",
        "ora",
        "oggi",
        "ieri",
        "domani",
        "bene",
        "male",
        "si",
        "no",
        "sapere",
        "sapete",
        "sa",
        "so",
        "dire",
        "dite",
        "detto",
        "mai",
        "vostri",
        "vostre",
    ]
)
EN_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "it",
        "its",
        "they",
        "them",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "would",
        "could",
        "shall",
        "may",
        "might",
        "must",
        "hello",
        "hi",
        "thanks",
        "thank",
        "please",
        "dear",
        "get",
        "got",
        "want",
        "need",
        "like",
    ]
)
STOP = {"it": IT_STOP, "en": EN_STOP}

_TOKEN = re.compile(r"[a-z0-9]+")
_STEMMERS = {"it": "italian", "en": "english"}


def fold(text: str) -> str:
    """Lower-case, strip accents (è→e, ß→ss), keep letters and digits apart from the rest."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str, *, limit: int | None = None) -> list[str]:
    """Folded word tokens (apostrophes split: "l'ordine" → "l", "ordine")."""
    found = _TOKEN.findall(fold(text))
    out = [w[:MAX_TOKEN_CHARS] for w in found]
    return out[:limit] if limit is not None else out


@lru_cache(maxsize=4)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(_STEMMERS.get(language, "italian"))


@lru_cache(maxsize=200_000)
def stem(word: str, language: str = "it") -> str:
    if word.isdigit():
        return word
    return str(_stemmer(language).stemWord(word))


def content_words(text: str, language: str = "it", *, limit: int | None = None) -> list[str]:
    stop = STOP.get(language, IT_STOP)
    found = [w for w in words(text) if w not in stop and (len(w) > 1 or w.isdigit())]
    return found[:limit] if limit is not None else found


def terms(text: str, language: str = "it") -> list[str]:
    """Stems of the content words, in order (what the index stores)."""
    return [stem(w, language) for w in content_words(text, language)]


def index_text(text: str, language: str = "it") -> str:
    return " ".join(terms(text, language))


def guess_language(text: str, default: str = "it") -> str:
    """Italian or English, by counting stop words (enough for short customer messages)."""
    tokens = words(text, limit=200)
    it = sum(1 for w in tokens if w in IT_STOP)
    en = sum(1 for w in tokens if w in EN_STOP)
    if en > it:
        return "en"
    if it > en:
        return "it"
    return default


def slugify(text: str, max_length: int = 80) -> str:
    slug = "-".join(words(text))[:max_length].strip("-")
    return slug or "articolo"


def clip_query(text: str) -> str:
    """Bound the work any input can cause: length and control characters."""
    return "".join(ch if ch.isprintable() else " " for ch in text[:MAX_QUERY_CHARS])
