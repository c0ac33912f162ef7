"""Messages the departments' actions raise, listed with ``_()`` so that ``pybabel extract`` keeps
them in the catalogues (the pages translate them on the way out, see web/messages.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("a department with this name exists already"),
    _("a quoted file is not in this conversation"),
    _("a quoted message is not in this conversation"),
    _("at most ten addresses"),
    _("choose a department"),
    _("choose a department or write an address"),
    _("choose an outcome"),
    _("choose at most twenty messages and twenty files"),
    _("choose from the list"),
    _("department not found"),
    _("give at least one email address"),
    _("hand-off not found"),
    _("no mailbox can send email: add one with an outgoing server (SMTP) under Channels"),
    _("nothing changed"),
    _("remove the invalid characters from the text"),
    _("side conversation not found"),
    _("this department is switched off"),
    _("this field is required"),
    _("this is not a valid email address"),
    _("this side conversation is closed"),
    _("this side conversation is closed already"),
    _("this side conversation is open already"),
    _("this text is too long"),
]
