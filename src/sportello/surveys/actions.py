"""Writes: survey settings, scheduling and sending surveys, answers, opt-outs, follow-ups.

``check_*`` validates, ``do_*`` writes and emits; keyword-only arguments; nothing commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, Role, Team, User, team_member
from sportello.channels import registry
from sportello.channels.base import OffersChoices
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core import i18n, jobs
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, InvalidTransition, PermissionDenied
from sportello.core.events import emit
from sportello.customers.models import Customer
from sportello.routing.models import Queue
from sportello.surveys import links, service
from sportello.surveys.events import FollowupChanged, SurveyAnswered
from sportello.surveys.models import (
    FollowupRule,
    FollowupStatus,
    ResponseStatus,
    SurveyConfig,
    SurveyFollowup,
    SurveyKind,
    SurveyOptout,
    SurveyResponse,
)
from sportello.surveys.schemas import MAX_EXTRA_QUESTIONS, SurveyConfigData, is_low, scale

SEND_JOB = "survey_send"
CHOICE_PREFIX = "sv"
MAX_COMMENT = 2000

# Why a scheduled survey was not sent (shown to supervisors, translated in the templates).
SKIP_REASONS = {
    "no_survey": i18n.lazy("no survey applies any more"),
    "reopened": i18n.lazy("the conversation was reopened"),
    "closed": i18n.lazy("the conversation is closed"),
    "no_channel": i18n.lazy("the conversation has no channel"),
    "opted_out": i18n.lazy("the customer asked for no surveys"),
    "automated": i18n.lazy("auto-reply or bounce"),
    "period": i18n.lazy("already surveyed in the period"),
}


# ---- settings --------------------------------------------------------------------------------


def check_config(session: Session, *, brand_id: int, data: SurveyConfigData) -> None:
    if not data.name.strip():
        raise InvalidInput("a survey needs a name", field="name")
    if data.channel_id is not None:
        channel = session.get(Channel, data.channel_id)
        if channel is None or channel.brand_id != brand_id:
            raise InvalidInput("unknown channel", field="channel_id")
    if data.queue_id is not None:
        queue = session.get(Queue, data.queue_id)
        if queue is None or queue.brand_id != brand_id:
            raise InvalidInput("unknown queue", field="queue_id")
    if data.followup_team_id is not None and session.get(Team, data.followup_team_id) is None:
        raise InvalidInput("unknown team", field="followup_team_id")
    if data.followup_rule == FollowupRule.TEAM and data.followup_team_id is None:
        raise InvalidInput("choose the team that calls customers back", field="followup_team_id")
    for question in data.extra_questions:
        if not (question.it.strip() or question.en.strip()):
            raise InvalidInput("an extra question needs its text", field="extra_questions")


def do_save_config(
    session: Session,
    *,
    brand_id: int,
    data: SurveyConfigData,
    config: SurveyConfig | None = None,
) -> SurveyConfig:
    """Create a survey (``config`` None) or change one."""
    check_config(session, brand_id=brand_id, data=data)
    if config is None:
        config = SurveyConfig(brand_id=brand_id)
        session.add(config)
    values = data.model_dump()
    values["extra_questions"] = [
        {"it": q.it.strip(), "en": q.en.strip()} for q in data.extra_questions
    ]
    values["name"] = data.name.strip()
    for key, value in values.items():
        setattr(config, key, value)
    config.updated_at = utcnow()
    session.flush()
    return config


# ---- scheduling and sending ------------------------------------------------------------------


def _new_code() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, 72 bits


def do_schedule_survey(
    session: Session,
    *,
    conversation: Conversation,
    now: datetime | None = None,
    after_followup: SurveyFollowup | None = None,
) -> SurveyResponse | None:
    """Plan the survey of a resolved conversation, to go out after the configured delay (a job
    checks the rules then). None when no survey applies."""
    now = now or utcnow()
    config = service.config_for(
        session,
        brand_id=conversation.brand_id,
        channel_id=conversation.channel_id,
        queue_id=conversation.queue_id,
    )
    if config is None:
        return None
    customer = session.get(Customer, conversation.customer_id)
    language = customer.language if customer and customer.language in i18n.LANGUAGES else None
    run_at = now + timedelta(minutes=config.delay_minutes)
    response = SurveyResponse(
        brand_id=conversation.brand_id,
        config_id=config.id,
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        channel_id=conversation.channel_id,
        queue_id=conversation.queue_id,
        agent_id=conversation.assignee_id,
        kind=config.kind,
        language=language or i18n.DEFAULT_LANGUAGE,
        code=_new_code(),
        status=ResponseStatus.SCHEDULED,
        after_followup_id=after_followup.id if after_followup else None,
        scheduled_at=run_at,
        extra_answers=[],
        created_at=now,
    )
    session.add(response)
    session.flush()
    jobs.enqueue(
        session,
        SEND_JOB,
        {"response_id": response.id},
        run_at=run_at,
        unique_key=f"survey:{response.id}",
    )
    return response


def _skip(response: SurveyResponse, reason: str) -> SurveyResponse:
    response.status = ResponseStatus.SKIPPED
    response.skip_reason = reason
    return response


def skip_reason(
    session: Session, response: SurveyResponse, conversation: Conversation, now: datetime
) -> str | None:
    """The rule that stops this survey, or None to send it."""
    config = session.get(SurveyConfig, response.config_id) if response.config_id else None
    if config is None or not config.is_active:
        return "no_survey"
    if conversation.status == Status.CLOSED:
        return "closed"
    if conversation.status != Status.RESOLVED:
        return "reopened"
    if conversation.channel_id is None:
        return "no_channel"
    if service.opted_out(session, brand_id=response.brand_id, customer_id=response.customer_id):
        return "opted_out"
    automated = session.scalars(
        select(Message.meta).where(
            Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND
        )
    ).all()
    if any((meta or {}).get("automated") for meta in automated):
        return "automated"
    if response.after_followup_id is None and config.period_days > 0:
        since = now - timedelta(days=config.period_days)
        if service.surveyed_since(
            session,
            brand_id=response.brand_id,
            customer_id=response.customer_id,
            since=since,
            exclude_id=response.id,
        ):
            return "period"
    return None


def question_text(config: SurveyConfig | None, kind: SurveyKind, language: str) -> str:
    custom = ""
    if config is not None:
        custom = config.question_en if language == "en" else config.question_it
        custom = custom or config.question_it or config.question_en
    if custom.strip():
        return custom.strip()
    if kind == SurveyKind.NPS:
        return i18n.gettext("How likely are you to recommend us to a friend or colleague?")
    if kind == SurveyKind.CES:
        return i18n.gettext("How easy was it to get your request solved?")
    return i18n.gettext("How satisfied are you with the help you received?")


def scale_hint(kind: SurveyKind) -> str:
    if kind == SurveyKind.NPS:
        return i18n.gettext("0 = not at all likely, 10 = extremely likely")
    if kind == SurveyKind.CES:
        return i18n.gettext("1 = very difficult, 7 = very easy")
    return i18n.gettext("1 = very dissatisfied, 5 = very satisfied")


def choice_title(kind: SurveyKind, score: int) -> str:
    return f"{score} ★" if kind == SurveyKind.CSAT else str(score)


def do_send_survey(
    session: Session, *, response: SurveyResponse, now: datetime | None = None
) -> SurveyResponse:
    """Check the rules and send the survey as a message of its conversation, through the
    channel's normal outbound path: the link always, the scores as buttons where the channel's
    adapter offers them. Idempotent: a survey not in ``scheduled`` is left alone."""
    now = now or utcnow()
    if response.status != ResponseStatus.SCHEDULED:
        return response
    conversation = session.get(Conversation, response.conversation_id)
    if conversation is None:
        return _skip(response, "closed")
    reason = skip_reason(session, response, conversation, now)
    if reason is not None:
        return _skip(response, reason)
    config = session.get(SurveyConfig, response.config_id) if response.config_id else None
    channel = session.get(Channel, conversation.channel_id)
    assert channel is not None
    brand = session.get(Brand, response.brand_id)
    adapter = registry.get_adapter(channel.kind) if channel.kind in registry.kinds() else None
    kind = SurveyKind(response.kind)
    scores = list(scale(kind))
    buttons = isinstance(adapter, OffersChoices) and len(scores) <= adapter.max_choices
    token = i18n.current_language.set(response.language)
    try:
        link = links.url_for(response.id)
        lines = [
            i18n.gettext("Hello from %(brand)s!", brand=brand.name if brand else "Sportello"),
            question_text(config, kind, response.language),
            scale_hint(kind),
            "",
        ]
        if buttons:
            lines.append(i18n.gettext("Tap your score below, or answer here: %(url)s", url=link))
        else:
            lines.append(i18n.gettext("Answer with one tap here: %(url)s", url=link))
        lines += [
            "",
            i18n.gettext(
                "No more surveys from us? %(url)s", url=links.url_for(response.id, "/optout")
            ),
        ]
        meta: dict[str, Any] = {"survey_response_id": response.id}
        if buttons:
            meta["choices"] = [
                {"id": f"{CHOICE_PREFIX}:{response.code}:{n}", "title": choice_title(kind, n)}
                for n in scores
            ]
            meta["choices_label"] = i18n.gettext("Your score")
        message = conversations_actions.do_send_reply(
            session, conversation=conversation, author=None, text="\n".join(lines), meta=meta
        )
    finally:
        i18n.current_language.reset(token)
    expires_days = config.expires_days if config else 14
    response.status = ResponseStatus.SENT
    response.sent_at = now
    response.expires_at = now + timedelta(days=expires_days)
    response.message_id = message.id
    return response


# ---- answers ---------------------------------------------------------------------------------


class SurveyExpired(Conflict):
    pass


class AlreadyAnswered(Conflict):
    pass


def check_answer(response: SurveyResponse, score: int, now: datetime) -> None:
    if response.status == ResponseStatus.ANSWERED:
        raise AlreadyAnswered("this survey has already been answered")
    if response.status != ResponseStatus.SENT:
        raise InvalidTransition("this survey was not sent")
    if response.expires_at is not None and response.expires_at <= now:
        raise SurveyExpired("this survey has expired")
    if score not in scale(response.kind):
        raise InvalidInput("choose a score on the scale", field="score")


def _clean_extras(extra: list[str] | None) -> list[str]:
    return [a.strip()[:MAX_COMMENT] for a in (extra or [])][:MAX_EXTRA_QUESTIONS]


def do_answer_survey(
    session: Session,
    *,
    response: SurveyResponse,
    score: int,
    via: str,
    comment: str | None = None,
    extra_answers: list[str] | None = None,
    now: datetime | None = None,
) -> SurveyFollowup | None:
    """Record the score (once: a link is single-use), emit ``survey.answered``, and open a
    follow-up when the answer is unhappy and the survey's rule asks for one."""
    now = now or utcnow()
    check_answer(response, score, now)
    response.status = ResponseStatus.ANSWERED
    response.score = score
    response.answered_at = now
    response.answered_via = via
    if comment is not None and comment.strip():
        response.comment = comment.strip()[:MAX_COMMENT]
    if extra_answers:
        response.extra_answers = _clean_extras(extra_answers)
    session.flush()
    emit(
        session,
        "survey.answered",
        SurveyAnswered(
            response_id=response.id,
            survey_kind=SurveyKind(response.kind).value,
            score=score,
            conversation_id=response.conversation_id,
            customer_id=response.customer_id,
            agent_id=response.agent_id,
            queue_id=response.queue_id,
            channel_id=response.channel_id,
            brand_id=response.brand_id,
            answered_at=now,
        ),
    )
    if is_low(response.kind, score):
        return do_open_followup(session, response=response, now=now)
    return None


def do_add_comment(
    session: Session,
    *,
    response: SurveyResponse,
    comment: str,
    extra_answers: list[str] | None = None,
    now: datetime | None = None,
) -> SurveyResponse:
    """The comment (and extra answers) given after the score, once."""
    now = now or utcnow()
    if response.status != ResponseStatus.ANSWERED:
        raise InvalidTransition("give a score first")
    if response.comment or response.extra_answers:
        raise AlreadyAnswered("this survey has already been answered")
    if response.expires_at is not None and response.expires_at <= now:
        raise SurveyExpired("this survey has expired")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"text longer than {MAX_COMMENT} characters", field="comment")
    response.comment = comment.strip() or None
    response.extra_answers = _clean_extras(extra_answers)
    return response


def do_opt_out(session: Session, *, brand_id: int, customer_id: int) -> SurveyOptout:
    """The customer wants no more surveys from this brand (idempotent)."""
    existing = session.scalar(
        select(SurveyOptout).where(
            SurveyOptout.brand_id == brand_id, SurveyOptout.customer_id == customer_id
        )
    )
    if existing is not None:
        return existing
    optout = SurveyOptout(brand_id=brand_id, customer_id=customer_id)
    session.add(optout)
    session.flush()
    return optout


def do_answer_by_choice(
    session: Session, *, channel_id: int, customer_id: int, choice: str
) -> bool:
    """A survey button tapped on a channel (``sv:<code>:<score>``). False when the tap is not
    one of our surveys for this customer on this channel (it then goes to the one door). A tap
    on an answered or expired survey is taken and ignored; a first answer gets a thank-you
    message with the link for a comment."""
    parts = choice.split(":")
    if len(parts) != 3 or parts[0] != CHOICE_PREFIX or not parts[2].lstrip("-").isdigit():
        return False
    response = service.response_by_code(session, parts[1])
    if response is None or response.channel_id != channel_id:
        return False
    if response.customer_id != customer_id:
        return False
    try:
        do_answer_survey(session, response=response, score=int(parts[2]), via="button")
    except (Conflict, InvalidInput):
        return True
    conversation = session.get(Conversation, response.conversation_id)
    if conversation is not None and conversation.status != Status.CLOSED:
        token = i18n.current_language.set(response.language)
        try:
            text = i18n.gettext("Thank you for your answer!")
            config = session.get(SurveyConfig, response.config_id) if response.config_id else None
            if config is not None and (config.ask_comment or config.extra_questions):
                text += "\n" + i18n.gettext(
                    "Tell us more if you like: %(url)s", url=links.url_for(response.id)
                )
            conversations_actions.do_send_reply(
                session,
                conversation=conversation,
                author=None,
                text=text,
                meta={"survey_response_id": response.id},
            )
        finally:
            i18n.current_language.reset(token)
    return True


# ---- follow-ups ------------------------------------------------------------------------------


def _supervisor_of(session: Session, agent_id: int | None, team_id: int | None) -> int | None:
    """A supervisor in the agent's teams (or in the follow-up team)."""
    team_ids: list[int] = []
    if agent_id is not None:
        agent = session.get(User, agent_id)
        if agent is not None:
            if agent.role in (Role.SUPERVISOR,):
                return agent.id
            team_ids = [t.id for t in agent.teams]
    if team_id is not None:
        team_ids.append(team_id)
    if not team_ids:
        return None
    return session.scalar(
        select(User.id)
        .join(team_member, team_member.c.user_id == User.id)
        .where(
            team_member.c.team_id.in_(team_ids),
            User.role == Role.SUPERVISOR,
            User.is_active.is_(True),
        )
        .order_by(User.id)
        .limit(1)
    )


def _emit_followup(session: Session, followup: SurveyFollowup) -> None:
    emit(
        session,
        "survey.followup_changed",
        FollowupChanged(
            followup_id=followup.id,
            response_id=followup.response_id,
            customer_id=followup.customer_id,
            status=FollowupStatus(followup.status).value,
            assignee_id=followup.assignee_id,
            team_id=followup.team_id,
        ),
    )


def do_open_followup(
    session: Session, *, response: SurveyResponse, now: datetime | None = None
) -> SurveyFollowup | None:
    """Open the follow-up of an unhappy answer, assigned by the survey's rule, due within the
    survey's follow-up SLA. None when the rule is "none" (idempotent: one per answer)."""
    now = now or utcnow()
    existing = session.scalar(
        select(SurveyFollowup).where(SurveyFollowup.response_id == response.id)
    )
    if existing is not None:
        return existing
    config = session.get(SurveyConfig, response.config_id) if response.config_id else None
    rule = FollowupRule(config.followup_rule) if config else FollowupRule.SUPERVISOR
    if rule == FollowupRule.NONE:
        return None
    team_id = config.followup_team_id if config else None
    if team_id is None and response.queue_id is not None:
        queue = session.get(Queue, response.queue_id)
        team_id = queue.team_id if queue else None
    assignee_id: int | None = None
    if rule == FollowupRule.AGENT:
        assignee_id = response.agent_id
    elif rule == FollowupRule.SUPERVISOR:
        assignee_id = _supervisor_of(session, response.agent_id, team_id)
    hours = config.followup_sla_hours if config else 24
    followup = SurveyFollowup(
        brand_id=response.brand_id,
        response_id=response.id,
        customer_id=response.customer_id,
        conversation_id=response.conversation_id,
        status=FollowupStatus.OPEN,
        assignee_id=assignee_id,
        team_id=team_id,
        due_at=now + timedelta(hours=hours),
        outcome="",
        resurvey=True,
        created_at=now,
    )
    session.add(followup)
    session.flush()
    _emit_followup(session, followup)
    return followup


FOLLOWUP_TRANSITIONS: dict[FollowupStatus, frozenset[FollowupStatus]] = {
    FollowupStatus.OPEN: frozenset({FollowupStatus.IN_PROGRESS, FollowupStatus.DONE}),
    FollowupStatus.IN_PROGRESS: frozenset({FollowupStatus.OPEN, FollowupStatus.DONE}),
    FollowupStatus.DONE: frozenset(),
}


def check_followup_update(
    followup: SurveyFollowup,
    *,
    by: User,
    status: FollowupStatus | None,
    outcome: str | None,
    reassign: bool,
    assignee: User | None,
) -> None:
    current = FollowupStatus(followup.status)
    if current == FollowupStatus.DONE and (status is not None or outcome is not None or reassign):
        raise InvalidTransition("this follow-up is done already")
    if status is not None and status != current and status not in FOLLOWUP_TRANSITIONS[current]:
        raise InvalidTransition("this follow-up is done already")
    if status == FollowupStatus.DONE and not (outcome or followup.outcome).strip():
        raise InvalidInput("write the outcome of the call", field="outcome")
    if reassign and not by.is_supervisor and (assignee is None or assignee.id != by.id):
        raise PermissionDenied("only supervisors assign follow-ups to others")


def do_update_followup(
    session: Session,
    *,
    followup: SurveyFollowup,
    by: User,
    status: FollowupStatus | None = None,
    outcome: str | None = None,
    reassign: bool = False,
    assignee: User | None = None,
    resurvey: bool | None = None,
    now: datetime | None = None,
) -> SurveyFollowup:
    """Take (``reassign`` to oneself), reassign, start or finish a follow-up. Done: the
    outcome goes on the conversation as a note, and the customer gets the survey again if
    ``resurvey``."""
    now = now or utcnow()
    check_followup_update(
        followup, by=by, status=status, outcome=outcome, reassign=reassign, assignee=assignee
    )
    if reassign:
        followup.assignee_id = assignee.id if assignee is not None else None
    if outcome is not None:
        followup.outcome = outcome.strip()[:MAX_COMMENT]
    if resurvey is not None:
        followup.resurvey = resurvey
    if status is not None and status != followup.status:
        followup.status = status
        if status == FollowupStatus.IN_PROGRESS and followup.started_at is None:
            followup.started_at = now
        if status == FollowupStatus.DONE:
            followup.done_at = now
            if followup.assignee_id is None:
                followup.assignee_id = by.id
            _close_the_loop(session, followup, by=by, now=now)
    session.flush()
    _emit_followup(session, followup)
    return followup


def _close_the_loop(session: Session, followup: SurveyFollowup, *, by: User, now: datetime) -> None:
    conversation = (
        session.get(Conversation, followup.conversation_id) if followup.conversation_id else None
    )
    if conversation is None:
        return
    response = session.get(SurveyResponse, followup.response_id)
    token = i18n.current_language.set(by.language if by.language in i18n.LANGUAGES else "it")
    try:
        conversations_actions.do_add_note(
            session,
            conversation=conversation,
            author=by,
            text=i18n.gettext(
                "Survey follow-up done (%(kind)s %(score)s): %(outcome)s",
                kind=SurveyKind(response.kind).value.upper() if response else "",
                score=response.score if response else "",
                outcome=followup.outcome,
            ),
        )
    finally:
        i18n.current_language.reset(token)
    if followup.resurvey:
        do_schedule_survey(session, conversation=conversation, now=now, after_followup=followup)


def do_move_customer(session: Session, *, source_id: int, target_id: int) -> None:
    """A customer merged into another: their surveys, follow-ups and opt-out follow them
    (idempotent: a second run finds nothing left to move)."""
    from sqlalchemy import delete, update

    for model in (SurveyResponse, SurveyFollowup):
        session.execute(
            update(model)
            .where(model.customer_id == source_id)
            .values(customer_id=target_id)
            .execution_options(synchronize_session=False)
        )
    for optout in session.scalars(
        select(SurveyOptout).where(SurveyOptout.customer_id == source_id)
    ).all():
        if service.opted_out(session, brand_id=optout.brand_id, customer_id=target_id):
            session.execute(delete(SurveyOptout).where(SurveyOptout.id == optout.id))
        else:
            optout.customer_id = target_id
