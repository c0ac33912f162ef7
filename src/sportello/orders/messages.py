"""Messages of the orders connector (errors the agent reads, notes, form errors), listed with
``_()`` so that ``pybabel extract`` keeps them in the catalogues."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("between 1 and 1000"),
    _("between 1 and 60 seconds"),
    _("check this address template"),
    _("choose a shop"),
    _("choose an order"),
    _("choose from the list"),
    _("connector not found"),
    _("give the connector a name"),
    _("give the product"),
    _("Order %(number)s cancelled at %(shop)s."),
    _("Order %(number)s cancelled."),
    _("Order %(number)s registered at %(shop)s: %(items)s."),
    _("Order %(number)s registered."),
    _("Product"),
    _("Product id"),
    _("Reason: %(reason)s"),
    _("SKU"),
    _("the connector's field mapping is not valid"),
    _("the lookup and get addresses are needed"),
    _("the shop answered with an error"),
    _("the shop cannot be reached"),
    _("the shop did not answer in time"),
    _("the shop does not know this order"),
    _("the shop refused the connector's credentials"),
    _("the shop's address is on a private network and is not allowed"),
    _("the shop's answer could not be read"),
    _("the shop's answer has no order id"),
    _("this credential is needed"),
    _("this field mapping is not valid"),
    _("this is not valid JSON"),
]
