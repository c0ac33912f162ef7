"""Pure parsing of raw RFC 5322 / MIME messages into ``ParsedEmail``.

No I/O happens here. The stdlib ``email`` package (``policy.default``) builds the
MIME tree; header values are then read from the raw source and decoded by our
own tolerant routines, so malformed headers never raise. Bodies are decoded
with a charset fallback chain and never raise either: problems end up in
``ParsedEmail.parse_warnings``.

Large base64 bodies are cut out of the raw bytes before the stdlib parser sees
them and decoded straight from the original buffer, which keeps peak memory
close to the decoded size instead of several copies of the encoded text.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import io
import mimetypes
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import nh3

from sportello.channels.email.quotes import split_reply

__all__ = [
    "BounceInfo",
    "EmailAddress",
    "EmailParseError",
    "ParsedAttachment",
    "ParsedEmail",
    "PecReceipt",
    "decode_bytes",
    "decode_header_value",
    "extract_conversation_number",
    "html_to_text",
    "normalise_message_id",
    "parse_message",
    "sanitise_html",
]


class EmailParseError(ValueError):
    """Raised only when the input is not an email message at all."""


@dataclass(frozen=True, slots=True)
class EmailAddress:
    name: str
    address: str  # local part as sent, domain lowercased


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None  # without angle brackets, as used in "cid:" URLs
    inline: bool


@dataclass(frozen=True, slots=True)
class BounceInfo:
    original_message_id: str | None
    recipient: str | None
    status: str | None
    action: str | None
    diagnostic: str | None
    permanent: bool


@dataclass(frozen=True, slots=True)
class PecReceipt:
    kind: str
    original_message_id: str | None
    delivered: bool | None


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """One parsed message.

    ``is_auto_reply`` is true for auto-reply headers/subjects and also for bounces,
    PEC receipts and read receipts (MDN): nothing that should get an automatic answer.
    For a PEC "posta-certificata" envelope every field describes the wrapped
    ``postacert.eml`` (the customer's message); ``daticert.xml`` is appended to its
    attachments.
    """

    message_id: str
    in_reply_to: list[str]
    references: list[str]
    subject: str
    sender: EmailAddress | None
    reply_to: list[EmailAddress]
    to: list[EmailAddress]
    cc: list[EmailAddress]
    date: datetime | None
    text: str
    html: str | None
    visible_text: str
    attachments: list[ParsedAttachment]
    is_auto_reply: bool
    is_list: bool
    bounce: BounceInfo | None
    pec: PecReceipt | None
    conversation_number: int | None
    parse_warnings: list[str]


# --------------------------------------------------------------------------- charsets

# Labels that mail clients use but Python does not know, or where a superset is safer.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",  # WHATWG: latin-1 labels mean windows-1252 in practice
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "utf8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "default": "",
    "x-user-defined": "",
    "utf-7": "",  # never trust utf-7 (used for XSS); falls back to detection
}
_LATIN_SINGLE_BYTE = {"cp1252", "ascii", "latin-1", "iso8859-15", "iso8859-1"}
_ACCEPTABLE_LATIN_PUNCT = set("“”‘’–—€…«»°·•™®©§ª ¡¿´¨¸")


def _lookup_codec(label: str | None) -> str | None:
    """Map a declared charset label to a Python codec name, or None if unknown/empty."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    if not cleaned:
        return None
    if cleaned in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[cleaned] or None
    if not cleaned.isascii() or len(cleaned) > 64:
        return None
    try:
        return codecs.lookup(cleaned).name
    except (LookupError, ValueError):
        return None


def _cp1252_plausible(data: bytes) -> bool:
    """True when ``data`` reads like Western European text in windows-1252."""
    try:
        decoded = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    letters = 0
    non_ascii_letters = 0
    for ch in decoded:
        if ch.isalpha():
            letters += 1
            if ord(ch) > 127:
                if not ("\u00c0" <= ch <= "\u017f"):
                    return False
                non_ascii_letters += 1
        elif (
            ord(ch) > 127
            and ch not in _ACCEPTABLE_LATIN_PUNCT
            and not ch.isspace()
            and unicodedata.category(ch)[0] not in "NPS"
        ):
            return False
    # Cyrillic/Greek text decoded as cp1252 is almost entirely non-ASCII letters.
    return letters == 0 or non_ascii_letters * 10 <= letters * 4


_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_MIXED_ERRORS = "sportello-utf8-cp1252"


def _cp1252_for_invalid(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", errors="replace").replace("\ufffd", "") or bad.decode(
        "latin-1"
    ), error.end


codecs.register_error(_MIXED_ERRORS, _cp1252_for_invalid)


def _detect(data: bytes) -> str | None:
    from charset_normalizer import from_bytes  # imported lazily: slow import, rare path

    best = from_bytes(data[:200_000]).best()
    return best.encoding if best is not None else None


def decode_bytes(data: bytes, declared: str | None, warnings: list[str], what: str) -> str:
    """Decode ``data`` trying: declared, utf-8, cp1252 (when plausible), detection,
    cp1252, latin-1. Never raises; records a warning for every fallback."""
    if not data:
        return ""
    codec = _lookup_codec(declared)
    if declared:
        declared = declared.strip().encode("ascii", "backslashreplace").decode("ascii")[:64]
    if declared and codec is None and declared.lower() not in _CHARSET_ALIASES:
        unknown = f"unknown charset {declared}"
    else:
        unknown = ""
    if codec is not None:
        # A latin-1/windows-1252 declaration over valid multi-byte UTF-8 is a common lie.
        if codec in _LATIN_SINGLE_BYTE and codec != "ascii" and not data.isascii():
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                warnings.append(f"{what}: declared {declared} but content is utf-8")
                return text
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    if data.isascii():
        return data.decode("ascii")
    label = "utf-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        label = ""
    if not label and _UTF8_MULTIBYTE.search(data):
        # Valid UTF-8 sequences next to stray bytes: mixed content (e.g. a UTF-8 quote
        # pasted into a cp1252 reply). Keep the UTF-8 and read the stray bytes as cp1252.
        label = "utf-8+cp1252"
        text = data.decode("utf-8", _MIXED_ERRORS)
    if not label and _cp1252_plausible(data):
        label = "cp1252"
        text = data.decode("cp1252")
    if not label:
        detected = _detect(data)
        if detected:
            try:
                text = data.decode(detected)
                label = detected
            except (UnicodeDecodeError, LookupError):
                label = ""
    if not label:
        try:
            text = data.decode("cp1252")
            label = "cp1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1", errors="replace")
            label = "latin-1"
    if unknown:
        warnings.append(f"{what}: {unknown}, decoded as {label}")
    elif declared and codec is not None:
        warnings.append(f"{what}: content is not valid {declared}, decoded as {label}")
    elif label != "utf-8":
        warnings.append(f"{what}: no charset declared, decoded as {label}")
    return text


def _str_to_bytes(value: str) -> bytes:
    """Recover raw bytes from a str produced by the bytes parser (surrogateescape)."""
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _fix_8bit(value: str, warnings: list[str], what: str) -> str:
    """Decode raw 8-bit bytes smuggled into a header value (utf-8, else cp1252)."""
    if value.isascii():
        return value
    return decode_bytes(_str_to_bytes(value), None, warnings, what)


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")


def _unfold(value: str) -> str:
    return _NEWLINES.sub(" ", _FOLD.sub("", value))


def _decode_b(text: str) -> bytes | None:
    data = re.sub(r"[^A-Za-z0-9+/]", "", text)
    data += "=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        try:
            return binascii.a2b_base64(data[: len(data) - len(data) % 4 - 4] or "")
        except binascii.Error:
            return None


def decode_header_value(value: str, warnings: list[str] | None = None, what: str = "header") -> str:
    """Decode an unfolded or folded raw header value with RFC 2047 encoded words.

    Tolerates encoded words split inside multi-byte characters, spaces inside
    encoded words, wrong or unknown charsets and raw 8-bit bytes.
    """
    sink: list[str] = [] if warnings is None else warnings
    value = _unfold(value)
    if "=?" not in value:
        return _fix_8bit(value, sink, what).strip()
    pieces: list[tuple[str, bytes | str]] = []  # (charset or "" for plain text, payload)
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        if gap and not (gap.isspace() and pieces and pieces[-1][0]):
            pieces.append(("", gap))
        charset = match.group(1).split("*", 1)[0].lower()
        encoding = match.group(2).upper()
        body = match.group(3)
        decoded: bytes | None
        if encoding == "B":
            decoded = _decode_b(body)
        else:
            decoded = binascii.a2b_qp(
                body.replace(" ", "_").encode("ascii", "replace"), header=True
            )
        if decoded is None:
            sink.append(f"{what}: undecodable encoded word")
            pieces.append(("", match.group(0)))
        elif pieces and pieces[-1][0] == charset and isinstance(pieces[-1][1], bytes):
            pieces[-1] = (charset, pieces[-1][1] + decoded)
        else:
            pieces.append((charset, decoded))
        pos = match.end()
    tail = value[pos:]
    if tail:
        pieces.append(("", tail))
    out: list[str] = []
    for charset, payload in pieces:
        if isinstance(payload, bytes):
            out.append(decode_bytes(payload, charset, sink, what))
        else:
            out.append(_fix_8bit(payload, sink, what))
    return "".join(out).strip()


_ADDRESS_FALLBACK = re.compile(
    r"[^\s<>@,;:\"'()\[\]]+@[^\s<>@,;:\"'()\[\]]+\.[^\s<>@,;:\"'()\[\]]+"
)


def _make_address(name: str, addr: str, warnings: list[str]) -> EmailAddress | None:
    addr = decode_header_value(addr, warnings, "address").strip().strip("<>").strip()
    if "@" not in addr or " " in addr:
        return None
    local, _, domain = addr.rpartition("@")
    if not local or not domain:
        return None
    display = decode_header_value(name, warnings, "address name").strip().strip("\"'").strip()
    return EmailAddress(name=display, address=f"{local}@{domain.lower()}")


def _parse_addresses(values: list[str], warnings: list[str]) -> list[EmailAddress]:
    result: list[EmailAddress] = []
    for raw in values:
        unfolded = _unfold(raw)
        found: list[EmailAddress] = []
        for name, addr in getaddresses([unfolded]):
            made = _make_address(name, addr, warnings)
            if made is not None:
                found.append(made)
        if not found:
            for addr in _ADDRESS_FALLBACK.findall(_fix_8bit(unfolded, warnings, "address")):
                made = _make_address("", addr, warnings)
                if made is not None:
                    found.append(made)
        result.extend(found)
    seen: set[str] = set()
    unique: list[EmailAddress] = []
    for item in result:
        key = item.address.lower()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


_MSGID_BRACKETED = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")
_SPACES = re.compile(r"\s+")


def normalise_message_id(value: str) -> str | None:
    """Return the first Message-ID in ``value`` as "<id>", or None if there is none."""
    if not value:
        return None
    text = _COMMENT.sub(" ", _unfold(value))
    match = _MSGID_BRACKETED.search(text)
    if match:
        inner = re.sub(r"\s+", "", match.group(1))
        return f"<{inner}>" if inner else None
    for token in text.split():
        token = token.strip("<>,;\"'")
        if token and "@" in token:
            return f"<{token}>"
    token = text.strip().strip("<>,;\"'")
    return f"<{token}>" if token and not any(c.isspace() for c in token) else None


def _message_id_list(values: list[str]) -> list[str]:
    ids: list[str] = []
    for raw in values:
        text = _COMMENT.sub(" ", _unfold(raw))
        found = [f"<{_SPACES.sub('', m)}>" for m in _MSGID_BRACKETED.findall(text) if m.strip()]
        if not found:
            found = [f"<{t.strip(',;')}>" for t in text.split() if "@" in t]
        for item in found:
            if item not in ids:
                ids.append(item)
    return ids


_CONVERSATION_TAG = re.compile(r"\[\s*#\s*(\d{1,18})\s*\]")


def extract_conversation_number(subject: str) -> int | None:
    """Return N from the first "[#N]" tag in a subject, wherever reply prefixes put it."""
    match = _CONVERSATION_TAG.search(subject)
    return int(match.group(1)) if match else None


def _parse_date(raw: str | None, warnings: list[str]) -> datetime | None:
    if raw is None:
        return None
    value = _COMMENT.sub(" ", _fix_8bit(_unfold(raw), warnings, "date")).strip()
    if not value:
        return None
    parsed: datetime | None = None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None or not (1970 <= parsed.year <= 2200):
        warnings.append(f"unparseable Date header: {value[:80]!r}")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------- HTML

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "caption", "center", "dd", "div"),
        *("dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "li", "main", "nav", "ol", "p", "pre"),
        *("section", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    }
)
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "dl"}
)
_SKIP_TAGS = frozenset(
    {"script", "style", "head", "title", "template", "noscript", "xml", "svg", "object"}
)
_WHITESPACE = re.compile(r"\s+")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.buf: list[str] = []
        self.depth = 0
        self.skip = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # per open list: [is_ordered, counter]
        self.href: str | None = None
        self.link_text: list[str] = []

    def flush(self) -> None:
        text = "".join(self.buf)
        self.buf.clear()
        text = text.rstrip() if self.pre else text.strip()
        if text:
            self.lines.append((self.depth, text))

    def blank(self) -> None:
        self.flush()
        if self.lines and self.lines[-1][1]:
            self.lines.append((self.depth, ""))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
            return
        if tag == "br":
            if self.buf:
                self.flush()
            else:
                self.lines.append((self.depth, ""))
            return
        if tag in _PARAGRAPH_TAGS:
            self.blank()
        elif tag in _BLOCK_TAGS:
            self.flush()
        if tag == "blockquote":
            self.depth += 1
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append([int(tag == "ol"), 0])
        elif tag == "li":
            if self.lists and self.lists[-1][0]:
                self.lists[-1][1] += 1
                self.buf.append(f"{self.lists[-1][1]}. ")
            else:
                self.buf.append("- ")
        elif tag in ("td", "th"):
            if self.buf and not self.buf[-1].endswith(" "):
                self.buf.append(" ")
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "a" and self.href:
            href = self.href.strip()
            shown = "".join(self.link_text).strip()
            if href.startswith(("http://", "https://")) and shown and href not in shown:
                self.buf.append(f" <{href}>")
            self.href = None
        if tag == "blockquote":
            self.flush()
            self.depth = max(0, self.depth - 1)
            if self.lines and not self.lines[-1][1]:
                self.lines[-1] = (self.depth, "")  # the gap after a quote is unquoted
            elif self.lines:
                self.lines.append((self.depth, ""))
        elif tag in _PARAGRAPH_TAGS:
            self.blank()
        elif tag in _BLOCK_TAGS:
            self.flush()
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self.flush()
                self.buf.append(part)
            return
        text = _WHITESPACE.sub(" ", data)
        if not self.buf and text.startswith(" "):
            text = text[1:]
        if text:
            self.buf.append(text)
            if self.href is not None:
                self.link_text.append(text)

    def result(self) -> str:
        self.flush()
        out: list[str] = []
        previous_blank = True
        for depth, text in self.lines:
            if not text:
                if previous_blank:
                    continue
                previous_blank = True
                out.append(">" * depth if depth else "")
                continue
            previous_blank = False
            out.append(f"{'>' * depth} {text}" if depth else text)
        while out and not out[-1].strip(">"):
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: blocks become lines, ``<blockquote>`` becomes
    ``>``-prefixed lines (so quote splitting works), links keep their URL."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is very tolerant
        return _WHITESPACE.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    return parser.result()


_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS) | {"font", "tfoot"},
    attributes={
        **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
        "*": {"style", "class", "dir", "lang", "title", "align", "valign", "width", "height"},
        "a": {"href", "hreflang", "title", "name"},
        "img": {"src", "alt", "width", "height", "align", "border"},
        "font": {"color", "face", "size"},
        "table": {"summary", "align", "border", "cellpadding", "cellspacing", "bgcolor", "width"},
        "td": {"rowspan", "colspan", "align", "valign", "bgcolor", "width", "height", "headers"},
        "th": {"rowspan", "colspan", "align", "valign", "bgcolor", "width", "height", "scope"},
        "tr": {"align", "valign", "bgcolor"},
    },
    url_schemes={"http", "https", "mailto", "tel", "cid"},
    filter_style_properties={
        "color",
        "background-color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "text-align",
        "text-decoration",
        "text-indent",
        "line-height",
        "margin",
        "margin-left",
        "margin-right",
        "margin-top",
        "margin-bottom",
        "padding",
        "padding-left",
        "padding-right",
        "padding-top",
        "padding-bottom",
        "border",
        "border-left",
        "border-right",
        "border-top",
        "border-bottom",
        "border-collapse",
        "width",
        "max-width",
        "height",
        "vertical-align",
        "white-space",
        "list-style-type",
        "direction",
        "display",
    },
    clean_content_tags={"script", "style", "title", "template", "iframe", "object", "embed"},
    link_rel="noopener noreferrer nofollow",
)


def sanitise_html(html: str) -> str:
    """Sanitise mail HTML with nh3: no scripts, handlers, forms or javascript: URLs;
    remote and ``cid:`` images are kept."""
    return _CLEANER.clean(html).strip()


# --------------------------------------------------------------------------- MIME walk

_SIGNATURE_TYPES = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
    }
)
_UU_BLOCK = re.compile(r"^begin [0-7]{3,4} ([^\r\n]+)\r?\n(.*?)^end[ \t]*$\r?\n?", re.M | re.S)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_FILENAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
_OFFLOAD_MIN_MESSAGE = 200_000
_OFFLOAD_MIN_RUN = 64 * 1024
_BASE64_RUN = re.compile(rb"^(?:[A-Za-z0-9+/=]+\r?\n)++", re.M)  # possessive: no backtrack stack
_MAX_DEPTH = 8


@dataclass(slots=True)
class _Collected:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)


@dataclass(slots=True)
class _Context:
    raw: bytes
    offloaded: dict[str, tuple[int, int]]
    warnings: list[str]
    delivery_status: list[list[tuple[str, str]]] = field(default_factory=list)
    returned_headers: list[Message] = field(default_factory=list)
    rfc822_parts: list[tuple[str, Message, bytes]] = field(default_factory=list)
    counter: int = 0


def _offload_large_base64(raw: bytes) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Replace long runs of base64 lines with short tokens; return new bytes and the map."""
    if len(raw) < _OFFLOAD_MIN_MESSAGE:
        return raw, {}
    nonce = secrets.token_hex(8)
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = []
    offloaded: dict[str, tuple[int, int]] = {}
    pos = 0
    for match in _BASE64_RUN.finditer(raw):
        start, end = match.span()
        if end - start < _OFFLOAD_MIN_RUN:
            continue
        token = f"SPORTELLOBLOB{nonce}N{len(offloaded)}"
        offloaded[token] = (start, end)
        pieces.append(view[pos:start])
        pieces.append(token.encode("ascii") + b"\n")
        pos = end
    if not offloaded:
        return raw, {}
    pieces.append(view[pos:])
    return b"".join(pieces), offloaded


def _restore(data: bytes, ctx: _Context) -> bytes:
    for token, (start, end) in ctx.offloaded.items():
        marker = token.encode("ascii") + b"\n"
        if marker in data:
            data = data.replace(marker, ctx.raw[start:end])
    return data


def _b64decode(data: bytes | memoryview, ctx: _Context) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", bytes(data))
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        ctx.warnings.append("base64 body with bad padding, truncated")
        try:
            return binascii.a2b_base64(cleaned)
        except binascii.Error:  # pragma: no cover - cleaned input is valid base64
            return b""


def _uudecode(lines: Iterable[str]) -> bytes:
    out = bytearray()
    for line in lines:
        line = line.rstrip("\r\n")
        if not line or line == "`":
            continue
        encoded = line.encode("latin-1", "replace")
        try:
            out += binascii.a2b_uu(encoded)
        except binascii.Error:
            # Workaround for broken encoders (same as the old stdlib uu module).
            nbytes = (((encoded[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(encoded[:nbytes])
            except binascii.Error:
                continue
    return bytes(out)


def _raw_payload(part: Message) -> object:
    """The payload as parsed. ``get_payload()`` would replace undecodable 8-bit bytes
    with U+FFFD using the declared charset, so read the stored value directly."""
    return getattr(part, "_payload", None)


def _part_bytes(part: Message, ctx: _Context) -> bytes:
    """Decoded payload bytes of a non-multipart part; never raises."""
    payload = _raw_payload(part)
    if not isinstance(payload, str):
        return b""
    cte = str(_raw_header(part, "content-transfer-encoding") or "").strip().lower()
    if ctx.offloaded and "SPORTELLOBLOB" in payload:
        stripped = payload.strip()
        if cte == "base64" and stripped in ctx.offloaded:
            start, end = ctx.offloaded[stripped]
            return _b64decode(memoryview(ctx.raw)[start:end], ctx)
        data = _restore(_str_to_bytes(payload), ctx)
    else:
        data = _str_to_bytes(payload)
    if cte == "base64":
        return _b64decode(data, ctx)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        text = data.decode("latin-1")
        match = _UU_BLOCK.search(text)
        return _uudecode((match.group(2) if match else text).splitlines())
    return data


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _raw_headers(msg: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        headers.setdefault(key.lower(), []).append(str(value))
    return headers


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:  # malformed parameters must not break parsing
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _, text = value
        try:
            return _str_to_bytes(text).decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            return text
    return str(value)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _disposition(part: Message) -> str:
    raw = _raw_header(part, "content-disposition")
    if not raw:
        return ""
    return _unfold(raw).split(";", 1)[0].strip().lower()


def _sanitise_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _FILENAME_UNSAFE.sub("", name).strip().strip(".").strip()
    return name[:255]


def _filename(part: Message, ctx: _Context) -> str | None:
    raw: str | None = None
    try:
        raw = part.get_filename()
    except Exception:
        raw = None
    if raw is None:
        raw = _param(part, "name")
    if raw is None:
        return None
    decoded = decode_header_value(str(raw), ctx.warnings, "filename")
    cleaned = _sanitise_filename(decoded)
    return cleaned or None


def _content_id(part: Message) -> str | None:
    raw = _raw_header(part, "content-id")
    if not raw:
        return None
    value = _unfold(raw).strip().strip("<>").strip()
    return value or None


def _default_name(ctype: str, ctx: _Context) -> str:
    ctx.counter += 1
    ext = mimetypes.guess_extension(ctype, strict=False) or ".bin"
    if ctype == "text/calendar":
        ext = ".ics"
    elif ctype == "message/rfc822":
        ext = ".eml"
    return f"attachment-{ctx.counter}{ext}"


def _decode_text_part(part: Message, ctx: _Context, data: bytes | None = None) -> str:
    if data is None:
        data = _part_bytes(part, ctx)
    charset = _param(part, "charset")
    ctype = _content_type(part)
    if charset is None and ctype == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        if meta:
            charset = meta.group(1).decode("ascii")
    text = decode_bytes(data, charset, ctx.warnings, ctype)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ctype == "text/plain" and (_param(part, "format") or "").lower() == "flowed":
        text = _unflow(text, (_param(part, "delsp") or "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks."""
    out: list[str] = []
    current: str | None = None
    current_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        prefix = ">" * depth + (" " if depth else "")
        if current is not None and depth == current_depth:
            current += content
        else:
            if current is not None:
                out.append(current)
            current = prefix + content
            current_depth = depth
        if content.endswith(" ") and content != "-- ":
            if delsp:
                current = current[:-1]
        else:
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return "\n".join(out)


def _serialise(msg: Message, ctx: _Context) -> bytes:
    buffer = io.BytesIO()
    generator = BytesGenerator(
        buffer, mangle_from_=False, policy=policy.default.clone(refold_source="none")
    )
    try:
        generator.flatten(msg)  # type: ignore[arg-type]  # any Message works at runtime
        data = buffer.getvalue()
    except Exception:
        # The stdlib generator trips over some malformed trees; write the parts as parsed.
        data = _naive_serialise(msg)
    return _restore(data, ctx)


def _naive_serialise(msg: Message) -> bytes:
    head = b"".join(
        _str_to_bytes(f"{name}: {value}").rstrip(b"\r\n") + b"\r\n"
        for name, value in msg.raw_items()
    )
    payload = _raw_payload(msg)
    if isinstance(payload, list):
        parts = [p for p in payload if isinstance(p, Message)]
        if _content_type(msg).startswith("multipart/"):
            boundary = (_param(msg, "boundary") or "boundary").encode("ascii", "replace")
            body = b"".join(
                b"--" + boundary + b"\r\n" + _naive_serialise(p) + b"\r\n" for p in parts
            )
            body += b"--" + boundary + b"--\r\n"
        else:  # message/rfc822 and friends hold a single message
            body = b"".join(_naive_serialise(p) for p in parts)
    elif isinstance(payload, str):
        body = _str_to_bytes(payload)
    else:
        body = b""
    return head + b"\r\n" + body


def _add_attachment(
    part: Message,
    ctx: _Context,
    out: _Collected,
    ctype: str,
    *,
    inline: bool | None = None,
    data: bytes | None = None,
    filename: str | None = None,
) -> None:
    if data is None:
        data = _part_bytes(part, ctx)
    name = filename or _filename(part, ctx) or _default_name(ctype, ctx)
    content_id = _content_id(part)
    if inline is None:
        disposition = _disposition(part)
        inline = disposition == "inline" or (not disposition and content_id is not None)
    out.attachments.append(
        ParsedAttachment(
            filename=name, content_type=ctype, data=data, content_id=content_id, inline=inline
        )
    )


def _extract_uuencoded(text: str, ctx: _Context, out: _Collected) -> str:
    if "begin " not in text:
        return text

    def replace_block(match: re.Match[str]) -> str:
        name = _sanitise_filename(match.group(1).strip()) or _default_name("", ctx)
        data = _uudecode(match.group(2).splitlines())
        ctype = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        out.attachments.append(
            ParsedAttachment(
                filename=name, content_type=ctype, data=data, content_id=None, inline=False
            )
        )
        return ""

    return _UU_BLOCK.sub(replace_block, text)


def _walk(part: Message, ctx: _Context, out: _Collected, depth: int = 0) -> None:
    ctype = _content_type(part)
    maintype = ctype.split("/", 1)[0]
    if depth > _MAX_DEPTH * 4:
        ctx.warnings.append("MIME tree too deep, remaining parts ignored")
        return
    payload = _raw_payload(part)
    if maintype == "multipart":
        if not isinstance(payload, list):
            # Multipart without usable boundary: treat the body as text.
            ctx.warnings.append(f"{ctype} without parts, body read as text")
            text = decode_bytes(_str_to_bytes(str(payload)), _param(part, "charset"), [], ctype)
            out.plain.append(text.replace("\r\n", "\n"))
            return
        children = [c for c in payload if isinstance(c, Message)]
        subtype = ctype.split("/", 1)[1]
        if subtype == "alternative":
            _walk_alternative(children, ctx, out, depth)
        elif subtype == "related":
            _walk_related(part, children, ctx, out, depth)
        else:
            if subtype == "signed":
                children = [c for c in children if _content_type(c) not in _SIGNATURE_TYPES]
            for child in children:
                _walk(child, ctx, out, depth + 1)
        return
    if ctype in ("message/rfc822", "message/global") and isinstance(payload, list):
        inner = payload[0] if payload and isinstance(payload[0], Message) else None
        if inner is None:
            return
        data = _serialise(inner, ctx)
        name = _filename(part, ctx)
        if name is None:
            subject = decode_header_value(_raw_header(inner, "subject") or "", ctx.warnings)
            name = _sanitise_filename(subject)[:100] or "forwarded-message"
            name += ".eml"
        ctx.rfc822_parts.append((name, inner, data))
        _add_attachment(part, ctx, out, "message/rfc822", data=data, filename=name, inline=False)
        return
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        ctx.delivery_status.append(_delivery_status_fields(part, ctx))
        return
    if ctype in ("text/rfc822-headers", "text/global-headers"):
        text = decode_bytes(_part_bytes(part, ctx), None, ctx.warnings, ctype)
        ctx.returned_headers.append(HeaderParser(policy=policy.compat32).parsestr(text))
        return
    disposition = _disposition(part)
    filename = _filename(part, ctx)
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and filename is None:
        text = _decode_text_part(part, ctx)
        if ctype == "text/plain":
            out.plain.append(_extract_uuencoded(text, ctx, out))
        else:
            out.html.append(text)
        return
    _add_attachment(part, ctx, out, ctype)


def _walk_alternative(children: list[Message], ctx: _Context, out: _Collected, depth: int) -> None:
    best_plain: list[str] = []
    best_html: list[str] = []
    for child in children:
        sub = _Collected()
        _walk(child, ctx, sub, depth + 1)
        if sub.plain:
            best_plain = sub.plain
        if sub.html:
            best_html = sub.html
        out.attachments.extend(sub.attachments)
    out.plain.extend(best_plain)
    out.html.extend(best_html)


def _walk_related(
    part: Message, children: list[Message], ctx: _Context, out: _Collected, depth: int
) -> None:
    if not children:
        return
    start = _param(part, "start")
    root = children[0]
    if start:
        wanted = start.strip().strip("<>")
        for child in children:
            if _content_id(child) == wanted:
                root = child
                break
    _walk(root, ctx, out, depth + 1)
    for child in children:
        if child is root:
            continue
        ctype = _content_type(child)
        if ctype.startswith("multipart/"):
            _walk(child, ctx, out, depth + 1)
        else:
            _add_attachment(child, ctx, out, ctype, inline=_disposition(child) != "attachment")


def _delivery_status_fields(part: Message, ctx: _Context) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    payload = part.get_payload()
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                fields.extend((k.lower(), _unfold(str(v)).strip()) for k, v in block.raw_items())
                fields.append(("", ""))  # block separator
    else:
        text = decode_bytes(_part_bytes(part, ctx), None, ctx.warnings, "delivery-status")
        for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
            parsed = HeaderParser(policy=policy.compat32).parsestr(block.strip() + "\n")
            fields.extend((k.lower(), _unfold(str(v)).strip()) for k, v in parsed.raw_items())
            fields.append(("", ""))
    return fields


# --------------------------------------------------------------------------- classification

_AUTO_SUBJECT = re.compile(
    r"\b(?:risposta automatica|fuori sede|fuori ufficio|out of (?:the )?office|"
    r"automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|autorisposta)\b",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|undeliverable mail|delivery status notification|"
    r"mail delivery failed|mail delivery failure|returned mail|failure notice|delivery failure|"
    r"delivery has failed|message not delivered|non recapitabile|impossibile recapitare|"
    r"mancato recapito|messaggio non recapitato|notifica di mancato recapito|"
    r"warning: message .* delayed|delayed mail)",
    re.IGNORECASE,
)
_DAEMON_LOCALPARTS = frozenset(
    {"mailer-daemon", "postmaster", "mail-daemon", "mail-delivery-subsystem", "maildelivery"}
)
_STATUS_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_TEMPORARY_HINT = re.compile(
    r"\b(?:delay(?:ed)?|will (?:be )?retr(?:y|ied)|still trying|temporar\w*|ritardat\w*|"
    r"nuovo tentativo|riproverà)\b",
    re.IGNORECASE,
)
_BODY_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_BODY_MSGID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_PEC_DELIVERED = {
    "avvenuta-consegna": True,
    "errore-consegna": False,
    "preavviso-errore-consegna": False,
    "non-accettazione": False,
    "rilevazione-virus": False,
}


def _is_auto_reply(headers: dict[str, list[str]], subject: str) -> bool:
    auto_submitted = headers.get("auto-submitted")
    if auto_submitted and any(v.split(";")[0].strip().lower() != "no" for v in auto_submitted):
        return True
    for name in ("x-autoreply", "x-autorespond", "x-autoresponse"):
        if name in headers and any(v.strip().lower() not in ("no", "false") for v in headers[name]):
            return True
    for value in headers.get("precedence", []):
        if value.strip().lower() in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
            return True
    for value in headers.get("x-auto-response-suppress", []):
        tokens = {t.strip().lower() for t in re.split(r"[,\s]+", value)}
        if tokens & {"oof", "all"}:
            return True
    return bool(_AUTO_SUBJECT.search(subject))


def _is_list(headers: dict[str, list[str]]) -> bool:
    if "list-id" in headers or "list-unsubscribe" in headers:
        return True
    return any(v.strip().lower() == "list" for v in headers.get("precedence", []))


def _original_message_id(ctx: _Context, text: str) -> str | None:
    for _name, inner, _data in ctx.rfc822_parts:
        value = _raw_header(inner, "message-id")
        if value:
            return normalise_message_id(value)
    for headers in ctx.returned_headers:
        value = headers.get("message-id")
        if value:
            return normalise_message_id(str(value))
    match = _BODY_MSGID.search(text)
    return match.group(1) if match else None


def _dsn_bounce(ctx: _Context, text: str) -> BounceInfo | None:
    if not ctx.delivery_status:
        return None
    fields = [f for block in ctx.delivery_status for f in block]
    recipient = status = action = diagnostic = None
    # Take the first per-recipient block that has an Action or Status.
    current: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    for key, value in fields:
        if not key:
            if current:
                blocks.append(current)
            current = {}
            continue
        current.setdefault(key, value)
    if current:
        blocks.append(current)
    chosen = next((b for b in blocks if "action" in b or "status" in b), None)
    if chosen is not None:
        raw_recipient = chosen.get("final-recipient") or chosen.get("original-recipient")
        if raw_recipient:
            recipient = raw_recipient.split(";", 1)[-1].strip().strip("<>") or None
        status_match = _STATUS_CODE.search(chosen.get("status", ""))
        status = ".".join(status_match.groups()) if status_match else None
        action = chosen.get("action", "").strip().lower() or None
        raw_diag = chosen.get("diagnostic-code")
        if raw_diag:
            diagnostic = " ".join(raw_diag.split(";", 1)[-1].split()) or None
    permanent = status.startswith("5") if status is not None else action == "failed"
    return BounceInfo(
        original_message_id=_original_message_id(ctx, text),
        recipient=recipient,
        status=status,
        action=action,
        diagnostic=diagnostic,
        permanent=permanent,
    )


def _heuristic_bounce(
    ctx: _Context, sender: EmailAddress | None, subject: str, text: str
) -> BounceInfo | None:
    daemon = sender is not None and sender.address.split("@")[0].lower() in _DAEMON_LOCALPARTS
    if not daemon and not _BOUNCE_SUBJECT.search(subject):
        return None
    status_match = _STATUS_CODE.search(text)
    status = ".".join(status_match.groups()) if status_match else None
    own = {sender.address.lower()} if sender else set()
    recipient = None
    for candidate in _BODY_ADDRESS.findall(text):
        local = candidate.split("@")[0].lower()
        if candidate.lower() not in own and local not in _DAEMON_LOCALPARTS:
            recipient = candidate
            break
    diagnostic = None
    if status_match:
        line_start = text.rfind("\n", 0, status_match.start()) + 1
        line_end = text.find("\n", status_match.end())
        diagnostic = text[line_start : line_end if line_end >= 0 else None].strip()[:500] or None
    if status is not None:
        permanent = status.startswith("5")
    else:
        permanent = not _TEMPORARY_HINT.search(subject + "\n" + text)
    return BounceInfo(
        original_message_id=_original_message_id(ctx, text),
        recipient=recipient,
        status=status,
        action="failed" if permanent else "delayed",
        diagnostic=diagnostic,
        permanent=permanent,
    )


# --------------------------------------------------------------------------- entry point


class _MemoisedPolicy(EmailPolicy):
    """``policy.default`` with the parsed MIME headers memoised.

    The feed parser and ``Message`` helpers re-parse Content-Type on every access
    (``get_content_type``, ``get_param``, ``get_boundary`` ...), which made header
    parsing ~80% of the total time. Header objects are immutable, so identical
    (name, value) pairs can share one parsed instance.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        key = name.lower()
        if key not in _MEMO_HEADERS or len(value) > 2000:
            return super().header_fetch_parse(name, value)
        cache_key = (key, value)
        cached = _HEADER_MEMO.get(cache_key)
        if cached is None:
            if len(_HEADER_MEMO) >= 4096:
                _HEADER_MEMO.clear()
            cached = _HEADER_MEMO[cache_key] = super().header_fetch_parse(name, value)
        return cached


_MEMO_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_HEADER_MEMO: dict[tuple[str, str], Any] = {}
_POLICY = _MemoisedPolicy()


def _parse_tree(raw: bytes) -> tuple[Message, list[str]]:
    warnings: list[str] = []
    msg: Message
    try:
        msg = BytesParser(policy=_POLICY).parsebytes(raw)
    except Exception:  # stdlib header parsing bugs: use the legacy policy
        warnings.append("default email policy failed, parsed with compat32")
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    return msg, warnings


def _defect_warnings(msg: Message) -> list[str]:
    names: list[str] = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            name = type(defect).__name__
            if name == "CloseBoundaryNotFoundDefect":
                label = "missing closing MIME boundary (truncated message?)"
            elif name == "StartBoundaryNotFoundDefect":
                label = "MIME start boundary not found"
            else:
                label = f"MIME defect: {name}"
            if label not in names:
                names.append(label)
    return names


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse raw message bytes. Raises ``EmailParseError`` only for non-mail input."""
    try:
        return _parse(raw, 0)
    except RecursionError:
        # Pathologically nested MIME: keep the headers, skip the body.
        return _parse(raw, 0, shallow=True)


def _parse(raw: bytes, depth: int, *, shallow: bool = False) -> ParsedEmail:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailParseError("raw message must be bytes")
    raw = bytes(raw)
    if not raw or raw.isspace():
        raise EmailParseError("empty message")
    if raw.startswith(b"From ") and b"\n" in raw[:2000]:
        raw = raw.split(b"\n", 1)[1]  # mbox "From " envelope line
    reduced, offloaded = _offload_large_base64(raw)
    if shallow:
        msg = BytesParser(policy=_POLICY).parsebytes(reduced, headersonly=True)
        warnings = ["MIME structure nested too deeply, body not parsed"]
    else:
        msg, warnings = _parse_tree(reduced)
    if not msg.keys():
        raise EmailParseError("no header fields: not an email message")
    if not shallow:
        warnings.extend(_defect_warnings(msg))
    ctx = _Context(raw=raw, offloaded=offloaded, warnings=warnings)
    headers = _raw_headers(msg)

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    # PEC envelope ("busta di trasporto" or anomaly): the real message is postacert.eml.
    transport = (first("x-trasporto") or "").strip().lower()
    collected = _Collected()
    if not shallow:
        _walk(msg, ctx, collected)
    if transport in ("posta-certificata", "errore") and depth < 2:
        for name, _inner, data in ctx.rfc822_parts:
            if name.lower() == "postacert.eml":
                inner = _parse(data, depth + 1)
                extra = [
                    a
                    for a in collected.attachments
                    if a.filename.lower() != "postacert.eml" and a.content_type != "message/rfc822"
                ]
                note = ["PEC anomaly envelope"] if transport == "errore" else []
                return replace(
                    inner,
                    attachments=inner.attachments + extra,
                    parse_warnings=warnings + note + inner.parse_warnings,
                )

    message_id = normalise_message_id(first("message-id") or "")
    if message_id is None:
        message_id = f"<{hashlib.sha256(raw).hexdigest()}@sportello.invalid>"
    subject = decode_header_value(first("subject") or "", warnings, "subject")
    sender_list = _parse_addresses(headers.get("from", []), warnings) or _parse_addresses(
        headers.get("sender", []), warnings
    )
    sender = sender_list[0] if sender_list else None

    html_raw = "\n".join(collected.html) if collected.html else None
    if collected.plain and (html_raw is None or any(p.strip() for p in collected.plain)):
        text = "\n".join(collected.plain)
    elif html_raw is not None:
        text = html_to_text(html_raw)
    else:
        text = ""
    text = text.strip("\n")
    html = sanitise_html(html_raw) if html_raw is not None else None
    visible, _folded = split_reply(text)

    pec: PecReceipt | None = None
    receipt = first("x-ricevuta")
    if receipt:
        kind = receipt.strip().lower()
        pec = PecReceipt(
            kind=kind,
            original_message_id=normalise_message_id(first("x-riferimento-message-id") or ""),
            delivered=_PEC_DELIVERED.get(kind),
        )

    bounce = None
    if pec is None:
        bounce = _dsn_bounce(ctx, text) or _heuristic_bounce(ctx, sender, subject, text)
    report_type = (_param(msg, "report-type") or "").lower()
    is_mdn = _content_type(msg) == "multipart/report" and report_type == "disposition-notification"

    return ParsedEmail(
        message_id=message_id,
        in_reply_to=_message_id_list(headers.get("in-reply-to", [])),
        references=_message_id_list(headers.get("references", [])),
        subject=subject,
        sender=sender,
        reply_to=_parse_addresses(headers.get("reply-to", []), warnings),
        to=_parse_addresses(headers.get("to", []), warnings),
        cc=_parse_addresses(headers.get("cc", []), warnings),
        date=_parse_date(first("date"), warnings),
        text=text,
        html=html,
        visible_text=visible,
        attachments=collected.attachments,
        is_auto_reply=_is_auto_reply(headers, subject)
        or bounce is not None
        or pec is not None
        or is_mdn,
        is_list=_is_list(headers),
        bounce=bounce,
        pec=pec,
        conversation_number=extract_conversation_number(subject),
        parse_warnings=warnings,
    )
