"""Messages of single sign-on (accounts/sso.py, sso_pages.py), listed with ``_()`` so that
``pybabel extract`` keeps them in the catalogues (translated on the way out)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("the issuer is a URL like https://sso.example.com/realms/shop"),
    _("the issuer must use https"),
    _("the issuer has no query or fragment"),
    _("a short name of lowercase letters, digits and dashes"),
    _("choose a kind of provider"),
    _("the name is too long (at most 80 characters)"),
    _("the client id the provider gave you"),
    _("the client secret the provider gave you"),
    _("the client secret is too long"),
    _("new users are created only for the allowed domains: list at least one"),
    _("provider not found"),
    _("the provider cannot be reached"),
    _("the provider's settings do not match its issuer"),
    _("the provider's settings are incomplete"),
    _("the provider refused the sign-in"),
    _("the provider sent no identity"),
    _("the provider's answer did not pass the checks"),
    _("the provider did not confirm your email"),
    _("your email's domain is not allowed here"),
    _("there is no Sportello account for your email: ask an administrator"),
    _("this account is switched off"),
    _("The sign-in took too long: try again."),
    _("The provider refused the sign-in."),
]
