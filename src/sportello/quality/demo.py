"""Demo data for quality reviews (Casa Lavanda): the Italian "Scheda qualità standard" (empathy
and emotions included, privacy as a critical check), two sampling rules, twelve weeks of
reviews of the demo agents' resolved conversations with coaching notes (most acknowledged, the
newest still to read, one disputed), the reviews the rules assign today, and two calibration
sessions (one revealed with its spread, one still blind).

Runs after the reports demo (the sampling reads its per-conversation facts):
``load(db, now=..., seed=...)``. History is written silently (no events).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, Role, User
from sportello.conversations.models import Conversation, Status
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.quality import actions
from sportello.quality.models import Review, ReviewSource, SampleMethod, Scale, Scorecard
from sportello.quality.schemas import CriterionData, RatingData, RuleData, ScorecardData

CRITERIA = [
    (
        "Saluto e presentazione",
        "Saluta il cliente per nome, si presenta, imposta il tono.",
        10,
        Scale.FIVE,
        False,
    ),
    (
        "Empatia ed emozioni",
        "Riconosce come si sente il cliente (preoccupazione, rabbia, fretta), lo nomina e si "
        "adegua; si scusa quando serve.",
        25,
        Scale.FIVE,
        False,
    ),
    (
        "Correttezza delle informazioni",
        "Informazioni giuste e complete, in linea con la knowledge base.",
        25,
        Scale.FIVE,
        False,
    ),
    (
        "Risoluzione",
        "Risolve la richiesta, o dice chiaramente cosa succede dopo e quando.",
        25,
        Scale.FIVE,
        False,
    ),
    (
        "Tono e linguaggio",
        "Chiaro, gentile, professionale; niente gergo né risposte fredde.",
        15,
        Scale.FIVE,
        False,
    ),
    (
        "Privacy e verifica identità",
        "Verifica il cliente prima di dare dati personali. Se manca, la revisione è insufficiente.",
        0,
        Scale.BINARY,
        True,
    ),
]

COACHING = [
    "Ottimo lavoro sul riconoscere la preoccupazione della cliente. Prossima volta: "
    "proponi subito il reso senza aspettare che lo chieda.",
    "Risposta corretta ma un po' fredda: prova ad aprire con una frase che mostri "
    "che hai capito il problema.",
    "Bene la chiusura con i tempi precisi di consegna. Ricordati di salutare per nome all'inizio.",
    "Il cliente era arrabbiato per il ritardo: nominare l'emozione (\"capisco il "
    'fastidio") avrebbe aiutato.',
    "Perfetta la verifica dell'ordine prima di dare l'indirizzo. Continua così!",
    "Hai dato l'informazione giusta sul rimborso; la prossima volta linka l'articolo della guida.",
    "Tono molto cordiale. Occhio alle risposte copiate: personalizza la prima riga.",
]

# Each agent's mean level and weekly improvement (a visible trend in the chart).
LEVELS = {"chiara": (4.2, 0.02), "davide": (3.3, 0.06), "francesca": (3.8, 0.0)}


def _user(session: Session, prefix: str) -> User | None:
    return session.scalar(select(User).where(User.email.like(prefix + "@%")))


def _scorecard(session: Session, brand: Brand) -> Scorecard:
    return actions.do_save_scorecard(
        session,
        brand_id=brand.id,
        data=ScorecardData(
            name="Scheda qualità standard",
            description="La scheda di Casa Lavanda per chat, e-mail e telefono: empatia ed "
            "emozioni pesano quanto la correttezza e la risoluzione.",
            pass_score=75,
            is_default=True,
            criteria=[
                CriterionData(
                    name=name,
                    description=description,
                    weight=weight,
                    scale=scale,
                    critical=critical,
                    allow_na=True,
                )
                for name, description, weight, scale, critical in CRITERIA
            ],
        ),
    )


def _ratings(rng: random.Random, scorecard: Scorecard, level: float) -> list[RatingData]:
    out = []
    for criterion in scorecard.criteria:
        if criterion.scale == Scale.BINARY:
            out.append(RatingData(criterion_id=criterion.id, value=0 if rng.random() < 0.03 else 1))
            continue
        if criterion.position == 0 and rng.random() < 0.1:
            out.append(RatingData(criterion_id=criterion.id, value=None))  # N/A: a follow-up mail
            continue
        value = round(rng.gauss(level, 0.7))
        out.append(RatingData(criterion_id=criterion.id, value=max(1, min(5, value))))
    return out


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 11 + 5)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(Scorecard.id).limit(1)) is not None:
            return  # no brand, or loaded already
        scorecard = _scorecard(session, brand)
        paolo = _user(session, "paolo")
        elena = _user(session, "elena")
        if paolo is None or elena is None:
            return
        agents = {name: _user(session, name) for name in LEVELS}
        for name, method, per_agent in (
            ("Campione settimanale", SampleMethod.RANDOM, 2),
            ("Clienti insoddisfatti", SampleMethod.LOW_CSAT, 1),
            ("Conversazioni più lunghe", SampleMethod.LONG_HANDLE, 1),
        ):
            actions.do_save_rule(
                session,
                brand_id=brand.id,
                data=RuleData(
                    name=name,
                    scorecard_id=scorecard.id,
                    method=method,
                    per_agent=per_agent,
                    reviewer_id=paolo.id,
                ),
            )
        horizon = now - timedelta(weeks=12)
        calibration_candidates: list[Conversation] = []
        for name, agent in agents.items():
            if agent is None:
                continue
            level, slope = LEVELS[name]
            conversations = list(
                session.scalars(
                    select(Conversation)
                    .where(
                        Conversation.assignee_id == agent.id,
                        Conversation.status.in_((Status.RESOLVED, Status.CLOSED)),
                        Conversation.resolved_at >= horizon,
                        Conversation.resolved_at < now - timedelta(days=8),
                    )
                    .order_by(Conversation.resolved_at)
                )
            )
            by_week: dict[date, list[Conversation]] = {}
            for conversation in conversations:
                assert conversation.resolved_at is not None
                by_week.setdefault(actions.rome_week(conversation.resolved_at), []).append(
                    conversation
                )
            weeks = sorted(by_week)
            for index, week in enumerate(weeks):
                picks = rng.sample(by_week[week], min(len(by_week[week]), rng.choice((2, 3))))
                for conversation in picks:
                    assert conversation.resolved_at is not None
                    done_at = conversation.resolved_at + timedelta(days=rng.randint(1, 4))
                    review = actions.do_create_review(
                        session,
                        conversation=conversation,
                        scorecard=scorecard,
                        reviewer=paolo if rng.random() < 0.8 else elena,
                        source=rng.choice(
                            (ReviewSource.RANDOM, ReviewSource.RANDOM, ReviewSource.LOW_CSAT)
                        ),
                    )
                    review.created_at = done_at - timedelta(hours=3)
                    reviewer = session.get_one(User, review.reviewer_id)
                    actions.do_score_review(
                        session,
                        review=review,
                        by=reviewer,
                        ratings=_ratings(rng, scorecard, level + slope * index),
                        comment="",
                        coaching_note=rng.choice(COACHING),
                    )
                    review.completed_at = min(done_at, now - timedelta(hours=2))
                    if index < len(weeks) - 1:  # the newest week is still to read
                        review.acknowledged_at = review.completed_at + timedelta(hours=5)
                calibration_candidates += by_week[week]
        session.flush()
        # one dispute, answered
        davide = agents.get("davide")
        disputed = (
            session.scalar(
                select(Review)
                .where(Review.acknowledged_at.is_not(None), Review.agent_id == davide.id)
                .order_by(Review.score)
                .limit(1)
            )
            if davide is not None
            else None
        )
        if disputed is not None and davide is not None:
            actions.do_dispute(
                session,
                review=disputed,
                by=davide,
                text="Il cliente aveva già verificato l'identità nella chat precedente: "
                "per questo non l'ho richiesta di nuovo.",
            )
            actions.do_answer_dispute(
                session,
                review=disputed,
                by=paolo,
                accept=False,
                answer="Va richiesta a ogni contatto, anche se il cliente è noto: ne parliamo al "
                "prossimo one-to-one.",
            )
        # today's sampling for the reviewer's desk
        actions.do_run_rules(session, brand_id=brand.id, now=now)
        # calibration: one revealed with its spread, one still blind
        reviewed = set(session.scalars(select(Review.conversation_id)))
        spare = [c for c in calibration_candidates if c.id not in reviewed]
        rng.shuffle(spare)
        supervisors = list(
            session.scalars(
                select(User).where(User.role.in_((Role.SUPERVISOR, Role.ADMIN))).order_by(User.id)
            )
        )
        if len(spare) >= 2 and len(supervisors) >= 2:
            revealed = actions.do_create_calibration(
                session,
                title="Calibrazione di novembre: reso per pacco danneggiato",
                conversation=spare[0],
                scorecard=scorecard,
                reviewers=supervisors,
                by=paolo,
            )
            for n, review in enumerate(
                session.scalars(select(Review).where(Review.calibration_id == revealed.id))
            ):
                actions.do_score_review(
                    session,
                    review=review,
                    by=session.get_one(User, review.reviewer_id),
                    ratings=_ratings(rng, scorecard, 3.6 + 0.6 * n),
                    comment="Per me l'empatia c'era, ma la soluzione è arrivata tardi."
                    if n == 0
                    else "Soluzione corretta; avrei apprezzato più calore all'inizio.",
                )
            actions.do_reveal_calibration(session, calibration=revealed, by=paolo)
            blind = actions.do_create_calibration(
                session,
                title="Calibrazione di dicembre: cliente arrabbiato per il ritardo",
                conversation=spare[1],
                scorecard=scorecard,
                reviewers=supervisors,
                by=paolo,
            )
            first = session.scalar(
                select(Review)
                .where(Review.calibration_id == blind.id, Review.reviewer_id == elena.id)
                .limit(1)
            )
            if first is not None:
                actions.do_score_review(
                    session,
                    review=first,
                    by=elena,
                    ratings=_ratings(rng, scorecard, 3.9),
                    comment="Bene il tono, mancano le scuse per il ritardo.",
                )
