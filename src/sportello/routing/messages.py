"""Errors of the routing settings that name what is at fault ("skill X is required by ...").

The English text goes to the API as it is; the pages show it translated with its values put
back in (:func:`translated`). ``_()`` only marks a message for extraction.
"""

from __future__ import annotations

from typing import Any

from sportello.core import i18n
from sportello.core.errors import Conflict, InvalidInput, SportelloError


def _(message: str) -> str:
    return message


def invalid(message: str, *, field: str | None = None, **params: Any) -> InvalidInput:
    exc = InvalidInput(message % params if params else message, field=field)
    exc.msgid, exc.params = message, params  # type: ignore[attr-defined]
    return exc


def conflict(message: str, *, field: str | None = None, **params: Any) -> Conflict:
    exc = Conflict(message % params if params else message)
    exc.field = field  # type: ignore[attr-defined]
    exc.msgid, exc.params = message, params  # type: ignore[attr-defined]
    return exc


def translated(exc: SportelloError) -> str:
    """The error's message in the current language, with its values."""
    msgid = getattr(exc, "msgid", exc.message)
    params = getattr(exc, "params", None) or {}
    return i18n.gettext(msgid, **params) if params else i18n.gettext(msgid)


# Messages the engine modules raise as plain text (translated by msgid in the pages).
MESSAGES = [
    _("a skill needs a name"),
    _("a pause reason needs a name"),
    _("a calendar needs a name"),
    _("a policy needs a name"),
    _("set a first response or a resolution target"),
    _("an SLA target is a positive number of seconds (leave it empty for no target)"),
    _("an SLA target is at most one year"),
    _("the warning comes at a fraction between 0 and 1"),
    _("unknown priority"),
    _("unknown queue"),
    _("unknown calendar"),
    _("mode is push or auto"),
    _("a queue cannot overflow into itself"),
    _("unknown overflow queue"),
    _("say after how many seconds the queue overflows"),
    _("move the conversations to another queue"),
    _("that skill belongs to another brand"),
    _("unknown skill"),
    _("unknown channel"),
    _("skill not found"),
    _("calendar not found"),
    _("SLA policy not found"),
    _("pause reason not found"),
    _("closure not found"),
    _("choose a status"),
    _("a category needs a name of at most 200 characters"),
    _("only supervisors and admins edit articles; propose an edit instead"),
]
