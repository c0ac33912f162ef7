"""Messages the survey actions raise, listed with ``_()`` so that ``pybabel extract`` keeps them
in the catalogues (the pages translate them on the way out, see web/messages.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("an extra question needs its text"),
    _("a survey needs a name"),
    _("check this value"),
    _("choose a person"),
    _("choose a score on the scale"),
    _("choose from the list"),
    _("choose the team that calls customers back"),
    _("follow-up not found"),
    _("give a score first"),
    _("give a whole number"),
    _("only supervisors assign follow-ups to others"),
    _("survey not found"),
    _("this follow-up is done already"),
    _("this survey has already been answered"),
    _("this survey has expired"),
    _("this survey was not sent"),
    _("unknown action"),
    _("unknown channel"),
    _("unknown queue"),
    _("unknown team"),
    _("unknown user"),
    _("write the outcome of the call"),
]
