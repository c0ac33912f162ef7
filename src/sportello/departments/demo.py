"""Demo data: the departments Logistica, Vendite and Ufficio tecnico, side conversations with
their answers, and hand-offs in different states (all through the real actions; the mails are
marked sent, so that nothing goes out from a demo)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from sportello.accounts.models import Brand, User
from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.core.jobs import Job
from sportello.departments import actions
from sportello.departments.models import Department, HandoffKind, HandoffStatus, SideMessage

DOMAIN = "casalavanda.example"

DEPARTMENTS = [
    ("Logistica", [f"magazzino@{DOMAIN}", f"spedizioni@{DOMAIN}"],
     "Magazzino di Bologna e rapporti con i corrieri: giacenze, spedizioni, resi."),
    ("Vendite", [f"vendite@{DOMAIN}"],
     "Preventivi per aziende e ordini grandi, listini, sconti."),
    ("Ufficio tecnico", [f"tecnico@{DOMAIN}"],
     "Difetti di prodotto, ricambi, istruzioni di montaggio."),
]  # fmt: skip

SIDES = [
    # (department, subject, agent's text, colleague, answer or None, close)
    ("Logistica", "Pacco fermo in deposito da 5 giorni",
     "Ciao, il cliente dice che il tracking è fermo a Bologna da lunedì. Potete verificare "
     "con il corriere e dirmi quando parte?",
     ("Roberto Galli", f"magazzino@{DOMAIN}"),
     "Verificato: il collo era senza etichetta leggibile. Rietichettato stamattina, parte "
     "oggi con consegna prevista giovedì.", False),
    ("Ufficio tecnico", "Cerniera dell'anta che si stacca",
     "Il cliente ha montato l'armadio due settimane fa e la cerniera superiore si è già "
     "staccata. È un difetto noto del lotto?",
     ("Ing. Marta Serra", f"tecnico@{DOMAIN}"),
     "Sì, lotto 2026-41: le viti fornite sono corte. Mandiamo il kit ricambio KR-12 in "
     "omaggio, basta l'indirizzo.", True),
    (None, "Rimborso da confermare",
     "Puoi confermare che il rimborso dell'ordine è stato disposto ieri? Il cliente chiede "
     "la data di accredito.",
     None, None, False),
]  # fmt: skip

HANDOFFS = [
    # (department, kind, summary, outcome, note, by, days ago)
    ("Vendite", HandoffKind.SALES,
     "Il cliente arreda un B&B di 12 camere e chiede un preventivo per 12 set di lenzuola "
     "e 24 cuscini. Interessato a uno sconto quantità.",
     None, "", "", 1),
    ("Vendite", HandoffKind.SALES,
     "Ristorante che vuole 40 sedie imbottite uguali a quelle ordinate a marzo.",
     HandoffStatus.WON, "Preventivo accettato: ordine 40 sedie, consegna a gennaio.",
     "Giorgio Villa (Vendite)", 12),
    ("Vendite", HandoffKind.SALES,
     "Richiesta di listino per rivenditori: negozio di arredamento a Modena.",
     HandoffStatus.LOST, "Ha scelto un altro fornitore per i tempi di consegna.",
     "Giorgio Villa (Vendite)", 25),
    ("Ufficio tecnico", HandoffKind.TECHNICAL,
     "Lampada da tavolo che sfarfalla con le lampadine LED dimmerabili.",
     HandoffStatus.SOLVED, "Serve il variatore per LED: inviato per posta al cliente.",
     "Ing. Marta Serra", 8),
    ("Ufficio tecnico", HandoffKind.TECHNICAL,
     "Il piano del tavolo allungabile non scorre: forse guide montate al contrario.",
     HandoffStatus.ACCEPTED, "Lo chiamiamo domani per una videochiamata di verifica.",
     "Luigi Conti (Ufficio tecnico)", 3),
    ("Logistica", HandoffKind.OTHER,
     "Il cliente chiede la consegna al piano con montaggio: possibile a Rimini?",
     HandoffStatus.REJECTED, "A Rimini il montaggio non è coperto dal nostro corriere.",
     "Roberto Galli", 5),
]  # fmt: skip


def load(db: Database, *, now: datetime, seed: int) -> None:
    rng = random.Random(seed * 13 + 7)
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None or session.scalar(select(Department.id).limit(1)) is not None:
            return  # no brand, or loaded already
        departments = {
            name: actions.do_save_department(
                session,
                brand_id=brand.id,
                department=None,
                name=name,
                emails=emails,
                description=description,
            )
            for name, emails, description in DEPARTMENTS
        }
        staff = {u.email.split("@")[0]: u for u in session.scalars(select(User))}
        agents = [u for k, u in staff.items() if k in ("chiara", "davide", "francesca")]
        agents = agents or list(staff.values())
        if not agents:
            return
        # Open conversations with a customer message, newest first: the ones agents look at.
        conversations = list(
            session.scalars(
                select(Conversation)
                .where(
                    Conversation.brand_id == brand.id,
                    Conversation.status.in_([Status.NEW, Status.OPEN, Status.PENDING]),
                    Conversation.message_count > 1,
                )
                .order_by(Conversation.last_message_at.desc())
                .limit(40)
            )
        )
        if not conversations or actions.mailbox_for(session, conversations[0]) is None:
            return
        rng.shuffle(conversations)
        picked = iter(conversations)
        # What the conversations looked like before: the timeline lines written below are
        # re-dated after them (the actions stamp the live clock; the demo is history).
        first_new = (session.scalar(select(func.max(Message.id))) or 0) + 1
        before = {c.id: (c.last_message_at or c.created_at, c.updated_at) for c in conversations}
        for dept, subject, text, colleague, answer, close in SIDES:
            conversation = next(picked, None)
            if conversation is None:
                break
            author = conversation.assignee or rng.choice(agents)
            first = session.scalar(
                select(Message.id)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.direction == Direction.INBOUND,
                )
                .order_by(Message.id)
                .limit(1)
            )
            side = actions.do_open_side_conversation(
                session,
                conversation=conversation,
                author=author,
                department=departments[dept] if dept else None,
                to="" if dept else f"amministrazione@{DOMAIN}",
                subject=subject,
                text=text,
                quote_message_ids=[first] if first else [],
            )
            session.flush()
            for sent in session.scalars(
                select(SideMessage).where(SideMessage.side_conversation_id == side.id)
            ):
                actions.do_record_side_sent(
                    session,
                    message=sent,
                    provider_message_id=f"<demo.side{side.id}.{sent.id}@{DOMAIN}>",
                    error=None,
                )
            if colleague and answer:
                actions.do_receive_side_reply(
                    session,
                    reply=actions.SideReply(
                        side_id=side.id,
                        sender=colleague[1],
                        sender_name=colleague[0],
                        text=answer,
                        html=None,
                        provider_message_id=f"<demo.answer{side.id}@{DOMAIN}>",
                    ),
                )
            if close:
                actions.do_close_side(session, side=side, author=author)
        for dept, kind, summary, outcome, note, by, days in HANDOFFS:
            conversation = next(picked, None)
            if conversation is None:
                break
            author = conversation.assignee or rng.choice(agents)
            handoff = actions.do_create_handoff(
                session,
                conversation=conversation,
                author=author,
                department=departments[dept],
                kind=kind,
                summary=summary,
            )
            actions.do_record_handoff_sent(session, handoff=handoff, error=None)
            if outcome is not None:
                actions.do_set_handoff_outcome(
                    session, handoff=handoff, status=outcome, note=note, by=by
                )
            handoff.created_at = now - timedelta(days=days, hours=rng.randint(1, 8))
            handoff.updated_at = now - timedelta(days=max(days - 2, 0), hours=1)
        session.flush()
        written: dict[int, int] = {}
        for message in session.scalars(
            select(Message).where(Message.id >= first_new).order_by(Message.id)
        ):
            last, updated = before.get(message.conversation_id, (None, None))
            if last is None:
                continue
            written[message.conversation_id] = step = written.get(message.conversation_id, 0) + 1
            moment = min(last + timedelta(minutes=25 * step), now - timedelta(minutes=1))
            message.created_at = message.updated_at = moment
            conversation = session.get(Conversation, message.conversation_id)
            if conversation is not None:
                conversation.updated_at = max(moment, updated or moment)
        # The mails are recorded as sent above: their send jobs must not run (nothing goes out
        # from a demo, and a demo leaves no queued work).
        session.flush()
        session.execute(
            delete(Job).where(Job.kind.in_((actions.SEND_SIDE_JOB, actions.SEND_HANDOFF_JOB)))
        )
