"""Messages the front line's actions raise or write, listed with ``_()`` so that ``pybabel
extract`` keeps them in the catalogues (pages translate them on the way out, see
web/messages.py; notifications are translated into the reader's language by notify.py)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("a briefing needs a title"),
    _("a proposal needs a title"),
    _("a question needs at least two answers"),
    _("a question needs its text"),
    _("a quiz has at most five questions"),
    _("a quiz needs at least one question"),
    _("answer every question"),
    _("briefing not found"),
    _("check this value"),
    _("choose from the list"),
    _("choose the article"),
    _("completion not found"),
    _("give a date and time"),
    _("give a whole number"),
    _("give conversation numbers, separated by commas"),
    _("give the attachment's web address"),
    _("give the video's web address"),
    _("mark which answer is right"),
    _("not passed: some answers are wrong, try again"),
    _("notification not found"),
    _("only a draft can be deleted; archive a published briefing"),
    _("page not found"),
    _("proposal not found"),
    _("read and acknowledge the required briefing first"),
    _("say why the proposal is declined"),
    _("supervisors only"),
    _("the end comes after the start"),
    _("this briefing is archived"),
    _("this briefing is not published"),
    _("this briefing is published already"),
    _("this completion has been decided already"),
    _("this module is retired"),
    _("training module not found"),
    _("unknown article"),
    _("unknown conversation"),
    _("unknown queue"),
    _("unknown skill"),
    _("unknown team"),
    _("unknown user"),
    _("write a comment"),
    _("you cannot vote for your own proposal"),
    # notifications and e-mails
    _("%(name)s commented on your proposal"),
    _("%(name)s passed \u201c%(title)s\u201d: approve the new level"),
    _("Open it:"),
    _("What changed: %(title)s"),
    _(
        "The article **%(title)s** changed (version %(version)s). Read what changed before "
        "you answer customers about it."
    ),
    _("You have a new notification in Sportello:"),
    _("Your level stays as it is after \u201c%(title)s\u201d"),
    _("Your level was raised after \u201c%(title)s\u201d"),
    _("Your proposal \u201c%(title)s\u201d has an answer"),
]
