"""Demo: what the shop's signals taught the search. Questions customers of Casa Lavanda asked in
their own words over the months, each answered with an article (by an agent after a handover, or
confirmed helpful to the bot), learned as ``LearnedQuestion`` rows so the help center and the bot
find those articles from colloquial Italian too."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from sportello.accounts.models import Brand
from sportello.core.db import Database
from sportello.core.events import SILENCE_EVENTS
from sportello.knowledge import actions
from sportello.knowledge.models import Article

# article title -> (source, question) pairs
LEARNED: dict[str, list[tuple[str, str]]] = {
    "Il prodotto è arrivato rotto o danneggiato": [
        ("handover", "il vaso è arrivato in mille pezzi"),
        ("handover", "la scatola era schiacciata e il piatto è crepato"),
        ("helpful", "mi è arrivata la caraffa scheggiata"),
    ],
    "Come faccio un reso?": [
        ("handover", "non mi piace il copriletto, ve lo rimando"),
        ("helpful", "ho cambiato idea sulle tende, posso restituirle?"),
    ],
    "Quando arriva il rimborso?": [
        ("handover", "ho rispedito tutto e non vedo ancora i soldi sul conto"),
        ("helpful", "quando mi riaccreditate la somma"),
    ],
    "Garanzia legale di 2 anni": [
        ("handover", "dopo un anno si è scucito il cuscino, è coperto?"),
        ("helpful", "per quanto tempo siete responsabili se qualcosa si guasta"),
    ],
    "Spedite all'estero?": [
        ("handover", "abito in Svizzera, mi arriva?"),
        ("helpful", "consegnate fuori dall'Italia"),
    ],
    "Il mio ordine è in ritardo": [
        ("handover", "sono passate due settimane e non è arrivato niente"),
        ("helpful", "doveva arrivare lunedì e ancora aspetto"),
    ],
    "Pagamento in contrassegno": [
        ("handover", "posso dare i soldi al corriere quando mi porta il pacco?"),
        ("helpful", "si paga in contanti alla consegna?"),
    ],
    "Posso cambiare un articolo con un'altra misura o un altro colore?": [
        ("handover", "il lenzuolo è piccolo, me lo date matrimoniale?"),
        ("helpful", "vorrei lo stesso plaid ma grigio"),
    ],
    "Come seguo il mio pacco?": [
        ("helpful", "dove vedo dov'è la spedizione adesso"),
    ],
    "Un prodotto è esaurito: quando torna?": [
        ("handover", "la tovaglia blu non c'è più, la rimettete in vendita?"),
    ],
}


def load(db: Database, *, now: datetime, seed: int) -> None:
    with db.transaction() as session:
        session.info[SILENCE_EVENTS] = True
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        if brand is None:
            return
        articles = {
            a.title: a
            for a in session.scalars(
                select(Article).where(Article.brand_id == brand.id, Article.language == "it")
            )
        }
        for offset, (title, questions) in enumerate(sorted(LEARNED.items())):
            article = articles.get(title)
            if article is None:
                continue
            for number, (source, question) in enumerate(questions):
                learned = actions.do_learn_question(
                    session, article=article, question=question, source=source
                )
                if learned is not None:  # None: learned already (a second load adds nothing)
                    learned.created_at = now - timedelta(days=3 + (offset * 7 + number * 11) % 80)
