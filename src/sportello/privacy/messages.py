"""Messages the privacy actions raise, listed with ``_()`` so that ``pybabel extract`` keeps them
in the catalogues (the pages translate them on the way out, see web/messages.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("say what the consent is for"),
    _("the purpose is too long (at most 80 characters)"),
    _("say where the consent was given"),
    _("the source is too long (at most 80 characters)"),
    _("write the text the customer agreed to"),
    _("the text is too long (at most 4000 characters)"),
    _("choose erase or anonymise"),
    _("choose what to delete"),
    _("keep it from 1 to 36500 days"),
    _("unknown brand"),
    _("unknown channel"),
    _("that channel belongs to another brand"),
    _("retention policy not found"),
    _("consent not found"),
    _("type the customer's number to confirm"),
    _("choose from the list"),
]
