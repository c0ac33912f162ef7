"""Messages the knowledge-base actions and imports raise, and the sources of learned questions,
listed with ``_()`` so that ``pybabel extract`` keeps them in the catalogues (the pages translate
them on the way out, see web/messages.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("expected a JSON object or a list of objects"),
    _("no articles found in the file"),
    _("the CSV needs the columns title and body"),
    _("the file is not UTF-8 text"),
    _("the file is not valid JSON"),
    _("the file is too large (50 MB at most)"),
    _("the question is longer than 300 characters"),
    _("too many articles in one file (20,000 at most)"),
    _("unknown source"),
    _("use a .csv, .json or .md file"),
    # where a learned question came from (LearnedQuestion.source)
    _("handover"),
    _("helpful"),
    _("click"),
    _("editor"),
    _("import"),
]
