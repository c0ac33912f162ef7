"""HTML sanitising (nh3) and plain-text helpers for message bodies."""

from __future__ import annotations

import html as html_lib
import re

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "font": {"color"},
    "*": {"dir", "lang"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}


def sanitize_html(value: str) -> str:
    """Strip scripts, event handlers, styles and dangerous URLs; links open safely."""
    return nh3.clean(
        value,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# nh3 serialises attributes with double quotes, so the sanitised markup has one shape to match.
_REMOTE_IMG = re.compile(r'(<img\b[^>]*?\s)src="(https?://[^"]*)"', re.IGNORECASE)


def block_remote_images(clean_html: str) -> tuple[str, int]:
    """Keep remote images in sanitised mail from loading until the agent asks (a remote image
    tells the sender when and where the mail was read). Each ``src`` becomes
    ``data-remote-src``; returns the markup and how many were held back."""
    held = 0

    def hold(match: re.Match[str]) -> str:
        nonlocal held
        held += 1
        return f'{match.group(1)}data-remote-src="{match.group(2)}"'

    return _REMOTE_IMG.sub(hold, clean_html), held


_URL = re.compile(r"https?://[^\s<>\"']+")


def text_to_html(text: str) -> str:
    """Escape plain text for display, turning URLs into links and newlines into <br>."""
    escaped = html_lib.escape(text)
    linked = _URL.sub(
        lambda m: f'<a href="{m.group(0)}" rel="noopener noreferrer nofollow">{m.group(0)}</a>',
        escaped,
    )
    return linked.replace("\n", "<br>\n")


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def preview(text: str, length: int = 160) -> str:
    flat = _SPACE.sub(" ", text.replace("\n", " ")).strip()
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"
