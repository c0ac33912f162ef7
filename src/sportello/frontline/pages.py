"""Front line pages: briefings (write, publish, who has read them live, remind; the agent's read,
quiz and acknowledgement, the required-briefing overlay on every page), proposals (from anywhere
in the console; votes, comments, triage, the report), training (modules, the onboarding path,
approvals, certificates), and the notification bell."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sportello.frontline import actions, handlers, notify, service
from sportello.frontline.models import (
    Briefing,
    BriefingStatus,
    CompletionStatus,
    ModuleKind,
    ProposalStatus,
    ProposalTopic,
    TrainingModule,
)
from sportello.frontline.schemas import (
    Attachment,
    BriefingData,
    ModuleData,
    ProposalCreate,
    QuizQuestion,
)
from sportello.knowledge.models import Article
from sportello.routing import service as routing_service
from sportello.routing.models import Skill
from sportello.web.auth import CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, local_path, see_other
from sportello.web.render import render

__all__ = ["handlers", "router"]  # handlers: importing it registers the wiring

router = APIRouter(dependencies=[CsrfChecked])

FormData = dict[str, Any]


async def _form(request: Request) -> FormData:
    form = await request.form()
    out: FormData = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key in out:
                prev = out[key]
                out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                out[key] = value
    return out


Form = Annotated[FormData, Depends(_form)]
ERRORS = (InvalidInput, Conflict, PermissionDenied)


def _str(form: FormData, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[-1]
    return str(value).strip()


def _optional_id(form: FormData, name: str) -> int | None:
    raw = _str(form, name)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 2**31 - 1:
        raise InvalidInput("choose from the list", field=name)
    return int(raw)


def _when(form: FormData, name: str, tz: str = "Europe/Rome") -> datetime | None:
    """A ``datetime-local`` field, in the user's time zone."""
    raw = _str(form, name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("give a date and time", field=name) from None
    if value.tzinfo is None:
        try:
            value = value.replace(tzinfo=ZoneInfo(tz))
        except (ValueError, KeyError):
            value = value.replace(tzinfo=ZoneInfo("Europe/Rome"))
    return value


def _quiz(form: FormData) -> list[QuizQuestion]:
    quiz = []
    for i in range(5):
        question = _str(form, f"q{i}")
        options = [_str(form, f"q{i}_o{j}") for j in range(4)]
        options = [o for o in options if o]
        if not question and not options:
            continue
        if not question:
            raise InvalidInput("a question needs its text", field=f"q{i}")
        raw = _str(form, f"q{i}_answer") or "0"
        if not raw.isdigit():
            raise InvalidInput("mark which answer is right", field=f"q{i}_answer")
        try:
            quiz.append(QuizQuestion(question=question, options=options, answer=int(raw)))
        except ValidationError:
            raise InvalidInput("a question needs at least two answers", field=f"q{i}") from None
    return quiz


def _answers(form: FormData, count: int) -> list[int]:
    answers = []
    for i in range(count):
        raw = _str(form, f"a{i}")
        if not raw.isdigit():
            raise InvalidInput("answer every question", field=f"a{i}")
        answers.append(int(raw))
    return answers


def _validation(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first.get("loc") else None
    return InvalidInput("check this value", field=field)


# ---- the bell and the required-briefing overlay (loaded by layout.html) ----------------------


@router.get("/frontline/bell", response_class=HTMLResponse, include_in_schema=False)
def bell(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(
        request, "frontline/_bell.html", {"unread": service.unread_count(session, user.id)}
    )


@router.get("/frontline/required", response_class=HTMLResponse, include_in_schema=False)
def required_overlay(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The first required briefing the user has not acknowledged, as an overlay (or nothing)."""
    pending = service.pending_required(session, [user.id]).get(user.id, [])
    briefing = service.get_briefing(session, pending[0]) if pending else None
    if briefing is not None:
        actions.ensure_receipts(session, briefing, [user])
    return render(request, "frontline/_required.html", {"briefing": briefing})


@router.get("/notifications", response_class=HTMLResponse, include_in_schema=False)
def notifications_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(
        request,
        "frontline/notifications.html",
        {"notes": service.notifications(session, user.id, limit=100)},
    )


@router.post("/notifications/read", response_class=HTMLResponse, include_in_schema=False)
def notifications_read(
    request: Request, session: SessionDep, user: CurrentUser, form: Form
) -> Response:
    note_id = _optional_id(form, "notification_id")
    if note_id is not None:
        note = service.access_notification(session, user, note_id)
        notify.do_mark_read(session, user=user, notification_id=note.id)
        return see_other(local_path(note.url, "/notifications"))
    notify.do_mark_read(session, user=user)
    return see_other("/notifications")


# ---- briefings -------------------------------------------------------------------------------


def _choices(session: Session) -> dict[str, Any]:
    brand = accounts_service.default_brand(session)
    return {
        "teams": accounts_service.get_all_teams(session),
        "skills": list(
            session.scalars(select(Skill).where(Skill.brand_id == brand.id).order_by(Skill.name))
        ),
        "queues": routing_service.get_all(session),
        "articles": list(session.scalars(select(Article).order_by(Article.title).limit(300))),
    }


@router.get("/briefings", response_class=HTMLResponse, include_in_schema=False)
def briefings_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    mine = service.briefings_for(session, user)
    receipts = {b.id: service.receipt(session, b.id, user.id) for b in mine}
    everything = service.briefings(session) if user.is_supervisor else []
    progress = {}
    for b in everything:
        if b.status == BriefingStatus.PUBLISHED:
            lines = service.receipts(session, b)
            done = sum(1 for line in lines if line.receipt and line.receipt.acknowledged_at)
            progress[b.id] = (done, len(lines))
    return render(
        request,
        "frontline/briefings.html",
        {"mine": mine, "receipts": receipts, "everything": everything, "progress": progress},
    )


def _briefing_form(
    request: Request,
    session: Session,
    *,
    briefing: Briefing | None,
    error: Any = None,
    values: FormData | None = None,
) -> Response:
    return render(
        request,
        "frontline/briefing_form.html",
        {"briefing": briefing, "error": error, "values": values or {}, **_choices(session)},
        status_code=422 if error else 200,
    )


@router.get("/briefings/new", response_class=HTMLResponse, include_in_schema=False)
def briefing_new(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _briefing_form(request, session, briefing=None)


@router.get("/briefings/{briefing_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def briefing_edit(
    request: Request, session: SessionDep, user: SupervisorUser, briefing_id: int
) -> Response:
    return _briefing_form(request, session, briefing=service.get_briefing(session, briefing_id))


def _briefing_data(form: FormData, tz: str) -> BriefingData:
    attachments = []
    for i in range(3):
        name, url = _str(form, f"att{i}_name"), _str(form, f"att{i}_url")
        if name or url:
            try:
                attachments.append(Attachment(name=name or url, url=url))
            except ValidationError:
                raise InvalidInput(
                    "give the attachment's web address", field=f"att{i}_url"
                ) from None
    raw_articles = form.get("article_ids", [])
    if isinstance(raw_articles, str):
        raw_articles = [raw_articles] if raw_articles else []
    if not all(str(a).isdigit() for a in raw_articles):
        raise InvalidInput("choose from the list", field="article_ids")
    try:
        return BriefingData(
            title=_str(form, "title"),
            body_md=str(form.get("body_md", "")),
            required=bool(form.get("required")),
            team_id=_optional_id(form, "team_id"),
            skill_id=_optional_id(form, "skill_id"),
            queue_id=_optional_id(form, "queue_id"),
            valid_from=_when(form, "valid_from", tz),
            valid_until=_when(form, "valid_until", tz),
            campaign=_str(form, "campaign"),
            campaign_starts_at=_when(form, "campaign_starts_at", tz),
            campaign_ends_at=_when(form, "campaign_ends_at", tz),
            article_ids=[int(a) for a in raw_articles],
            attachments=attachments,
            quiz=_quiz(form),
        )
    except ValidationError as exc:
        raise _validation(exc) from None


@router.post("/briefings", response_class=HTMLResponse, include_in_schema=False)
def briefing_save(
    request: Request, session: SessionDep, user: SupervisorUser, form: Form
) -> Response:
    """Save a draft (new, or the one named by ``briefing_id``); ``publish`` publishes it too."""
    briefing_id = _optional_id(form, "briefing_id")
    briefing = service.get_briefing(session, briefing_id) if briefing_id else None
    try:
        briefing = actions.do_save_briefing(
            session,
            brand_id=accounts_service.default_brand(session).id,
            data=_briefing_data(form, user.timezone),
            by=user,
            briefing=briefing,
        )
        if form.get("publish") and briefing.status == BriefingStatus.DRAFT:
            actions.do_publish_briefing(session, briefing=briefing, by=user)
    except ERRORS as exc:
        session.rollback()
        again = service.get_briefing(session, briefing_id) if briefing_id else None
        return _briefing_form(request, session, briefing=again, error=form_error(exc), values=form)
    return see_other(f"/briefings/{briefing.id}")


@router.get("/briefings/{briefing_id}", response_class=HTMLResponse, include_in_schema=False)
def briefing_page(
    request: Request, session: SessionDep, user: CurrentUser, briefing_id: int
) -> Response:
    briefing = service.access_briefing_by_id(session, user, briefing_id)
    return _briefing_view(request, session, user, briefing)


def _briefing_view(
    request: Request,
    session: Session,
    user: User,
    briefing: Briefing,
    *,
    error: Any = None,
    failed: int | None = None,
) -> Response:
    mine = None
    if briefing.status == BriefingStatus.PUBLISHED and user.id in service.audience(
        session, briefing, [user.id]
    ):
        mine = actions.do_mark_read(session, briefing=briefing, user=user)
    articles = (
        list(session.scalars(select(Article).where(Article.id.in_(briefing.article_ids))))
        if briefing.article_ids
        else []
    )
    return render(
        request,
        "frontline/briefing.html",
        {
            "briefing": briefing,
            "mine": mine,
            "linked_articles": articles,
            "error": error,
            "failed": failed,
            "lines": service.receipts(session, briefing) if user.is_supervisor else [],
            "held": service.pending_required(session, [user.id]).get(user.id, []),
            **_choices(session),
        },
        status_code=422 if error else 200,
    )


@router.get(
    "/briefings/{briefing_id}/receipts", response_class=HTMLResponse, include_in_schema=False
)
def briefing_receipts(
    request: Request, session: SessionDep, user: SupervisorUser, briefing_id: int
) -> Response:
    briefing = service.get_briefing(session, briefing_id)
    return render(
        request,
        "frontline/_receipts.html",
        {"briefing": briefing, "lines": service.receipts(session, briefing)},
    )


@router.post(
    "/briefings/{briefing_id}/acknowledge", response_class=HTMLResponse, include_in_schema=False
)
def briefing_acknowledge(
    request: Request, session: SessionDep, user: CurrentUser, briefing_id: int, form: Form
) -> Response:
    briefing = service.access_briefing_by_id(session, user, briefing_id)
    try:
        passed, score = actions.do_acknowledge(
            session,
            briefing=briefing,
            user=user,
            answers=_answers(form, len(briefing.quiz or [])),
        )
    except ERRORS as exc:
        session.rollback()
        briefing = service.get_briefing(session, briefing_id)
        return _briefing_view(request, session, user, briefing, error=form_error(exc))
    if not passed:
        return _briefing_view(request, session, user, briefing, failed=score)
    return see_other(local_path(_str(form, "next"), f"/briefings/{briefing.id}"))


@router.post(
    "/briefings/{briefing_id}/{action}", response_class=HTMLResponse, include_in_schema=False
)
def briefing_action(
    request: Request, session: SessionDep, user: SupervisorUser, briefing_id: int, action: str
) -> Response:
    """Supervisors: publish, remind, archive, delete."""
    briefing = service.get_briefing(session, briefing_id)
    try:
        if action == "publish":
            actions.do_publish_briefing(session, briefing=briefing, by=user)
        elif action == "remind":
            count = actions.do_remind(session, briefing=briefing, by=user)
            return see_other(f"/briefings/{briefing.id}?reminded={count}")
        elif action == "archive":
            actions.do_archive_briefing(session, briefing=briefing, by=user)
        elif action == "delete":
            actions.do_delete_briefing(session, briefing=briefing, by=user)
            return see_other("/briefings")
        else:
            raise NotFound("page not found")
    except ERRORS as exc:
        session.rollback()
        briefing = service.get_briefing(session, briefing_id)
        return _briefing_view(request, session, user, briefing, error=form_error(exc))
    return see_other(f"/briefings/{briefing.id}")


# ---- proposals -------------------------------------------------------------------------------


@router.get("/proposals", response_class=HTMLResponse, include_in_schema=False)
def proposals_page(
    request: Request, session: SessionDep, user: CurrentUser, status: str = ""
) -> Response:
    chosen = ProposalStatus(status) if status in set(ProposalStatus) else None
    rows = service.proposals(session, status=chosen)
    authors = {
        u.id: u
        for u in session.scalars(select(User).where(User.id.in_({p.author_id for p in rows})))
    }
    return render(
        request,
        "frontline/proposals.html",
        {
            "rows": rows,
            "authors": authors,
            "voted": service.voted(session, user.id, [p.id for p in rows]),
            "statuses": list(ProposalStatus),
            "status": chosen,
        },
    )


def _proposal_form(
    request: Request, session: Session, *, error: Any = None, values: FormData | None = None
) -> Response:
    return render(
        request,
        "frontline/proposal_form.html",
        {"topics": list(ProposalTopic), "error": error, "values": values or {}},
        status_code=422 if error else 200,
    )


@router.get("/proposals/new", response_class=HTMLResponse, include_in_schema=False)
def proposal_new(
    request: Request, session: SessionDep, user: CurrentUser, conversation: str = ""
) -> Response:
    return _proposal_form(request, session, values={"conversations": conversation[:100]})


def _numbers(raw: str) -> list[int]:
    parts = [p.strip().lstrip("#") for p in raw.replace(";", ",").replace(" ", ",").split(",")]
    parts = [p for p in parts if p]
    if not all(p.isdigit() and int(p) < 2**31 for p in parts):
        raise InvalidInput("give conversation numbers, separated by commas", field="conversations")
    return [int(p) for p in parts]


@router.post("/proposals", response_class=HTMLResponse, include_in_schema=False)
def proposal_create(
    request: Request, session: SessionDep, user: CurrentUser, form: Form
) -> Response:
    try:
        try:
            data = ProposalCreate(
                title=_str(form, "title"),
                body=_str(form, "body"),
                topic=ProposalTopic(_str(form, "topic") or "other"),
                conversation_numbers=_numbers(_str(form, "conversations")),
            )
        except ValidationError as exc:
            raise _validation(exc) from None
        except ValueError:
            raise InvalidInput("choose from the list", field="topic") from None
        proposal = actions.do_create_proposal(
            session, brand_id=accounts_service.default_brand(session).id, author=user, data=data
        )
    except ERRORS as exc:
        session.rollback()
        return _proposal_form(request, session, error=form_error(exc), values=form)
    return see_other(f"/proposals/{proposal.id}")


@router.get("/proposals/report", response_class=HTMLResponse, include_in_schema=False)
def proposals_report(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return render(
        request, "frontline/proposals_report.html", {"lines": service.proposal_report(session)}
    )


def _proposal_view(
    request: Request, session: Session, user: User, proposal_id: int, *, error: Any = None
) -> Response:
    proposal = service.get_proposal(session, proposal_id)
    comments = service.comments(session, proposal.id)
    people = {
        u.id: u
        for u in session.scalars(
            select(User).where(
                User.id.in_(
                    {c.author_id for c in comments} | {proposal.author_id, proposal.answered_by_id}
                )
            )
        )
    }
    conversations = (
        list(
            session.scalars(
                select(Conversation).where(Conversation.id.in_(proposal.conversation_ids))
            )
        )
        if proposal.conversation_ids
        else []
    )
    return render(
        request,
        "frontline/proposal.html",
        {
            "p": proposal,
            "comments": comments,
            "people": people,
            "conversations": conversations,
            "voted": bool(service.voted(session, user.id, [proposal.id])),
            "statuses": list(ProposalStatus),
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse, include_in_schema=False)
def proposal_page(
    request: Request, session: SessionDep, user: CurrentUser, proposal_id: int
) -> Response:
    return _proposal_view(request, session, user, proposal_id)


@router.post(
    "/proposals/{proposal_id}/{action}", response_class=HTMLResponse, include_in_schema=False
)
def proposal_action(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    proposal_id: int,
    action: str,
    form: Form,
) -> Response:
    """vote (toggle), comment, triage (supervisors)."""
    proposal = service.get_proposal(session, proposal_id)
    try:
        if action == "vote":
            actions.do_toggle_vote(session, proposal=proposal, user=user)
            return see_other(local_path(_str(form, "next"), f"/proposals/{proposal.id}"))
        if action == "comment":
            actions.do_comment(session, proposal=proposal, user=user, body=_str(form, "body"))
        elif action == "triage":
            try:
                status = ProposalStatus(_str(form, "status"))
            except ValueError:
                raise InvalidInput("choose from the list", field="status") from None
            actions.do_triage(
                session, proposal=proposal, by=user, status=status, answer=_str(form, "answer")
            )
        else:
            raise NotFound("page not found")
    except ERRORS as exc:
        session.rollback()
        return _proposal_view(request, session, user, proposal_id, error=form_error(exc))
    return see_other(f"/proposals/{proposal.id}")


# ---- training --------------------------------------------------------------------------------


@router.get("/training", response_class=HTMLResponse, include_in_schema=False)
def training_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    modules = service.modules(session)
    skills = {s.id: s for s in session.scalars(select(Skill))}
    return render(
        request,
        "frontline/training.html",
        {
            "modules": modules,
            "skills": skills,
            "done": service.best_completions(session, user.id),
            "onboarding": service.onboarding_path(session),
            "pending": (
                len(service.completions(session, status=CompletionStatus.PENDING))
                if user.is_supervisor
                else 0
            ),
        },
    )


def _module_form(
    request: Request,
    session: Session,
    *,
    module: TrainingModule | None,
    error: Any = None,
    values: FormData | None = None,
) -> Response:
    return render(
        request,
        "frontline/module_form.html",
        {
            "module": module,
            "kinds": list(ModuleKind),
            "error": error,
            "values": values or {},
            **_choices(session),
        },
        status_code=422 if error else 200,
    )


@router.get("/training/modules/new", response_class=HTMLResponse, include_in_schema=False)
def module_new(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _module_form(request, session, module=None)


@router.get(
    "/training/modules/{module_id}/edit", response_class=HTMLResponse, include_in_schema=False
)
def module_edit(
    request: Request, session: SessionDep, user: SupervisorUser, module_id: int
) -> Response:
    return _module_form(request, session, module=service.get_module(session, module_id))


def _number(form: FormData, name: str) -> int | None:
    raw = _str(form, name)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 100000:
        raise InvalidInput("give a whole number", field=name)
    return int(raw)


@router.post("/training/modules", response_class=HTMLResponse, include_in_schema=False)
def module_save(
    request: Request, session: SessionDep, user: SupervisorUser, form: Form
) -> Response:
    module_id = _optional_id(form, "module_id")
    module = service.get_module(session, module_id) if module_id else None
    try:
        try:
            data = ModuleData(
                title=_str(form, "title"),
                kind=ModuleKind(_str(form, "kind") or "article"),
                skill_id=_optional_id(form, "skill_id"),
                level=_number(form, "level") or 1,
                description=_str(form, "description"),
                article_id=_optional_id(form, "article_id"),
                url=_str(form, "url"),
                quiz=_quiz(form),
                raises_level=bool(form.get("raises_level")),
                certificate_days=_number(form, "certificate_days"),
                onboarding_step=_number(form, "onboarding_step"),
                is_active=bool(form.get("is_active")),
            )
        except ValidationError as exc:
            raise _validation(exc) from None
        except ValueError:
            raise InvalidInput("choose from the list", field="kind") from None
        module = actions.do_save_module(
            session,
            brand_id=accounts_service.default_brand(session).id,
            data=data,
            by=user,
            module=module,
        )
    except ERRORS as exc:
        session.rollback()
        again = service.get_module(session, module_id) if module_id else None
        return _module_form(request, session, module=again, error=form_error(exc), values=form)
    return see_other(f"/training/modules/{module.id}")


def _module_view(
    request: Request, session: Session, user: User, module_id: int, *, error: Any = None
) -> Response:
    module = service.get_module(session, module_id)
    return render(
        request,
        "frontline/module.html",
        {
            "module": module,
            "skill": session.get(Skill, module.skill_id) if module.skill_id else None,
            "article": session.get(Article, module.article_id) if module.article_id else None,
            "done": service.best_completions(session, user.id).get(module.id),
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/training/modules/{module_id}", response_class=HTMLResponse, include_in_schema=False)
def module_page(
    request: Request, session: SessionDep, user: CurrentUser, module_id: int
) -> Response:
    return _module_view(request, session, user, module_id)


@router.post(
    "/training/modules/{module_id}/complete", response_class=HTMLResponse, include_in_schema=False
)
def module_complete(
    request: Request, session: SessionDep, user: CurrentUser, module_id: int, form: Form
) -> Response:
    module = service.get_module(session, module_id)
    try:
        actions.do_complete_module(
            session, module=module, user=user, answers=_answers(form, len(module.quiz or []))
        )
    except ERRORS as exc:
        session.rollback()
        return _module_view(request, session, user, module_id, error=form_error(exc))
    return see_other(f"/training/modules/{module_id}")


@router.get("/training/approvals", response_class=HTMLResponse, include_in_schema=False)
def approvals_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    rows = service.completions(session)[:200]
    return render(
        request,
        "frontline/approvals.html",
        {
            "rows": rows,
            "modules": {m.id: m for m in service.modules(session, active_only=False)},
            "people": {u.id: u for u in session.scalars(select(User))},
            "skills": {s.id: s for s in session.scalars(select(Skill))},
        },
    )


@router.post(
    "/training/completions/{completion_id}", response_class=HTMLResponse, include_in_schema=False
)
def approval_decide(
    request: Request, session: SessionDep, user: SupervisorUser, completion_id: int, form: Form
) -> Response:
    completion = service.get_completion(session, completion_id)
    try:
        actions.do_decide_completion(
            session, completion=completion, by=user, approve=_str(form, "decision") == "approve"
        )
    except ERRORS:
        session.rollback()
    return see_other("/training/approvals")
