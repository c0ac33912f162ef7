"""Reading knowledge bases from other places into plain records (no database work here).

Formats, told apart by the file's name and content:

- **CSV** with a header: ``title, body`` required; ``category, language, tags, status`` optional
  (tags separated by ``,`` or ``|``).
- **JSON**: a list of such objects (or ``{"articles": [...]}``).
- **Zendesk Guide** (Help Center API): ``{"articles": [{"title", "body" (HTML), "locale",
  "section_id", "label_names", "draft"}], "sections": [{"id", "name"}]}``; several pages of
  ``GET /api/v2/help_center/articles.json`` may be given as a list of such objects.
- **Freshdesk** solutions (API v2): a list of articles ``{"title", "description" (HTML),
  "description_text", "status" (1 draft, 2 published), "tags"}``, or categories with their
  folders ``[{"name", "folders": [{"name", "articles": [...]}]}]``.
- **Markdown**: a folder of ``.md`` files (or one file); the category is the file's folder, the
  title the first ``# heading`` (else the file name); an optional front matter block
  (``---`` YAML ``---``) may set title, category, language, tags, status.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sportello.core.errors import InvalidInput

MAX_ARTICLES = 20_000
MAX_BYTES = 50 * 1024 * 1024


@dataclass
class ImportItem:
    title: str
    body_md: str
    category: str = ""
    language: str = ""
    tags: list[str] = field(default_factory=list)
    published: bool = True


def _html_to_md(html: str) -> str:
    from markdownify import markdownify

    from sportello.core.html import sanitize_html

    return str(markdownify(sanitize_html(html), heading_style="ATX")).strip()


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        sep = "|" if "|" in value else ","
        return [v.strip() for v in value.split(sep) if v.strip()]
    return []


def _published(value: Any) -> bool:
    if value is None or value == "":
        return True
    return str(value).strip().lower() in ("published", "pubblicato", "2", "true", "yes", "si", "sì")


def _language(locale: Any) -> str:
    return str(locale or "").split("-")[0].split("_")[0].lower()[:8]


def from_csv(data: str) -> list[ImportItem]:
    reader = csv.DictReader(io.StringIO(data))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"title", "body"} <= fields:
        raise InvalidInput("the CSV needs the columns title and body", field="file")
    items = []
    for row in reader:
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        items.append(
            ImportItem(
                title=row["title"].strip(),
                body_md=row["body"].strip(),
                category=row.get("category", "").strip(),
                language=_language(row.get("language")),
                tags=_tags(row.get("tags", "")),
                published=_published(row.get("status")),
            )
        )
    return items


def _plain(obj: dict[str, Any]) -> ImportItem:
    return ImportItem(
        title=str(obj.get("title") or "").strip(),
        body_md=str(obj.get("body") or "").strip(),
        category=str(obj.get("category") or "").strip(),
        language=_language(obj.get("language")),
        tags=_tags(obj.get("tags")),
        published=_published(obj.get("status")),
    )


def _zendesk(pages: list[dict[str, Any]]) -> list[ImportItem]:
    sections: dict[Any, str] = {}
    for page in pages:
        for section in page.get("sections") or []:
            if isinstance(section, dict):
                sections[section.get("id")] = str(section.get("name") or "")
    items = []
    for page in pages:
        for a in page.get("articles") or []:
            if not isinstance(a, dict):
                continue
            items.append(
                ImportItem(
                    title=str(a.get("title") or "").strip(),
                    body_md=_html_to_md(str(a.get("body") or "")),
                    category=sections.get(a.get("section_id"), ""),
                    language=_language(a.get("locale")),
                    tags=_tags(a.get("label_names")),
                    published=not a.get("draft", False),
                )
            )
    return items


def _freshdesk_article(a: dict[str, Any], category: str) -> ImportItem:
    body = a.get("description")
    return ImportItem(
        title=str(a.get("title") or "").strip(),
        body_md=_html_to_md(str(body)) if body else str(a.get("description_text") or "").strip(),
        category=category,
        tags=_tags(a.get("tags")),
        published=a.get("status", 2) == 2,
    )


def _freshdesk(data: list[dict[str, Any]]) -> list[ImportItem]:
    items = []
    for entry in data:
        if "folders" in entry:  # a category with its folders
            for folder in entry.get("folders") or []:
                name = str(folder.get("name") or entry.get("name") or "")
                items += [_freshdesk_article(a, name) for a in folder.get("articles") or []]
        else:
            items.append(_freshdesk_article(entry, ""))
    return items


def from_json(data: str) -> list[ImportItem]:
    try:
        parsed = json.loads(data)
    except ValueError:
        raise InvalidInput("the file is not valid JSON", field="file") from None
    pages = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(p, dict) for p in pages):
        raise InvalidInput("expected a JSON object or a list of objects", field="file")
    if any("articles" in p and ("sections" in p or "page" in p or "next_page" in p) for p in pages):
        return _zendesk(pages)
    if any("description" in p or "description_text" in p or "folders" in p for p in pages):
        return _freshdesk(pages)
    if len(pages) == 1 and isinstance(pages[0].get("articles"), list):
        first = pages[0]["articles"][:1]
        if first and isinstance(first[0], dict) and "locale" in first[0]:
            return _zendesk(pages)
        pages = [p for p in pages[0]["articles"] if isinstance(p, dict)]
    return [_plain(p) for p in pages]


def from_markdown(data: str, *, name: str, category: str = "") -> ImportItem:
    meta: dict[str, Any] = {}
    body = data.lstrip("\ufeff")
    if body.startswith("---\n"):
        end = body.find("\n---", 4)
        if end > 0:
            import yaml

            try:
                loaded = yaml.safe_load(body[4:end])
            except yaml.YAMLError:
                loaded = None
            meta = loaded if isinstance(loaded, dict) else {}
            body = body[end + 4 :].lstrip("\n")
    title = str(meta.get("title") or "").strip()
    if not title:
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# "):
                title = line[2:].strip()
                body = "\n".join(lines[:i] + lines[i + 1 :]).strip()
                break
    return ImportItem(
        title=title or Path(name).stem.replace("-", " ").replace("_", " ").strip().capitalize(),
        body_md=body.strip(),
        category=str(meta.get("category") or category).strip(),
        language=_language(meta.get("language")),
        tags=_tags(meta.get("tags")),
        published=_published(meta.get("status")),
    )


def read_bytes(name: str, data: bytes) -> list[ImportItem]:
    """Records from one uploaded or given file, by its name's ending."""
    if len(data) > MAX_BYTES:
        raise InvalidInput("the file is too large (50 MB at most)", field="file")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text", field="file") from None
    lower = name.lower()
    if lower.endswith(".csv"):
        items = from_csv(content)
    elif lower.endswith(".json"):
        items = from_json(content)
    elif lower.endswith((".md", ".markdown")):
        items = [from_markdown(content, name=name)]
    else:
        raise InvalidInput("use a .csv, .json or .md file", field="file")
    return _checked(items)


def read_path(path: Path) -> list[ImportItem]:
    """Records from a file or a folder of Markdown files (the category is the folder's name)."""
    if path.is_dir():
        items = []
        for file in sorted(path.rglob("*")):
            if file.suffix.lower() in (".md", ".markdown") and file.is_file():
                category = file.parent.name if file.parent != path else ""
                items.append(
                    from_markdown(file.read_text("utf-8"), name=file.name, category=category)
                )
        return _checked(items)
    return read_bytes(path.name, path.read_bytes())


def _checked(items: Iterable[ImportItem]) -> list[ImportItem]:
    kept = [i for i in items if i.title or i.body_md]
    if not kept:
        raise InvalidInput("no articles found in the file", field="file")
    if len(kept) > MAX_ARTICLES:
        raise InvalidInput("too many articles in one file (20,000 at most)", field="file")
    return kept
