"""Messages the PBX channel raises, listed with ``_()`` so that ``pybabel extract`` keeps them
in the catalogues (the pages and the API translate them on the way out, see web/messages.py)."""

from __future__ import annotations

from typing import Any

from sportello.core.errors import InvalidInput


def _(message: str) -> str:
    return message


def invalid(message: str, *, field: str | None = None, **params: Any) -> InvalidInput:
    exc = InvalidInput(message % params if params else message, field=field)
    exc.msgid, exc.params = message, params  # type: ignore[attr-defined]
    return exc


MESSAGES = [
    _("Asterisk PBX"),
    _("give the PBX's host name or address"),
    _("give a port from 1 to 65535"),
    _("give the AMI user name"),
    _("give the AMI secret"),
    _("not a phone number: %(value)s"),
    _("Outgoing call failed"),
    _("give a number from %(low)s to %(high)s"),
    _("not a valid extension line: %(value)s"),
    _("extension %(value)s is listed twice"),
    _("not a dialplan context name: %(value)s"),
    _("the technology is PJSIP, SIP or IAX2"),
    _("a PBX channel carries calls, not written replies"),
    _("no PBX channel is configured"),
    _("your extension is not listed on the PBX channel"),
    _("the PBX refused the call: %(value)s"),
    _("the PBX cannot be reached: %(value)s"),
]
