"""Messages the webhook actions raise, listed with ``_()`` so that ``pybabel extract`` keeps them
in the catalogues (the pages translate them on the way out)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("choose at least one event"),
    _("between 1 and 1000 failures"),
    _("delivery not found"),
    _("disabled by an administrator"),
    _("give a whole number"),
    _("give the address (URL)"),
    _("give the webhook a name"),
    _("put credentials in the authentication fields, not in the address"),
    _("the address is too long"),
    _("the address must start with http:// or https://"),
    _("the address points at a private or local network: allow private targets to use it"),
    _("the address's host name cannot be resolved"),
    _("the name is too long"),
    _("this is not a valid web address"),
    _("unknown event"),
    _("webhook not found"),
    _("Webhook “%(name)s” switched off after %(num)s failed deliveries in a row"),
]
