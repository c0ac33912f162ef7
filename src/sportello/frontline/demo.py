"""Demo data for the front line (Casa Lavanda): briefings (the "Saldi invernali" promotion,
required and with its quiz, acknowledged by the whole Assistenza team; the new return policy;
an archived one), agents' proposals with votes, comments and answers, training modules per
skill with the onboarding path, completions (one waiting for approval), a few notifications.

Runs after the core and routing demos: ``load(db, now=..., seed=...)``. History is written
silently (no events, no jobs): nothing is e-mailed when the demo starts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.conversations.models import Conversation
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.frontline import actions, service
from sportello.frontline.models import (
    Briefing,
    BriefingStatus,
    CompletionStatus,
    ModuleCompletion,
    ModuleKind,
    Notification,
    Proposal,
    ProposalComment,
    ProposalStatus,
    ProposalTopic,
    ProposalVote,
)
from sportello.frontline.schemas import Attachment, BriefingData, ModuleData, QuizQuestion
from sportello.knowledge.models import Article
from sportello.routing.models import Skill

DOMAIN = "casalavanda.example"

SALDI = """Dal **7 gennaio al 28 febbraio** tutta la biancheria per la casa è scontata del **30%**,
i piumoni del **40%**.

- Il codice **SALDI30** vale anche online, una volta per ordine.
- Lo sconto **non si somma** ad altri codici (fedeltà compresa).
- I resi degli articoli in saldo seguono la politica normale: 30 giorni, reso gratuito.

Se un cliente segnala un prezzo sbagliato sul sito, apri una proposta dal pulsante **Proponi**
collegando la conversazione: il marketing la vede subito.
"""

RESI = """Da questo mese il reso è **gratuito entro 30 giorni** (prima erano 14) per tutti gli
ordini online. Lo scontrino non serve più: basta il numero d'ordine.

Per gli ordini in negozio resta il cambio entro 14 giorni.
"""

QUIZ_SALDI = [
    QuizQuestion(
        question="Quanto è lo sconto sulla biancheria?", options=["20%", "30%", "40%"], answer=1
    ),
    QuizQuestion(
        question="Il codice SALDI30 si somma allo sconto fedeltà?", options=["Sì", "No"], answer=1
    ),
    QuizQuestion(
        question="Fino a quando durano i saldi?",
        options=["31 gennaio", "28 febbraio", "15 marzo"],
        answer=1,
    ),
]

PROPOSALS = [
    (
        "Il codice SALDI30 non si applica ai cuscini in memory",
        "Tre clienti oggi: il carrello rifiuta il codice sui cuscini, che sono in saldo.",
        ProposalTopic.PROMOTION,
        ProposalStatus.DONE,
        "Corretto il listino: ora il codice vale anche sui cuscini. Grazie!",
        5,
    ),
    (
        "Macro per il reso con ritiro a domicilio",
        "Scriviamo ogni volta gli stessi passaggi per il ritiro col corriere: una macro ci farebbe "
        "risparmiare tempo.",
        ProposalTopic.PROCESS,
        ProposalStatus.ACCEPTED,
        "Buona idea: la prepariamo entro venerdì.",
        4,
    ),
    (
        "Manca un articolo sul lavaggio del lino",
        "Molte domande su temperatura e asciugatrice per le lenzuola di lino.",
        ProposalTopic.KNOWLEDGE,
        ProposalStatus.UNDER_REVIEW,
        "",
        3,
    ),
    (
        "Le federe 50x80 arrivano scolorite",
        "Due segnalazioni questa settimana sullo stesso colore (salvia).",
        ProposalTopic.PRODUCT,
        ProposalStatus.NEW,
        "",
        2,
    ),
    (
        "Chat aperta anche il sabato pomeriggio",
        "Durante i saldi molti clienti scrivono il sabato dopo le 13.",
        ProposalTopic.PROCESS,
        ProposalStatus.DECLINED,
        "Per ora non abbiamo persone in turno: ne riparliamo con i turni di marzo.",
        1,
    ),
]

MODULES = [
    ("Benvenuto in Casa Lavanda", ModuleKind.VIDEO, None, 1, 1, None),
    ("La politica dei resi", ModuleKind.ARTICLE, "Resi", 2, 2, None),
    ("Quiz: resi e rimborsi", ModuleKind.QUIZ, "Resi", 4, 3, 365),
    ("Spedizioni e tracciamento", ModuleKind.ARTICLE, "Spedizioni", 3, None, None),
    ("Fatturazione elettronica", ModuleKind.QUIZ, "Fatturazione", 4, None, 180),
]


def _people(session: Session) -> dict[str, User]:
    return {
        u.email.split("@")[0]: u
        for u in session.scalars(select(User).where(User.email.like(f"%@{DOMAIN}")))
    }


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 11 + 17)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = accounts_service.default_brand(session)
        if session.scalar(select(Briefing.id).limit(1)) is not None:
            return  # loaded already
        people = _people(session)
        paolo = people.get("paolo")
        if paolo is None:
            return
        _briefings(session, brand.id, people, paolo, now)
        _proposals(session, brand.id, people, paolo, now, rng)
        _training(session, brand.id, people, paolo, now)


def _publish_quietly(session: Session, briefing: Briefing, when: datetime) -> list[User]:
    briefing.status = BriefingStatus.PUBLISHED
    briefing.published_at = when
    briefing.created_at = briefing.updated_at = when - timedelta(hours=2)
    audience = service.audience_all(session, briefing)
    actions.ensure_receipts(session, briefing, audience)
    session.flush()
    return audience


def _briefings(
    session: Session, brand_id: int, people: dict[str, User], paolo: User, now: datetime
) -> None:
    team = session.scalar(select(Team).where(Team.name == "Assistenza"))
    articles = list(session.scalars(select(Article).where(Article.brand_id == brand_id).limit(40)))
    resi_article = next((a for a in articles if "res" in a.title.lower()), None)
    saldi = actions.do_save_briefing(
        session,
        brand_id=brand_id,
        by=paolo,
        data=BriefingData(
            title="Saldi invernali",
            body_md=SALDI,
            required=True,
            team_id=team.id if team else None,
            valid_from=now - timedelta(days=2),
            valid_until=now + timedelta(days=50),
            campaign="Saldi invernali",
            campaign_starts_at=now - timedelta(days=1),
            campaign_ends_at=now + timedelta(days=50),
            attachments=[
                Attachment(name="Volantino saldi (PDF)", url="/help"),
            ],
            quiz=QUIZ_SALDI,
        ),
    )
    audience = _publish_quietly(session, saldi, now - timedelta(days=2))
    for i, person in enumerate(audience):  # the whole team has read and passed it
        row = service.receipt(session, saldi.id, person.id)
        assert row is not None
        row.read_at = now - timedelta(days=2, hours=-i)
        row.acknowledged_at = row.passed_at = row.read_at + timedelta(minutes=4)
        row.attempts = 1 + i % 2
        row.last_score = len(QUIZ_SALDI)
    resi = actions.do_save_briefing(
        session,
        brand_id=brand_id,
        by=paolo,
        data=BriefingData(
            title="Nuova politica dei resi: 30 giorni",
            body_md=RESI,
            article_ids=[resi_article.id] if resi_article else [],
            valid_from=now - timedelta(days=6),
        ),
    )
    audience = _publish_quietly(session, resi, now - timedelta(days=6))
    for i, person in enumerate(audience):
        if i % 3 == 2:
            continue  # not everyone has opened it yet
        row = service.receipt(session, resi.id, person.id)
        assert row is not None
        row.read_at = now - timedelta(days=5, hours=i)
        if i % 2 == 0:
            row.acknowledged_at = row.read_at + timedelta(minutes=2)
    natale = actions.do_save_briefing(
        session,
        brand_id=brand_id,
        by=paolo,
        data=BriefingData(
            title="Consegne prima di Natale",
            body_md="Ordini entro il **18 dicembre** per la consegna prima di Natale.",
            campaign="Natale",
        ),
    )
    _publish_quietly(session, natale, now - timedelta(days=20))
    natale.status = BriefingStatus.ARCHIVED
    actions.do_save_briefing(
        session,
        brand_id=brand_id,
        by=paolo,
        data=BriefingData(
            title="Bozza: orari dei saldi nei negozi",
            body_md="I negozi aprono alle **9:30** nei weekend di saldi.",
            campaign="Saldi invernali",
        ),
    )
    for who, title, url, ago in (
        ("chiara", "Saldi invernali", f"/briefings/{saldi.id}", 2),
        ("davide", "Nuova politica dei resi: 30 giorni", f"/briefings/{resi.id}", 6),
    ):
        if who in people:
            session.add(
                Notification(
                    user_id=people[who].id,
                    kind="briefing",
                    title=title,
                    url=url,
                    created_at=now - timedelta(days=ago),
                    read_at=now - timedelta(days=ago - 1),
                )
            )


def _proposals(
    session: Session,
    brand_id: int,
    people: dict[str, User],
    paolo: User,
    now: datetime,
    rng: random.Random,
) -> None:
    agents = [people[n] for n in ("chiara", "davide", "francesca") if n in people]
    if not agents:
        return
    conversations = list(
        session.scalars(select(Conversation.id).order_by(Conversation.id.desc()).limit(20))
    )
    for i, (title, body, topic, status, answer, votes) in enumerate(PROPOSALS):
        author = agents[i % len(agents)]
        created = now - timedelta(days=12 - 2 * i, hours=rng.randint(0, 6))
        proposal = Proposal(
            brand_id=brand_id,
            author_id=author.id,
            title=title,
            body=body,
            topic=topic,
            status=status,
            answer=answer,
            conversation_ids=conversations[i : i + 2] if conversations and i < 2 else [],
            created_at=created,
            updated_at=created,
        )
        if status != ProposalStatus.NEW:
            proposal.answered_at = created + timedelta(hours=rng.randint(3, 40))
            proposal.answered_by_id = paolo.id
        session.add(proposal)
        session.flush()
        voters = [u for u in [*agents, paolo] if u.id != author.id][:votes]
        for voter in voters:
            session.add(ProposalVote(proposal_id=proposal.id, user_id=voter.id))
        proposal.votes = len(voters)
        if i < 3:
            commenter = voters[0] if voters else paolo
            session.add(
                ProposalComment(
                    proposal_id=proposal.id,
                    author_id=commenter.id,
                    body="Confermo, capita anche a me più volte al giorno.",
                    created_at=created + timedelta(hours=2),
                )
            )
        if answer:
            session.add(
                Notification(
                    user_id=author.id,
                    kind="proposal_answer",
                    title=f"La tua proposta «{title}» ha una risposta",
                    url=f"/proposals/{proposal.id}",
                    created_at=proposal.answered_at or created,
                )
            )


def _training(
    session: Session, brand_id: int, people: dict[str, User], paolo: User, now: datetime
) -> None:
    skills = {s.name: s for s in session.scalars(select(Skill).where(Skill.brand_id == brand_id))}
    articles = list(session.scalars(select(Article).where(Article.brand_id == brand_id).limit(40)))
    by_word = {
        "Resi": next((a for a in articles if "res" in a.title.lower()), None),
        "Spedizioni": next((a for a in articles if "sped" in a.title.lower()), None),
    }
    made = []
    for title, kind, skill_name, level, step, cert in MODULES:
        skill = skills.get(skill_name) if skill_name else None
        article = by_word.get(skill_name or "") or (articles[0] if articles else None)
        if kind == ModuleKind.ARTICLE and article is None:
            continue
        module = actions.do_save_module(
            session,
            brand_id=brand_id,
            by=paolo,
            data=ModuleData(
                title=title,
                kind=kind,
                skill_id=skill.id if skill else None,
                level=level,
                description=f"{title}: quello che serve sapere per rispondere ai clienti.",
                article_id=article.id if kind == ModuleKind.ARTICLE and article else None,
                url="https://video.casalavanda.example/benvenuto"
                if kind == ModuleKind.VIDEO
                else "",
                quiz=QUIZ_SALDI[:2] if kind == ModuleKind.QUIZ else [],
                certificate_days=cert,
                onboarding_step=step,
            ),
        )
        made.append(module)
    if not made:
        return
    for who, index, status, ago in (
        ("chiara", 0, CompletionStatus.PASSED, 200),
        ("chiara", 1, CompletionStatus.PASSED, 190),
        ("davide", 0, CompletionStatus.PASSED, 120),
        ("davide", 2, CompletionStatus.APPROVED, 400),  # certificate expired: to renew
        ("francesca", 0, CompletionStatus.PASSED, 30),
        ("francesca", 2, CompletionStatus.PENDING, 1),
    ):
        if who not in people or index >= len(made):
            continue
        module = made[index]
        done = now - timedelta(days=ago)
        session.add(
            ModuleCompletion(
                module_id=module.id,
                user_id=people[who].id,
                status=status,
                score=len(module.quiz) if module.quiz else None,
                completed_at=done,
                certificate_expires_at=(
                    done + timedelta(days=module.certificate_days)
                    if module.certificate_days
                    else None
                ),
                decided_by_id=paolo.id if status == CompletionStatus.APPROVED else None,
                decided_at=done + timedelta(days=1)
                if status == CompletionStatus.APPROVED
                else None,
            )
        )
    session.add(
        Notification(
            user_id=paolo.id,
            kind="training_approval",
            title="Francesca Greco ha superato «Quiz: resi e rimborsi»: approva il nuovo livello",
            url="/training/approvals",
            created_at=now - timedelta(days=1),
        )
    )
