"""Messages the reports raise that the console shows to users (translated on the way out);
listed with ``_()`` so that ``pybabel extract`` keeps them in the catalogues."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("not a date (YYYY-MM-DD)"),
    _("not a number"),
    _("not a time"),
    _("the start comes after the end"),
    _("unknown interval"),
    _("unknown grouping"),
    _("unknown measure"),
    _("choose one of the offered thresholds"),
    _("unknown treatment"),
    _("between 0 and 100"),
    _("the critical level must not exceed the warning level"),
    _("the critical wait must not be shorter than the warning"),
    _("no mailbox to send the weekly report from"),
    _("outside the allowed range"),
    _("at most 400 days at a time"),
    _("a weekday is 0 (Monday) to 6 (Sunday)"),
    _("an hour is 0 to 23"),
]
