"""Messages the NLP actions raise, listed with ``_()`` so that ``pybabel extract`` keeps them
in the catalogues (the pages translate them on the way out, see web/messages.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("Customer's mood (from -1, angry, to 1, happy)"),
    _("Language of the conversation (it, en…)"),
    _("agent assist is off"),
    _("at least 10 labelled conversations with two labels are needed"),
    _("at least 20 answered CSAT surveys are needed to calibrate"),
    _("check this value"),
    _("choose from the list"),
    _("give a number"),
    _("give the address of the assistant"),
    _("give the model name"),
    _("intent model not found"),
    _("no sentiment yet for this conversation"),
    _("no triage model yet: train one first"),
    _("no triage suggestion to apply"),
    _("the assistant did not answer"),
    _("the assistant gave an answer we cannot read"),
    _("the assistant refused the request"),
    _("the negative threshold must be below the positive one"),
    _("unknown assist"),
]
