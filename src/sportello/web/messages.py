"""Messages raised by actions and services that the console shows to users.

Actions raise errors with English text; the pages translate them on the way out
(``web.helpers.user_errors``, ``error.html``). Listing them here with ``_()`` lets
``pybabel extract`` keep them in the catalogues.
"""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("write a reply first"),
    _("a note needs text"),
    _("this conversation is closed; replies are no longer possible"),
    _("this conversation has no channel to reply on"),
    _("a closed conversation cannot be reassigned"),
    _("that user is not active"),
    _("that user does not exist or is not active"),
    _("choose an agent"),
    _("choose a queue"),
    _("choose a team"),
    _("choose the customer to merge"),
    _("a customer cannot be merged into itself"),
    _("one of the customers was already merged"),
    _("conversation not found"),
    _("customer not found"),
    _("queue not found"),
    _("attachment not found"),
    _("user not found"),
    _("team not found"),
    _("channel not found"),
    _("no such inbox view"),
    _("no such channel kind"),
    _("the file of this attachment is missing"),
    _("please log in"),
    _("supervisors and admins only"),
    _("admins only"),
    _("you cannot demote or deactivate yourself"),
    _("a user needs a name"),
    _("a team needs a name"),
    _("a queue needs a name"),
    _("a channel needs a name"),
    _("a password needs at least 10 characters"),
    _("language must be one of it, en"),
    _("at most 20 tags"),
    _("the reply URL must start with http:// or https://"),
    _("the form expired or came from another site: reload the page and retry"),
    _("invalid page cursor"),
]

# What the messaging adapters' configure() and the provider actions raise (channels.pages).
CHANNEL_MESSAGES = [
    _("give the phone number ID from Meta's app"),
    _("give a permanent access token"),
    _("give the app secret (to check webhooks)"),
    _("the API base must be an http(s) URL"),
    _("the WhatsApp Business Account ID is a number"),
    _("give the bot token from @BotFather"),
    _("give the account SID"),
    _("give the auth token"),
    _("give the number to send from"),
    _("give an http(s) URL"),
    _("give the WhatsApp Business Account ID first: templates belong to it"),
    _("the template list points to another host"),
    _("WhatsApp answered the template list without data"),
    _("WhatsApp answered with something other than JSON"),
    _("choose one of the channel's approved templates"),
    _("fill in every parameter of the template"),
    _("a template parameter is too long"),
    _("a template parameter cannot contain new lines, tabs or more than four spaces in a row"),
    _("this channel sends no templates"),
    _("fill in the header parameter of the template"),
    _("the template's header is too long: WhatsApp allows 60 characters"),
    _("give the link of the template's header file (or its WhatsApp media ID)"),
    _("the header file must be an http(s) link or a WhatsApp media ID"),
    _("fill in the link ending of every button"),
    _("a button's link ending cannot contain spaces"),
    _("a button's link is too long"),
    _("a field is too long"),
]

# The status transitions the model refuses (conversations.models.TRANSITIONS).
TRANSITION_MESSAGES = [
    _("a open conversation cannot become new"),
    _("a pending conversation cannot become new"),
    _("a resolved conversation cannot become new"),
    _("a resolved conversation cannot become pending"),
    _("a closed conversation cannot become new"),
    _("a closed conversation cannot become open"),
    _("a closed conversation cannot become pending"),
    _("a closed conversation cannot become resolved"),
]

# Two-factor sign-in (accounts.actions, web.auth).
TWO_FACTOR_MESSAGES = [
    _("enter the code from your authenticator app"),
    _("wrong code"),
    _("two-factor sign-in is already on"),
    _("two-factor sign-in is off"),
    _("start again: scan the new QR code"),
    _("that code is not right: check the time on your phone"),
    _("wrong password"),
    _("your role must sign in with a second factor: it cannot be switched off"),
    _("your role must sign in with a second factor: set it up to continue"),
    _("a value is out of range"),
]
