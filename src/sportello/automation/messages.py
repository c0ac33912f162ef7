"""Messages of the rules (form errors, the registries' labels), listed with ``_()`` so that
``pybabel extract`` keeps them in the catalogues (the page translates them)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    # errors
    _("a time-based rule needs at least one condition"),
    _("add at least one action"),
    _("at most 20 actions"),
    _("at most 30 conditions"),
    _("choose a priority"),
    _("choose a status"),
    _("choose at least one event"),
    _("choose from the list"),
    _("give a number"),
    _("give the rule a name"),
    _("rule not found"),
    _("the name is too long"),
    _("the regular expression is not valid"),
    _("the regular expression is too slow on long texts: simplify it"),
    _("the regular expression is too long"),
    _("the value is too long"),
    _("this action needs a value"),
    _("this comparison does not fit the condition"),
    _("unknown action"),
    _("unknown condition"),
    _("unknown event"),
    # conditions
    _("Channel type"),
    _("Queue"),
    _("Tags"),
    _("Customer's last message"),
    _("Subject"),
    _("Priority"),
    _("Status"),
    _("Assignee"),
    _("Customer name"),
    _("Customer e-mail"),
    _("Customer notes"),
    _("Business hours (open / closed)"),
    _("Hours since created"),
    _("Hours since last change"),
    _("Hours since the customer wrote"),
    _("Minutes left on the SLA"),
    # operators
    _("is"),
    _("is not"),
    _("contains"),
    _("does not contain"),
    _("matches (regular expression)"),
    _("has"),
    _("has not"),
    _("more than"),
    _("less than"),
    _("at least"),
    _("is set"),
    _("is empty"),
    # actions
    _("Move to queue"),
    _("Assign to agent"),
    _("Add tag"),
    _("Remove tag"),
    _("Set priority"),
    _("Set status"),
    _("Reply with a canned reply"),
    _("Add an internal note"),
    _("Notify (assignee, or a user id; empty: supervisors)"),
    _("Call a webhook"),
]
