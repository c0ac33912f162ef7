"""Labels and messages of imports, listed with ``_()`` so that ``pybabel extract`` keeps them in
the catalogues (the page and the report translate them on the way out)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


FORMATS = {
    "csv-customers": _("Customers (CSV)"),
    "csv-conversations": _("Conversations (CSV, one message a row)"),
    "zendesk": _("Zendesk (JSON export)"),
    "freshdesk": _("Freshdesk (JSON, API v2)"),
    "zammad": _("Zammad (JSON, API)"),
}
STATUSES = {
    "checking": _("Checking"),
    "checked": _("Checked: ready to import"),
    "queued": _("Queued"),
    "running": _("Importing"),
    "done": _("Done"),
    "failed": _("Failed"),
}
WHAT = {
    "customers": _("customers"),
    "conversations": _("conversations"),
    "messages": _("messages"),
}
FIELDS = {
    "external_id": _("Code"),
    "name": _("Name"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "email": _("E-mail"),
    "phone": _("Phone"),
    "company": _("Company"),
    "language": _("Language"),
    "notes": _("Notes"),
    "conversation": _("Conversation"),
    "message_id": _("Message id"),
    "customer_name": _("Customer"),
    "subject": _("Subject"),
    "date": _("Date"),
    "direction": _("Direction"),
    "author": _("Author"),
    "text": _("Text"),
    "status": _("Status"),
    "priority": _("Priority"),
    "tags": _("Tags"),
}
MESSAGES = [
    _("unknown import format"),
    _("the file is empty"),
    _("the file is too large (at most 100 MB)"),
    _("the file's type does not match the chosen format"),
    _("this is not a text file: export it as CSV or JSON"),
    _("the file's text encoding is not recognised: save it as UTF-8"),
    _("the file is not valid JSON"),
    _("the file is not a readable CSV"),
    _("the file has no e-mail or phone column"),
    _("the file needs a conversation, a text and an e-mail or phone column"),
    _("the uploaded file is missing"),
    _("the import stopped on an unexpected error"),
    _("the import stopped on an unexpected error: %(detail)s"),
    _("this import cannot be started now"),
    _("import not found"),
    _("choose a file"),
    _("the column mapping is not valid JSON"),
    _("not valid JSON: %(detail)s"),
    _("a record is not a JSON object"),
    _("a record of an unknown kind was left out"),
    _("a user without an id was left out"),
    _("a contact without an id was left out"),
    _("a ticket without an id or a requester was left out"),
    _("a ticket without an id, a requester or a date was left out"),
    _("a ticket without an id, a customer or a date was left out"),
    _("ticket %(id)s has no valid creation date"),
    _("this line cannot be read: %(detail)s"),
    _("no e-mail address or phone number: line left out"),
    _("no conversation key: line left out"),
    _("the date %(value)s is not readable"),
    _("conversation %(key)s changes customer: line left out"),
    _("a duplicate row was left out"),
    _("a duplicate of line %(other)s"),
    _("conversation %(id)s has no messages: left out"),
    _("the e-mail address %(value)s is not valid"),
    _("the phone number %(value)s is not valid"),
]
