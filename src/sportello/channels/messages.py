"""What the channels raise and store, listed for the catalogues (``pybabel extract`` reads the
``_()`` calls): delivery failure reasons, the composer's warnings, connection test verdicts and
form errors. They are English in the code and shown translated by the pages
(``channels/_reason.html``, the field errors)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


DELIVERY_REASONS = [
    _("this API channel has no reply URL: set one in Administration → Channels"),
    _("the reply URL could not be reached"),
    _("the reply URL is not answering right now: it will be retried"),
    _("the reply URL refused the message"),
    _("a web form cannot carry replies: answer this customer by email"),
    _("this customer has no email address to reply to"),
    _("this mailbox has no outgoing mail server (SMTP)"),
    _("this customer has no WhatsApp number"),
    _("the 24-hour window has closed: only approved templates can be sent"),
    _("the 24-hour window has closed and this number has no approved templates"),
    _("WhatsApp could not be reached"),
    _("WhatsApp refused the request"),
    _("this customer has no Telegram chat"),
    _("Telegram could not be reached"),
    _("Telegram refused the request"),
    _("this customer has no phone number"),
    _("the SMS provider could not be reached"),
    _("the SMS provider refused the message"),
    _("files cannot be sent by SMS from Sportello: share a link instead"),
    _("nothing to send"),
    _("the channel of this conversation was removed"),
    _("this channel cannot carry replies"),
    _("this channel is switched off"),
    _("this channel cannot reach this customer"),
    _("the SMTP server refused the recipient"),
    _("the SMTP server refused the user name or password"),
    _("the SMTP server refused the message"),
    _("the SMTP server does not support what was asked"),
    _("the SMTP server closed the connection"),
    _("the SMTP server reported an error"),
    _("the IMAP server refused the user name or password"),
    _("the IMAP server does not support what was asked"),
    _("the IMAP server closed the connection"),
    _("the IMAP server reported an error"),
    _("the TLS certificate of the mail server is not trusted"),
    _("TLS with the mail server failed: is the security setting right?"),
    _("the mail server's host name was not found"),
    _("the mail server refused the connection: is the port right?"),
    _("the mail server did not answer in time"),
    _("the mail server cannot be reached"),
    _("the mail server reported an error"),
    _("the SMTP server answered the test with an error"),
    _("inline delivery failed"),
    _("the message could not be delivered to this number (not on WhatsApp, or an old app)"),
    _("WhatsApp does not support this message type"),
    _("the access token expired or is invalid: update the channel's settings"),
]

CONNECTION_TESTS = [
    _("SMTP %(server)s: connected (authenticated)"),
    _("SMTP %(server)s: connected (no authentication)"),
    _("IMAP %(server)s: connected, %(count)s messages in %(folder)s, IDLE supported"),
    _("IMAP %(server)s: connected, %(count)s messages in %(folder)s, no IDLE: polling"),
    _("IMAP folder %(folder)s does not exist"),
    _("IMAP folder %(folder)s cannot be opened"),
]

FORM_ERRORS = [
    _("this channel has no generated secrets to replace"),
    _("the bot cannot answer on this kind of channel"),
    _("the confidence threshold is a number from 0 to 100"),
    _("at most 30 handover words, each up to 60 characters"),
    _("the greeting is too long (at most 1000 characters)"),
    _("the bot's name is too long (at most 80 characters)"),
    _(
        "this channel is used by %(conversations)s conversations and %(messages)s messages: "
        "deactivate it instead"
    ),
    _("only a reply that could not be delivered can be sent again"),
    _("this kind of channel has no such setting"),
    _("message not found"),
    _("give a port number from 1 to 65535"),
    _("give a number of seconds from 5 to 3600"),
    _("give a number from 1 to 10000"),
    _("give a number of minutes from 1 to 1440"),
    _("give a whole number in the allowed range"),
    _("choose one of the options offered"),
    _("give a server name such as mail.example.it"),
    _("give the mailbox's email address, e.g. info@negozio.it"),
    _("name the folder to move processed mail to"),
    _("not a valid folder name"),
    _("give the IMAP password"),
    _("the colour must look like #1a2b3c"),
    _("pre-chat form: off, optional or required"),
    _("upload limit: a number of megabytes"),
    _("upload limit: between 0 and 100 MB"),
    _("write each site as an address such as https://www.example.it"),
    _("the opening hours are not valid: copy them from a queue's business hours"),
]
