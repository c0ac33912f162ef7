"""Writes: briefings (save, publish, read, acknowledge with the quiz, remind, the knowledge
"what changed" draft), proposals (create, vote, comment, triage), training (modules, completion,
the supervisor's approval that raises the level).

``check_*`` validates, ``do_*`` writes and emits; keyword-only arguments; nothing commits.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Team, User
from sportello.core import access, i18n
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied
from sportello.core.events import EventPayload, emit, register_event
from sportello.frontline import service
from sportello.frontline.models import (
    Briefing,
    BriefingReceipt,
    BriefingStatus,
    CompletionStatus,
    ModuleCompletion,
    ModuleKind,
    Proposal,
    ProposalComment,
    ProposalStatus,
    ProposalVote,
    TrainingModule,
)
from sportello.frontline.notify import in_language, notify
from sportello.frontline.schemas import BriefingData, ModuleData, ProposalCreate, QuizQuestion
from sportello.knowledge import markdown
from sportello.knowledge.models import Article, ArticleVersion
from sportello.routing import skills as routing_skills
from sportello.routing.models import AgentSkill, Queue, Skill

#: A knowledge article edit is "material" when this share of its text changed (or more).
MATERIAL_CHANGE = 0.05


class BriefingReceiptChanged(EventPayload):
    briefing_id: int
    user_id: int
    state: str  # read, acknowledged, failed


class ProposalChanged(EventPayload):
    proposal_id: int
    status: str
    votes: int


register_event("briefing.receipt_changed", BriefingReceiptChanged)
register_event("proposal.changed", ProposalChanged)

_ = i18n.lazy


# ---- briefings -------------------------------------------------------------------------------


def check_quiz(quiz: list[QuizQuestion], field: str = "quiz") -> list[dict[str, Any]]:
    if len(quiz) > 5:
        raise InvalidInput("a quiz has at most five questions", field=field)
    out = []
    for q in quiz:
        options = [o.strip() for o in q.options if o.strip()]
        if len(options) < 2:
            raise InvalidInput("a question needs at least two answers", field=field)
        if q.answer >= len(options):
            raise InvalidInput("mark which answer is right", field=field)
        out.append({"question": q.question.strip(), "options": options, "answer": q.answer})
    return out


def check_briefing(session: Session, data: BriefingData) -> list[dict[str, Any]]:
    if not data.title.strip():
        raise InvalidInput("a briefing needs a title", field="title")
    if data.team_id is not None and session.get(Team, data.team_id) is None:
        raise InvalidInput("unknown team", field="team_id")
    if data.skill_id is not None and session.get(Skill, data.skill_id) is None:
        raise InvalidInput("unknown skill", field="skill_id")
    if data.queue_id is not None and session.get(Queue, data.queue_id) is None:
        raise InvalidInput("unknown queue", field="queue_id")
    if data.valid_from and data.valid_until and data.valid_until <= data.valid_from:
        raise InvalidInput("the end comes after the start", field="valid_until")
    if (
        data.campaign_starts_at
        and data.campaign_ends_at
        and data.campaign_ends_at <= data.campaign_starts_at
    ):
        raise InvalidInput("the end comes after the start", field="campaign_ends_at")
    for article_id in data.article_ids:
        if session.get(Article, article_id) is None:
            raise InvalidInput("unknown article", field="article_ids")
    return check_quiz(data.quiz)


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC (pages attach the user's zone first)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def do_save_briefing(
    session: Session,
    *,
    brand_id: int,
    data: BriefingData,
    by: User,
    briefing: Briefing | None = None,
) -> Briefing:
    """Create a draft briefing, or change one (a published one keeps its receipts)."""
    service.require_supervisor(by)
    quiz = check_briefing(session, data)
    if briefing is None:
        briefing = Briefing(brand_id=brand_id, created_by_id=by.id)
        session.add(briefing)
    elif briefing.status == BriefingStatus.ARCHIVED:
        raise Conflict("this briefing is archived")
    briefing.title = data.title.strip()
    briefing.body_md = data.body_md
    briefing.body_html = markdown.to_html(data.body_md)
    briefing.required = data.required
    briefing.team_id = data.team_id
    briefing.skill_id = data.skill_id
    briefing.queue_id = data.queue_id
    briefing.valid_from = _aware(data.valid_from)
    briefing.valid_until = _aware(data.valid_until)
    briefing.campaign = data.campaign.strip()
    briefing.campaign_starts_at = _aware(data.campaign_starts_at)
    briefing.campaign_ends_at = _aware(data.campaign_ends_at)
    briefing.article_ids = list(dict.fromkeys(data.article_ids))
    briefing.attachments = [a.model_dump() for a in data.attachments]
    briefing.quiz = quiz
    briefing.updated_at = utcnow()
    session.flush()
    return briefing


def ensure_receipts(session: Session, briefing: Briefing, users: list[User]) -> list[User]:
    """Receipt rows for ``users`` that have none yet; returns those newly added."""
    have = set(
        session.scalars(
            select(BriefingReceipt.user_id).where(BriefingReceipt.briefing_id == briefing.id)
        )
    )
    added = [u for u in users if u.id not in have]
    session.add_all([BriefingReceipt(briefing_id=briefing.id, user_id=u.id) for u in added])
    return added


def do_publish_briefing(session: Session, *, briefing: Briefing, by: User) -> int:
    """Publish: every member of the audience gets a receipt and a notification. Returns how
    many people it reached."""
    service.require_supervisor(by)
    if briefing.status == BriefingStatus.PUBLISHED:
        raise Conflict("this briefing is published already")
    if briefing.status == BriefingStatus.ARCHIVED:
        raise Conflict("this briefing is archived")
    briefing.status = BriefingStatus.PUBLISHED
    briefing.published_at = utcnow()
    people = [u for u in service.audience_all(session, briefing) if u.id != by.id]
    ensure_receipts(session, briefing, people)
    for person in people:
        notify(
            session,
            person.id,
            "briefing",
            briefing.title,
            f"/briefings/{briefing.id}",
        )
    session.flush()
    return len(people)


def do_archive_briefing(session: Session, *, briefing: Briefing, by: User) -> Briefing:
    service.require_supervisor(by)
    briefing.status = BriefingStatus.ARCHIVED
    briefing.updated_at = utcnow()
    return briefing


def _receipt_for_update(session: Session, briefing: Briefing, user: User) -> BriefingReceipt:
    row = service.receipt(session, briefing.id, user.id)
    if row is None:
        row = BriefingReceipt(briefing_id=briefing.id, user_id=user.id)
        session.add(row)
        session.flush()
    return row


def do_mark_read(session: Session, *, briefing: Briefing, user: User) -> BriefingReceipt:
    row = _receipt_for_update(session, briefing, user)
    if row.read_at is None:
        row.read_at = utcnow()
        emit(
            session,
            "briefing.receipt_changed",
            BriefingReceiptChanged(briefing_id=briefing.id, user_id=user.id, state="read"),
        )
    return row


def grade(quiz: list[dict[str, Any]], answers: list[int]) -> int:
    return sum(1 for i, q in enumerate(quiz) if i < len(answers) and answers[i] == int(q["answer"]))


def do_acknowledge(
    session: Session, *, briefing: Briefing, user: User, answers: list[int]
) -> tuple[bool, int]:
    """Acknowledge a briefing; with a quiz, only when every answer is right. Returns
    (passed, score). A failed try is counted and may be repeated."""
    if briefing.status != BriefingStatus.PUBLISHED:
        raise Conflict("this briefing is not published")
    quiz = list(briefing.quiz or [])
    if quiz and len(answers) != len(quiz):
        raise InvalidInput("answer every question", field="answers")
    row = _receipt_for_update(session, briefing, user)
    now = utcnow()
    if row.read_at is None:
        row.read_at = now
    if row.acknowledged_at is not None:
        return True, row.last_score or 0
    score = grade(quiz, answers)
    row.attempts += 1
    row.last_score = score
    passed = score == len(quiz)
    if passed:
        row.acknowledged_at = now
        if quiz:
            row.passed_at = now
    emit(
        session,
        "briefing.receipt_changed",
        BriefingReceiptChanged(
            briefing_id=briefing.id, user_id=user.id, state="acknowledged" if passed else "failed"
        ),
    )
    return passed, score


def do_remind(session: Session, *, briefing: Briefing, by: User) -> int:
    """Remind whoever has not acknowledged yet (a notification, e-mailed when away)."""
    service.require_supervisor(by)
    if briefing.status != BriefingStatus.PUBLISHED:
        raise Conflict("this briefing is not published")
    ensure_receipts(session, briefing, service.audience_all(session, briefing))
    session.flush()
    now = utcnow()
    count = 0
    for line in service.receipts(session, briefing):
        row = line.receipt
        if row is None or row.acknowledged_at is not None or line.user.id == by.id:
            continue
        row.reminded_at = now
        notify(
            session, line.user.id, "briefing_reminder", briefing.title, f"/briefings/{briefing.id}"
        )
        count += 1
    return count


def diff_text(old: str, new: str, *, old_label: str, new_label: str) -> tuple[str, float]:
    """A unified diff of two texts and the share of the text that changed (0..1)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    diff = "\n".join(
        difflib.unified_diff(
            old_lines, new_lines, fromfile=old_label, tofile=new_label, lineterm="", n=1
        )
    )
    changed = 1.0 - difflib.SequenceMatcher(None, old, new, autojunk=False).ratio()
    return diff, changed


def do_propose_article_briefing(
    session: Session, *, article_id: int, version: int, by_user_id: int | None = None
) -> Briefing | None:
    """After a knowledge article's edit: when it changed materially, a draft briefing "what
    changed" with the diff, for the supervisors to review and publish. Idempotent per version."""
    article = session.get(Article, article_id)
    if article is None or version < 2:
        return None
    rows = {
        v.version: v
        for v in session.scalars(
            select(ArticleVersion).where(
                ArticleVersion.article_id == article_id,
                ArticleVersion.version.in_((version - 1, version)),
            )
        )
    }
    old, new = rows.get(version - 1), rows.get(version)
    if old is None or new is None:
        return None
    existing = session.scalar(
        select(Briefing.id).where(
            Briefing.source_article_id == article_id, Briefing.status == BriefingStatus.DRAFT
        )
    )
    diff, changed = diff_text(
        f"# {old.title}\n\n{old.body_md}",
        f"# {new.title}\n\n{new.body_md}",
        old_label=f"v{version - 1}",
        new_label=f"v{version}",
    )
    if changed < MATERIAL_CHANGE or not diff:
        return None
    token = i18n.current_language.set(
        article.language if article.language in i18n.LANGUAGES else "it"
    )
    try:  # written in the article's language
        title = (i18n.gettext("What changed: %(title)s") % {"title": new.title})[:200]
        intro = i18n.gettext(
            "The article **%(title)s** changed (version %(version)s). Read what changed before "
            "you answer customers about it."
        ) % {"title": new.title, "version": version}
    finally:
        i18n.current_language.reset(token)
    body = f"{intro}\n\n```diff\n{diff}\n```\n"
    if existing is not None:
        briefing = session.get(Briefing, existing)
        assert briefing is not None
        briefing.title = title
        briefing.body_md = body
        briefing.body_html = markdown.to_html(body)
        briefing.updated_at = utcnow()
        return briefing
    briefing = Briefing(
        brand_id=article.brand_id,
        title=title,
        body_md=body,
        body_html=markdown.to_html(body),
        status=BriefingStatus.DRAFT,
        article_ids=[article_id],
        source_article_id=article_id,
        created_by_id=by_user_id,
    )
    session.add(briefing)
    session.flush()
    for supervisor in session.scalars(
        select(User).where(User.is_active.is_(True), User.role.in_(("supervisor", "admin")))
    ):
        notify(
            session,
            supervisor.id,
            "briefing_draft",
            in_language(session, supervisor.id, "What changed: %(title)s", title=new.title),
            f"/briefings/{briefing.id}",
        )
    return briefing


# ---- proposals -------------------------------------------------------------------------------


def do_create_proposal(
    session: Session, *, brand_id: int, author: User, data: ProposalCreate
) -> Proposal:
    if not data.title.strip():
        raise InvalidInput("a proposal needs a title", field="title")
    conversation_ids = []
    for number in dict.fromkeys(data.conversation_numbers):
        try:
            conversation = access.access_conversation_by_number(session, author, number)
        except Exception:
            raise InvalidInput("unknown conversation", field="conversation_numbers") from None
        conversation_ids.append(conversation.id)
    proposal = Proposal(
        brand_id=brand_id,
        author_id=author.id,
        title=data.title.strip(),
        body=data.body.strip(),
        topic=data.topic,
        conversation_ids=conversation_ids,
    )
    session.add(proposal)
    session.flush()
    emit(
        session,
        "proposal.changed",
        ProposalChanged(proposal_id=proposal.id, status=proposal.status.value, votes=0),
    )
    return proposal


def do_toggle_vote(session: Session, *, proposal: Proposal, user: User) -> bool:
    """Upvote (or take the vote back). Authors do not vote for themselves. Returns voted."""
    if proposal.author_id == user.id:
        raise PermissionDenied("you cannot vote for your own proposal")
    row = session.get(ProposalVote, (proposal.id, user.id))
    if row is None:
        session.add(ProposalVote(proposal_id=proposal.id, user_id=user.id))
        proposal.votes += 1
        voted = True
    else:
        session.delete(row)
        proposal.votes = max(0, proposal.votes - 1)
        voted = False
    emit(
        session,
        "proposal.changed",
        ProposalChanged(
            proposal_id=proposal.id, status=proposal.status.value, votes=proposal.votes
        ),
    )
    return voted


def do_comment(session: Session, *, proposal: Proposal, user: User, body: str) -> ProposalComment:
    text = body.strip()
    if not text:
        raise InvalidInput("write a comment", field="body")
    comment = ProposalComment(proposal_id=proposal.id, author_id=user.id, body=text[:2000])
    session.add(comment)
    if proposal.author_id and proposal.author_id != user.id:
        notify(
            session,
            proposal.author_id,
            "proposal_comment",
            in_language(
                session, proposal.author_id, "%(name)s commented on your proposal", name=user.name
            ),
            f"/proposals/{proposal.id}",
        )
    session.flush()
    return comment


def do_triage(
    session: Session, *, proposal: Proposal, by: User, status: ProposalStatus, answer: str = ""
) -> Proposal:
    """A supervisor moves a proposal on (a declined one needs the reason) and the author is
    told."""
    service.require_supervisor(by)
    text = answer.strip()
    if status == ProposalStatus.DECLINED and not text:
        raise InvalidInput("say why the proposal is declined", field="answer")
    proposal.status = status
    if text:
        proposal.answer = text[:5000]
    now = utcnow()
    if proposal.answered_at is None and status != ProposalStatus.NEW:
        proposal.answered_at = now
        proposal.answered_by_id = by.id
    proposal.updated_at = now
    if proposal.author_id and proposal.author_id != by.id:
        notify(
            session,
            proposal.author_id,
            "proposal_answer",
            in_language(
                session,
                proposal.author_id,
                "Your proposal \u201c%(title)s\u201d has an answer",
                title=proposal.title,
            ),
            f"/proposals/{proposal.id}",
        )
    emit(
        session,
        "proposal.changed",
        ProposalChanged(proposal_id=proposal.id, status=status.value, votes=proposal.votes),
    )
    return proposal


# ---- training --------------------------------------------------------------------------------


def do_save_module(
    session: Session,
    *,
    brand_id: int,
    data: ModuleData,
    by: User,
    module: TrainingModule | None = None,
) -> TrainingModule:
    service.require_supervisor(by)
    if data.skill_id is not None and session.get(Skill, data.skill_id) is None:
        raise InvalidInput("unknown skill", field="skill_id")
    if data.article_id is not None and session.get(Article, data.article_id) is None:
        raise InvalidInput("unknown article", field="article_id")
    if data.kind == ModuleKind.ARTICLE and data.article_id is None:
        raise InvalidInput("choose the article", field="article_id")
    if data.kind == ModuleKind.VIDEO and not data.url.startswith(("https://", "http://")):
        raise InvalidInput("give the video's web address", field="url")
    quiz = check_quiz(data.quiz)
    if data.kind == ModuleKind.QUIZ and not quiz:
        raise InvalidInput("a quiz needs at least one question", field="quiz")
    if module is None:
        module = TrainingModule(brand_id=brand_id)
        session.add(module)
    module.title = data.title.strip()
    module.kind = data.kind
    module.skill_id = data.skill_id
    module.level = data.level
    module.description = data.description.strip()
    module.article_id = data.article_id
    module.url = data.url.strip()
    module.quiz = quiz
    module.raises_level = data.raises_level
    module.certificate_days = data.certificate_days
    module.onboarding_step = data.onboarding_step
    module.is_active = data.is_active
    session.flush()
    return module


def do_complete_module(
    session: Session, *, module: TrainingModule, user: User, answers: list[int]
) -> ModuleCompletion:
    """An agent completes a module (a quiz must be passed, all answers right). When it would
    raise the agent's level on its skill, the completion waits for a supervisor's approval."""
    if not module.is_active:
        raise Conflict("this module is retired")
    quiz = list(module.quiz or [])
    if quiz and len(answers) != len(quiz):
        raise InvalidInput("answer every question", field="answers")
    score = grade(quiz, answers) if quiz else None
    if quiz and score != len(quiz):
        raise InvalidInput("not passed: some answers are wrong, try again", field="answers")
    current = None
    if module.skill_id is not None:
        current = session.scalar(
            select(AgentSkill.level).where(
                AgentSkill.user_id == user.id, AgentSkill.skill_id == module.skill_id
            )
        )
    pending = module.raises_level and module.skill_id is not None and (current or 0) < module.level
    now = utcnow()
    completion = ModuleCompletion(
        module_id=module.id,
        user_id=user.id,
        status=CompletionStatus.PENDING if pending else CompletionStatus.PASSED,
        score=score,
        completed_at=now,
        certificate_expires_at=(
            now + timedelta(days=module.certificate_days) if module.certificate_days else None
        ),
    )
    session.add(completion)
    session.flush()
    if pending:
        for supervisor in session.scalars(
            select(User).where(User.is_active.is_(True), User.role.in_(("supervisor", "admin")))
        ):
            notify(
                session,
                supervisor.id,
                "training_approval",
                in_language(
                    session,
                    supervisor.id,
                    "%(name)s passed \u201c%(title)s\u201d: approve the new level",
                    name=user.name,
                    title=module.title,
                ),
                "/training/approvals",
            )
    return completion


def do_decide_completion(
    session: Session, *, completion: ModuleCompletion, by: User, approve: bool
) -> ModuleCompletion:
    """A supervisor approves (the agent's level on the skill is raised, the router uses it) or
    keeps the level."""
    service.require_supervisor(by)
    if completion.status != CompletionStatus.PENDING:
        raise Conflict("this completion has been decided already")
    module = service.get_module(session, completion.module_id)
    agent = session.get(User, completion.user_id)
    if agent is None:
        raise InvalidInput("unknown user", field="user_id")
    if approve and module.skill_id is not None:
        skill = session.get(Skill, module.skill_id)
        if skill is not None:
            routing_skills.do_set_agent_skill(session, user=agent, skill=skill, level=module.level)
    completion.status = CompletionStatus.APPROVED if approve else CompletionStatus.REJECTED
    completion.decided_by_id = by.id
    completion.decided_at = utcnow()
    notify(
        session,
        agent.id,
        "training_decision",
        in_language(
            session,
            agent.id,
            "Your level was raised after \u201c%(title)s\u201d"
            if approve
            else "Your level stays as it is after \u201c%(title)s\u201d",
            title=module.title,
        ),
        "/training",
    )
    return completion


def do_delete_briefing(session: Session, *, briefing: Briefing, by: User) -> None:
    """Delete a draft (a published briefing is archived instead, to keep its receipts)."""
    service.require_supervisor(by)
    if briefing.status != BriefingStatus.DRAFT:
        raise Conflict("only a draft can be deleted; archive a published briefing")
    session.execute(delete(Briefing).where(Briefing.id == briefing.id))
