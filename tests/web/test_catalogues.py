"""The catalogues: every user-facing string has its Italian, and English lists them all."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "sportello" / "locale"


def extracted() -> set[str]:
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def catalogue(language: str):  # type: ignore[no-untyped-def]
    with open(LOCALE / language / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=language)


def test_italian_translates_every_string_and_english_lists_them():
    wanted = extracted()
    assert "Log in" in wanted and "Internal note" in wanted
    for language in ("it", "en"):
        cat = catalogue(language)
        present = {m.id[0] if isinstance(m.id, tuple) else m.id for m in cat if m.id}
        missing = sorted(wanted - present)
        assert not missing, f"{language}: run the extraction and update the catalogue: {missing}"
    untranslated = [
        m.id
        for m in catalogue("it")
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert not untranslated, untranslated
    fuzzy = [m.id for m in catalogue("it") if m.id and m.fuzzy]
    assert not fuzzy, fuzzy
