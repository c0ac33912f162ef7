"""Demo data for surveys (Casa Lavanda): three surveys on the demo's channels and queues, the
answers to the surveys sent after the resolved conversations of the demo's months (mostly happy,
some detractors), and the follow-ups of the unhappy ones, most done with their outcome, a few
still to call, some customers surveyed again after the call and recovered.

Runs after the core demo (``sportello demo``): ``load(db, now=..., seed=...)``. History is
written silently (no events, no jobs): nothing is sent to anybody when the demo starts.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, Team, User
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.routing.models import Queue
from sportello.surveys import actions, service
from sportello.surveys.models import (
    FollowupRule,
    FollowupStatus,
    ResponseStatus,
    SurveyConfig,
    SurveyFollowup,
    SurveyKind,
    SurveyResponse,
)
from sportello.surveys.schemas import ExtraQuestion, SurveyConfigData, is_high, is_low

# Score distributions (score, weight): mostly happy, a tail of unhappy customers.
DISTRIBUTION = {
    SurveyKind.CSAT: [(5, 54), (4, 25), (3, 9), (2, 6), (1, 6)],
    SurveyKind.NPS: [
        (10, 33), (9, 22), (8, 13), (7, 9), (6, 6), (5, 5), (4, 3), (3, 3), (2, 2), (1, 2), (0, 2),
    ],
    SurveyKind.CES: [(7, 34), (6, 27), (5, 17), (4, 9), (3, 6), (2, 4), (1, 3)],
}  # fmt: skip
ANSWER_RATE = 0.72
HAPPY = [
    "Gentilissimi e velocissimi, grazie!",
    "Risposta chiara, problema risolto in giornata.",
    "Paolo è stato molto disponibile.",
    "Ottimo servizio, tornerò a comprare da voi.",
    "Tutto perfetto, il reso è stato semplicissimo.",
    "Mi avete risolto il problema del pacco in pochi minuti.",
    "Cortesi e competenti.",
]
UNHAPPY = [
    "Ho dovuto scrivere tre volte prima di avere una risposta.",
    "Il rimborso non è ancora arrivato.",
    "La risposta non ha risolto il mio problema.",
    "Tempi di attesa troppo lunghi.",
    "Il corriere ha perso il pacco e nessuno mi ha richiamato.",
    "Mi avevate promesso una sostituzione che non è mai arrivata.",
]
OUTCOMES = [
    "Richiamata la cliente: rimborso emesso subito, si è scusata per i toni. Soddisfatta.",
    "Chiamato il cliente: spedito un nuovo set in sostituzione con corriere espresso.",
    "Spiegato il ritardo del corriere; offerto buono sconto del 10%. Ha accettato.",
    "Non risponde al telefono: lasciato messaggio in segreteria e scritto una email.",
    "Verificato l'ordine con il magazzino: il pacco era in giacenza, riconsegnato domani.",
    "Il cliente voleva solo essere ascoltato: problema già risolto, ringrazia per la chiamata.",
]
HOUR = timedelta(hours=1)


def _pick(rng: random.Random, kind: SurveyKind) -> int:
    scores, weights = zip(*DISTRIBUTION[kind], strict=True)
    return int(rng.choices(scores, weights=weights)[0])


def _configs(session: Session, brand: Brand) -> list[SurveyConfig]:
    channels = list(session.scalars(select(Channel).where(Channel.brand_id == brand.id)))
    queue = session.scalar(select(Queue).where(Queue.brand_id == brand.id).order_by(Queue.id))
    team = session.scalar(select(Team).where(Team.name == "Assistenza"))
    webform = next((c for c in channels if c.kind == "webform"), None)
    app = next((c for c in channels if c.kind == "api"), None)
    wanted = [
        SurveyConfigData(
            name="Soddisfazione dopo l'assistenza",
            kind=SurveyKind.CSAT,
            question_it="Quanto sei soddisfatto dell'aiuto che ti abbiamo dato?",
            question_en="How satisfied are you with the help we gave you?",
            delay_minutes=60,
            period_days=14,
            followup_rule=FollowupRule.SUPERVISOR,
            followup_sla_hours=24,
        ),
    ]
    if webform is not None:
        wanted.append(
            SurveyConfigData(
                name="Passaparola (NPS) dal modulo contatti",
                kind=SurveyKind.NPS,
                channel_id=webform.id,
                question_it="Quanto è probabile che consiglieresti Casa Lavanda a un amico?",
                question_en="How likely are you to recommend Casa Lavanda to a friend?",
                extra_questions=[
                    ExtraQuestion(it="Cosa possiamo migliorare?", en="What could we improve?")
                ],
                delay_minutes=120,
                period_days=14,
                followup_rule=FollowupRule.AGENT,
                followup_sla_hours=48,
            )
        )
    if app is not None and queue is not None:
        wanted.append(
            SurveyConfigData(
                name="Facilità (CES) dall'app",
                kind=SurveyKind.CES,
                channel_id=app.id,
                queue_id=queue.id,
                delay_minutes=30,
                period_days=14,
                followup_rule=FollowupRule.TEAM,
                followup_team_id=team.id if team else None,
                followup_sla_hours=8,
            )
        )
    return [actions.do_save_config(session, brand_id=brand.id, data=d) for d in wanted]


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 7 + 13)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(SurveyConfig.id).limit(1)) is not None:
            return  # no brand, or loaded already
        _configs(session, brand)
        closed = session.execute(
            select(
                Conversation.id,
                Conversation.channel_id,
                Conversation.queue_id,
                Conversation.customer_id,
                Conversation.resolved_at,
            )
            .where(
                Conversation.brand_id == brand.id,
                Conversation.status.in_((Status.RESOLVED, Status.CLOSED)),
                Conversation.resolved_at.is_not(None),
            )
            .order_by(Conversation.resolved_at)
        ).all()
        automated = set(
            session.scalars(
                select(Message.conversation_id).where(
                    Message.direction == Direction.INBOUND,
                    Message.meta["automated"].as_boolean().is_(True),
                )
            )
        )
        last_sent: dict[int, datetime] = {}
        answered: list[SurveyResponse] = []
        for conversation_id, channel_id, queue_id, customer_id, resolved in closed:
            if resolved is None:
                continue
            resolved_at: datetime = resolved
            conversation = session.get_one(Conversation, conversation_id)
            config = service.config_for(
                session, brand_id=brand.id, channel_id=channel_id, queue_id=queue_id
            )
            if config is None:
                continue
            sent_at = resolved_at + timedelta(minutes=config.delay_minutes)
            if sent_at >= now:
                continue
            response = SurveyResponse(
                brand_id=brand.id,
                config_id=config.id,
                conversation_id=conversation_id,
                customer_id=customer_id,
                channel_id=channel_id,
                queue_id=queue_id,
                agent_id=conversation.assignee_id,
                kind=config.kind,
                language="it",
                code=secrets.token_urlsafe(9),
                scheduled_at=sent_at,
                created_at=resolved_at,
                extra_answers=[],
            )
            previous = last_sent.get(customer_id)
            if conversation_id in automated:
                response.status, response.skip_reason = ResponseStatus.SKIPPED, "automated"
            elif previous is not None and sent_at - previous < timedelta(days=config.period_days):
                response.status, response.skip_reason = ResponseStatus.SKIPPED, "period"
            else:
                response.status = ResponseStatus.SENT
                response.sent_at = sent_at
                response.expires_at = sent_at + timedelta(days=config.expires_days)
                last_sent[customer_id] = sent_at
            session.add(response)
            session.flush()
            if response.status != ResponseStatus.SENT or rng.random() > ANSWER_RATE:
                continue
            at = min(sent_at + timedelta(minutes=rng.uniform(3, 60 * 30)), now - HOUR)
            score = _pick(rng, SurveyKind(config.kind))
            comment = None
            if rng.random() < 0.35 or is_low(config.kind, score):
                pool = UNHAPPY if is_low(config.kind, score) else HAPPY
                comment = (
                    rng.choice(pool) if pool is UNHAPPY or is_high(config.kind, score) else None
                )
            actions.do_answer_survey(
                session,
                response=response,
                score=score,
                via=rng.choice(["link", "link", "button"]),
                comment=comment,
                now=at,
            )
            answered.append(response)
        _followups(session, rng, now)


def _followups(session: Session, rng: random.Random, now: datetime) -> None:
    """Most follow-ups older than two days are done, with an outcome (a note on the
    conversation); half of those customers answered the survey again, mostly happier."""
    supervisor = session.scalar(select(User).where(User.email.like("paolo@%")))
    for followup in session.scalars(select(SurveyFollowup).order_by(SurveyFollowup.created_at)):
        age = now - followup.created_at
        if age < timedelta(days=2) or rng.random() < 0.1:
            if rng.random() < 0.4:
                who = session.get(User, followup.assignee_id) if followup.assignee_id else None
                who = who or supervisor
                if who is not None:
                    actions.do_update_followup(
                        session,
                        followup=followup,
                        by=who,
                        status=FollowupStatus.IN_PROGRESS,
                        reassign=True,
                        assignee=who,
                        now=followup.created_at + timedelta(minutes=rng.uniform(20, 300)),
                    )
            continue
        by = session.get(User, followup.assignee_id) if followup.assignee_id else supervisor
        if by is None:
            continue
        done_at = followup.created_at + timedelta(hours=rng.uniform(1, 30))
        # The outcome's note comes after everything already in the conversation (the timeline
        # lists messages in the order they were written).
        latest = session.scalar(
            select(func.max(Message.created_at)).where(
                Message.conversation_id == followup.conversation_id
            )
        )
        if latest is not None and done_at <= latest:
            done_at = latest + timedelta(minutes=rng.uniform(5, 90))
        if done_at >= now - HOUR:
            continue
        actions.do_update_followup(
            session,
            followup=followup,
            by=by,
            status=FollowupStatus.DONE,
            outcome=rng.choice(OUTCOMES),
            resurvey=False,  # the demo writes the re-survey itself, with its own dates
            now=done_at,
        )
        session.execute(
            update(Message)
            .where(
                Message.conversation_id == followup.conversation_id,
                Message.direction == Direction.NOTE,
                Message.text.contains(followup.outcome[:40]),
            )
            .values(created_at=done_at, updated_at=done_at)
            .execution_options(synchronize_session=False)
        )
        followup.resurvey = True
        before = session.get_one(SurveyResponse, followup.response_id)
        sent_at = done_at + timedelta(hours=rng.uniform(2, 24))
        if sent_at >= now - HOUR or rng.random() < 0.4:
            continue
        again = SurveyResponse(
            brand_id=followup.brand_id,
            config_id=before.config_id,
            conversation_id=before.conversation_id,
            customer_id=before.customer_id,
            channel_id=before.channel_id,
            queue_id=before.queue_id,
            agent_id=before.agent_id,
            kind=before.kind,
            language=before.language,
            code=secrets.token_urlsafe(9),
            status=ResponseStatus.SENT,
            after_followup_id=followup.id,
            scheduled_at=sent_at,
            sent_at=sent_at,
            expires_at=sent_at + timedelta(days=14),
            created_at=done_at,
            extra_answers=[],
        )
        session.add(again)
        session.flush()
        kind = SurveyKind(before.kind)
        high = [s for s, _w in DISTRIBUTION[kind] if is_high(kind, s)]
        score = rng.choice(high) if rng.random() < 0.65 else _pick(rng, kind)
        actions.do_answer_survey(
            session,
            response=again,
            score=score,
            via="link",
            comment="Grazie per avermi richiamato." if is_high(kind, score) else None,
            now=min(sent_at + timedelta(hours=rng.uniform(0.2, 12)), now - HOUR),
        )
