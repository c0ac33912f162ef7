"""Messages the quality actions raise, listed with ``_()`` so that ``pybabel extract`` keeps
them in the catalogues (the pages translate them on the way out)."""

from __future__ import annotations


def _(message: str) -> str:
    return message


MESSAGES = [
    _("a calibration session needs a title"),
    _("a scorecard needs a name"),
    _("at least two reviewers must score before the reveal"),
    _("calibration session not found"),
    _("check this value"),
    _("choose a score on the scale"),
    _("choose a supervisor or an admin"),
    _("choose at least two reviewers"),
    _("choose from the list"),
    _("every criterion needs a name"),
    _("give at least one criterion a weight"),
    _("only the reviewed agent can do this"),
    _("only the reviewer scores this review"),
    _("review not found"),
    _("sampling rule not found"),
    _("say what you disagree with"),
    _("score every criterion (or mark it N/A)"),
    _("scorecard not found"),
    _("supervisors and admins only"),
    _("there is no open dispute on this review"),
    _("this calibration is closed"),
    _("this conversation has no agent to review"),
    _("this criterion cannot be N/A"),
    _("this review has been disputed already"),
    _("this review is not finished yet"),
    _("this scorecard is not active"),
    _("unknown criterion"),
    _("unknown scorecard"),
    _("write an answer for the agent"),
    _("conversation not found"),
    _("a sampling rule needs a name"),
    _("give a number from 1 to 50"),
    _("give a score from 0 to 100"),
    _("give a weight from 0 to 100"),
]
