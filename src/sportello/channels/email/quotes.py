"""Split a plain-text email body into the new reply and the folded history.

The function works on plain text only (HTML bodies are converted first, with
``<blockquote>`` turned into ``>``-prefixed lines, see ``parsing.html_to_text``).

Why not a library: ``mail-parser-reply`` (the best-kept candidate on PyPI, MIT)
strips the indentation of every line, treats hyphen lists as signatures by
default, has no Italian mobile signatures ("Scarica Outlook per Android",
"Inviato dal mio dispositivo Android"), ships no type information and returns
fragments rather than an exact visible/folded split. ``email_reply_parser`` is
English only and unmaintained since 2020. The rules below are small, explicit
and tested against the corpus.
"""

from __future__ import annotations

import re

__all__ = ["split_reply"]

# "wrote:" style attributions (Gmail, Apple Mail, Thunderbird, many webmails).
_WROTE_END = re.compile(
    r"(?:wrote|ha scritto|scrisse|a écrit|schrieb|escribió|escreveu)\s*:\s*$",
    re.IGNORECASE,
)
_WROTE_START = re.compile(
    r"^(?:On|Il|Le|Am|El|Em|Op|Den|W dniu)\s",
)
# Outlook style separators.
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Messaggio originale|Messaggio Originale|"
    r"Mensaje original|Message d'origine|Ursprüngliche Nachricht|Oorspronkelijk bericht)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{3,}\s*(?:Forwarded message|Messaggio inoltrato|Message transféré|"
    r"Weitergeleitete Nachricht|Mensaje reenviado)\s*-{3,}|"
    r"(?:Begin forwarded message|Inizio messaggio inoltrato|Messaggio inoltrato)\s*:)\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_FROM_KEY = re.compile(r"^\s*\**\s*(?:From|Da|De|Von|Van)\s*:\**\s*\S", re.IGNORECASE)
_OTHER_KEY = re.compile(
    r"^\s*\**\s*(?:Sent|Date|To|Cc|Subject|Inviato|Data|A|Oggetto|Enviado|Para|Asunto|"
    r"Envoyé|Objet|Gesendet|An|Betreff)\s*:",
    re.IGNORECASE,
)
# Signature delimiters and mobile client signatures (whole line).
_SIG_DELIMITER = re.compile(r"^--[ \t]?$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:"
    r"Inviato da (?:il mio |un )?(?:iPhone|iPad|iPod|Samsung|Android|smartphone|dispositivo|"
    r"Outlook|Posta per Windows|Mail per Windows|Libero Mail|Yahoo|Gmail|BlackBerry|Huawei|"
    r"Xiaomi|Tiscali|Virgilio)[^\n]{0,60}"
    r"|Inviato dal mio [^\n]{1,60}"
    r"|Sent from my [^\n]{1,60}"
    r"|Sent from (?:Outlook|Mail|Yahoo Mail|Gmail|Samsung|iPhone|iPad|Proton Mail)[^\n]{0,60}"
    r"|Sent via [^\n]{1,40} (?:app|mobile)[^\n]{0,30}"
    r"|Get Outlook for (?:Android|iOS|iPhone)[^\n]{0,60}"
    r"|(?:Scarica|Ottieni) Outlook per (?:Android|iOS|iPhone)[^\n]{0,60}"
    r")\s*$",
    re.IGNORECASE,
)
# A date, a time or an address: what real attributions carry and prose rarely does.
_ATTRIBUTION_DETAIL = re.compile(r"\d{1,2}[:.]\d{2}|\d{4}|@")
_MAX_ATTRIBUTION_LINES = 3


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _next_nonblank(lines: list[str], start: int) -> int:
    i = start
    while i < len(lines) and _is_blank(lines[i]):
        i += 1
    return i


def _attribution_at(lines: list[str], i: int) -> int:
    """Return the number of lines of a "... wrote:" attribution starting at ``i`` (0 if none)."""
    first = lines[i].strip()
    if not first or first.startswith(">"):
        return 0
    for span in range(1, _MAX_ATTRIBUTION_LINES + 1):
        end = i + span - 1
        if end >= len(lines) or _is_blank(lines[end]) or _is_quoted(lines[end]):
            return 0
        if len(lines[end]) > 300:
            return 0
        joined = " ".join(line.strip() for line in lines[i : end + 1])
        if _WROTE_END.search(joined):
            following = _next_nonblank(lines, end + 1)
            quoted_next = following < len(lines) and _is_quoted(lines[following])
            if _WROTE_START.match(first) and (quoted_next or _ATTRIBUTION_DETAIL.search(joined)):
                return span
            # No known opening word: accept only a single line directly followed by a quote.
            return 1 if span == 1 and quoted_next else 0
    return 0


def _header_block_at(lines: list[str], i: int) -> int:
    """Return the length of an Outlook "From:/Sent:" block starting at ``i`` (0 if none)."""
    if not _FROM_KEY.match(lines[i]):
        return 0
    j = i + 1
    keys = 1
    while j < len(lines) and j <= i + 6 and _OTHER_KEY.match(lines[j]):
        keys += 1
        j += 1
    return j - i if keys >= 2 else 0


def _forward_index(lines: list[str]) -> int:
    """Index of the first "forwarded message" marker, or len(lines)."""
    for i, line in enumerate(lines):
        if _FORWARD_MARKER.match(line):
            return i
    return len(lines)


def _find_history(lines: list[str], start: int) -> tuple[int, int] | None:
    """Find the first quoted-history marker at or after ``start`` and before any
    forwarded message (forwarded content stays visible).

    Returns (index, number of marker lines) or None.
    """
    for i in range(start, _forward_index(lines)):
        line = lines[i]
        if _ORIGINAL_MESSAGE.match(line):
            return i, 1
        if _UNDERSCORES.match(line):
            nxt = _next_nonblank(lines, i + 1)
            if nxt < len(lines) and _header_block_at(lines, nxt):
                return i, nxt - i + _header_block_at(lines, nxt)
            continue
        block = _header_block_at(lines, i)
        if block:
            return i, block
        span = _attribution_at(lines, i)
        if span:
            return i, span
    return None


def _quote_block_end(lines: list[str], start: int) -> int:
    """Index just past the ``>``-quoted block that starts at or after ``start`` (blank lines ok)."""
    i = _next_nonblank(lines, start)
    if i >= len(lines) or not _is_quoted(lines[i]):
        return start
    end = i
    while i < len(lines) and (_is_quoted(lines[i]) or _is_blank(lines[i])):
        if _is_quoted(lines[i]):
            end = i + 1
        i += 1
    return end


def split_reply(text: str) -> tuple[str, str]:
    """Split ``text`` into (visible, folded).

    ``visible`` is the newly written part of the message. ``folded`` is the quoted
    history plus the signature, in their original order. When nothing sensible
    would be left visible (e.g. a message that is only a forward), the whole text
    stays visible and ``folded`` is empty.
    """
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    original = normalised.split("\n")
    keep = list(range(len(original)))  # original indices of the still-visible lines

    def current() -> list[str]:
        return [original[k] for k in keep]

    def fold(first: int, end: int) -> None:
        del keep[first:end]

    # 1. Quoted history introduced by an attribution or an Outlook header block.
    start = 0
    for _ in range(50):  # bounded; every round folds at least one line
        lines = current()
        found = _find_history(lines, start)
        if found is None:
            break
        index, marker_len = found
        quote_end = _quote_block_end(lines, index + marker_len)
        after = _next_nonblank(lines, quote_end)
        bottom_posted = (
            quote_end > index + marker_len
            and after < len(lines)
            and not _is_quoted(lines[after])
            and (_find_history(lines, after) or (-1, 0))[0] != after
        )
        if bottom_posted:
            # Attribution + quote followed by new text: fold only that block.
            fold(index, quote_end)
            start = index
            continue
        fold(index, len(lines))
        break

    # 2. Signature: "-- " delimiter or a mobile client signature line.
    lines = current()
    forward = _forward_index(lines)
    for i, line in enumerate(lines[:forward]):
        if _SIG_DELIMITER.match(line) or _MOBILE_SIGNATURE.match(line):
            fold(i, len(lines))
            break

    # 3. A trailing ">" block (quote without attribution), unless inside a forward.
    lines = current()
    end = len(lines)
    while end > 0 and (_is_blank(lines[end - 1]) or _is_quoted(lines[end - 1])):
        end -= 1
    if _forward_index(lines) == len(lines) and any(_is_quoted(line) for line in lines[end:]):
        fold(end, len(lines))

    # 4. A leading ">" block followed by new text (bottom posting without attribution).
    lines = current()
    lead_end = _quote_block_end(lines, 0)
    if lead_end > 0 and _next_nonblank(lines, lead_end) < len(lines):
        fold(0, lead_end)

    visible = "\n".join(current()).strip()
    if not visible:
        return normalised.strip(), ""
    kept = set(keep)
    folded_lines = [line for k, line in enumerate(original) if k not in kept]
    return visible, "\n".join(folded_lines).strip()
