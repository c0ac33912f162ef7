"""Translations: Babel catalogues (locale/<lang>/LC_MESSAGES/messages.po), Italian first.

Catalogues are compiled in memory from the .po files at first use, so there is no build step.
Source strings are English; ``it`` must translate every one (a test checks it).
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("it", "en")
DEFAULT_LANGUAGE = "it"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(message: str, **variables: Any) -> str:
    text = translations(current_language.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(current_language.get()).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


def lazy(message: str) -> str:
    """Marks a string for extraction; translate it later with gettext()."""
    return message


def pick_language(accept_language: str | None, preferred: str | None = None) -> str:
    if preferred in LANGUAGES:
        return preferred
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def format_dt(value: datetime | None, tz: str, fmt: str = "short") -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(ZoneInfo(tz)), fmt, locale=current_language.get())


def format_relative(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    return format_timedelta(
        value - now, add_direction=True, threshold=1.1, locale=current_language.get()
    )


def locale_name(language: str) -> str:
    return Locale.parse(language).get_display_name(language) or language
