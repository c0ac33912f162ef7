"""Messages raised in English by the inbox filters and the agent tools' reads, listed with
``_()`` so that ``pybabel extract`` keeps them in the catalogues (pages translate them)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("invalid filter"),
    _("choose an SLA state"),
    _("canned reply not found"),
    _("macro not found"),
    _("saved view not found"),
    _("choose a reply"),
    _("choose a macro"),
    _("at most 20 tags"),
    _("invalid page cursor"),
]
