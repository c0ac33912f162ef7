"""Article bodies: Markdown (markdown-it-py, raw HTML off) to HTML, then nh3 sanitising anyway."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from sportello.core.html import sanitize_html

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


def to_html(source: str) -> str:
    """Raw HTML in the source is shown as text; the output is sanitised a second time."""
    return sanitize_html(_md.render(source))


_MD_NOISE = re.compile(r"(!?\[([^\]]*)\]\([^)]*\))|[*_`>#|~]+")
_SPACES = re.compile(r"[ \t]+")


def to_text(source: str) -> str:
    """Markdown to readable plain text (link text kept, markup removed)."""

    def repl(match: re.Match[str]) -> str:
        return match.group(2) or "" if match.group(1) else " "

    text = _MD_NOISE.sub(repl, source)
    lines = [_SPACES.sub(" ", line).strip(" -") for line in text.splitlines()]
    return "\n".join(lines).strip()


def paragraphs(source: str) -> list[str]:
    """Plain-text paragraphs (blank-line separated) of a Markdown body, headings dropped."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", source):
        stripped = block.strip()
        if not stripped or (stripped.startswith("#") and "\n" not in stripped):
            continue
        text = to_text(stripped)
        if text:
            out.append(" ".join(text.split()))
    return out


def summary_from(source: str, length: int = 160) -> str:
    for paragraph in paragraphs(source):
        if len(paragraph) > 20:
            return paragraph if len(paragraph) <= length else paragraph[: length - 1] + "…"
    return ""
