"""Every console page in Italian shows no English source string, and in English no Italian
translation (issue 12: "English leaks into the Italian console").

Each page is rendered for an admin whose language is Italian, then English, with a little data
(a conversation, a customer, a queue, a calendar, an SLA policy...). Its visible text (tags,
scripts and styles removed) is searched for the catalogue's other-language phrases of two words
or more; a phrase the two languages share ("Email", "SLA", "Chat") does not count."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from sportello.accounts import actions as accounts_actions
from tests.factories import inbound, login, receive

LOCALE = Path(__file__).resolve().parents[2] / "src" / "sportello" / "locale"
PAGES = [
    "/inbox/mine", "/inbox/unassigned", "/inbox/open", "/customers", "/c/1001", "/customers/1",
    "/search?q=ordine", "/routing/agent", "/routing/live", "/replies", "/macros", "/views",
    "/kb", "/kb-settings", "/profile", "/profile/security", "/surveys", "/surveys/followups",
    "/reports", "/reports/settings", "/wallboard", "/wfm", "/wfm/setup", "/wfm/my-shifts",
    "/wfm/adherence", "/admin/users", "/admin/teams", "/admin/queues", "/admin/queues/1",
    "/admin/channels", "/admin/channels/new", "/admin/skills", "/admin/capacity",
    "/admin/pause-reasons", "/admin/calendars", "/admin/sla", "/admin/surveys",
    "/admin/security", "/admin/email/quarantine",
]  # fmt: skip


def _phrases(language: str, *, source: bool) -> set[str]:
    """Multi-word phrases of one side of the catalogue that the other side says differently."""
    with open(LOCALE / "it" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale="it")
    out = set()
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or not message.string:
            continue
        text = message.id if source else message.string
        other = message.string if source else message.id
        if "%" in text or "{" in text or text in other:  # a term both languages use
            continue
        if len(re.findall(r"[A-Za-zÀ-ÿ]+", text)) >= 2 and len(text) >= 12:
            out.add(text)
    return out


def _visible_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


@pytest.mark.parametrize(("language", "foreign_is_source"), [("it", True), ("en", False)])
def test_console_pages_speak_one_language(client, db, personas, language, foreign_is_source):
    receive(db, personas.api_channel, inbound("Buongiorno, vorrei sapere dove è il mio ordine"))
    with db.transaction() as s:
        admin = s.get_one(type(personas.admin), personas.admin.id)
        accounts_actions.do_update_user(s, user=admin, language=language)
    login(client, personas.admin)
    foreign = _phrases(language, source=foreign_is_source)
    leaks: dict[str, list[str]] = {}
    for path in PAGES:
        response = client.get(path, headers={"accept": "text/html"})
        assert response.status_code == 200, (path, response.status_code)
        text = _visible_text(response.text)
        found = sorted(p for p in foreign if p in text)
        if found:
            leaks[path] = found
    assert not leaks, leaks
