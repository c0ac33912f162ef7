"""Messages the campaign actions raise, listed with ``_()`` so that ``pybabel extract`` keeps
them in the catalogues (the pages translate them on the way out, see web/messages.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("a campaign needs a name"),
    _("a list needs a name"),
    _("a started campaign keeps its kind, list, channel, purpose and legal basis"),
    _("a template parameter is empty for this contact"),
    _("campaign not found"),
    _("choose a channel of this kind"),
    _("choose a list"),
    _("choose one of the campaign's dispositions"),
    _("choose one of the channel's approved templates"),
    _("choose the column with the phone number or the email"),
    _("choose the legal basis before starting"),
    _("contact not found"),
    _("each disposition needs a label"),
    _("each disposition needs its own short code"),
    _("entry not found"),
    _("from 1 to 20 attempts"),
    _("from 1 to 6000 messages a minute"),
    _("give a phone number or an email address"),
    _("give a whole number"),
    _("give the day and time of the call back"),
    _("give the hours as HH:MM, from before until"),
    _("list not found"),
    _("outside the calling window: not now"),
    _("say where the consent was given"),
    _("the call back must be in the future"),
    _("the file has no column with this name"),
    _("the list has no column with this name"),
    _("the list has too many rows: split it"),
    _("the template needs more parameters"),
    _("the file is empty"),
    _("the file is too large"),
    _("the first row must name the columns"),
    _("this campaign is finished"),
    _("this campaign is not running"),
    _("this campaign is running already"),
    _("this campaign sends messages: there is nothing to call"),
    _("this channel sends no templates"),
    _("this contact is not on your screen"),
    _("this contact may not be called: it is blocked"),
    _("this is not a CSV file"),
    _("this is not an Excel (.xlsx) file"),
    _("unknown customer"),
    _("unknown list"),
    _("unknown time zone"),
    _("write the message"),
    _("write the text the customer was shown"),
    # import problems and block reasons (shown in reports)
    _("malformed row"),
    _("wrong number of columns"),
    _("not a phone number"),
    _("not an email address"),
    _("no phone number nor email"),
    _("duplicate"),
    _("unknown outcome"),
]
