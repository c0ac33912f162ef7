"""Messages the voice actions raise, listed with ``_()`` so that ``pybabel extract`` keeps them
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
    _("channel not found"),
    _("the audio file is empty"),
    _("the audio file is larger than %(mb)s MB"),
    _("not a WAV audio file (PCM)"),
    _("give a mono or stereo WAV, 8 or 16 bit, at 8000 to 48000 Hz"),
    _("the announcement lasts from 0.2 seconds to %(max)s minutes"),
    _("unknown announcement"),
    _("a call needs its SIP Call-ID"),
    _("a deactivated user cannot have a phone"),
    _("a phone channel carries calls, not written replies"),
    _("call not found"),
    _("give a host name or host:port"),
    _("give a whole number of seconds"),
    _("give at least one number (DID)"),
    _("give a number from %(low)s to %(high)s"),
    _("no phone for this user"),
    _("not a phone number: %(value)s"),
    _("recording is off or all"),
    _("the call is still going on"),
    _("this call is not yours"),
    _("unknown call event"),
    _("unknown conversation"),
    _("user not found"),
    _("Phone"),
]
