"""Demo data of the agent tools for "Casa Lavanda": shared and personal canned replies (resi,
spedizioni, rimborsi, fatture, garanzia, saluti), four macros and three shared inbox views.
Runs after the core demo (its users and teams exist); loading twice adds nothing."""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.core.db import Database
from sportello.replies import actions
from sportello.replies.models import CannedReply, Macro, SavedView

DOMAIN = "casalavanda.example"

# (title, shortcut, body, shared with: "all", a team name, or a user's mailbox for a personal one)
REPLIES: list[tuple[str, str, str, str]] = [
    (
        "Saluto di apertura",
        "ciao",
        "Buongiorno {{cliente.nome}}, sono {{agente.nome}} del servizio clienti di Casa Lavanda. "
        "Grazie per averci scritto: vediamo subito insieme.",
        "all",
    ),
    (
        "Chiusura cordiale",
        "grazie",
        "Grazie a lei, {{cliente.nome}}. Se le serve altro risponda pure a questo messaggio: la "
        "pratica #{{conversazione.numero}} resta a sua disposizione.\n\nUn caro saluto,\n"
        "{{agente.nome}} – Casa Lavanda",
        "all",
    ),
    (
        "Reso: come avviarlo",
        "reso",
        "Gentile {{cliente.nome}}, può restituire l'articolo entro 30 giorni dalla consegna. "
        "Acceda a «I miei ordini», scelga l'ordine {{ordine.numero}} e poi «Restituisci»: "
        "riceverà via email l'etichetta prepagata da stampare e applicare al pacco.",
        "all",
    ),
    (
        "Reso: etichetta inviata",
        "reso-etichetta",
        "Gentile {{cliente.nome}}, le abbiamo appena inviato all'indirizzo {{cliente.email}} "
        "l'etichetta di reso per l'ordine {{ordine.numero}}. Il corriere BRT ritira il pacco a "
        "domicilio entro 2 giorni lavorativi, oppure può lasciarlo in un punto BRT Fermopoint.",
        "Assistenza",
    ),
    (
        "Reso: articolo danneggiato",
        "danneggiato",
        "Gentile {{cliente.nome}}, ci dispiace molto per l'articolo arrivato danneggiato. Può "
        "inviarci una foto del prodotto e dell'imballo? Appena la riceviamo spediamo la "
        "sostituzione senza aspettare il reso.",
        "Assistenza",
    ),
    (
        "Spedizione: tracking",
        "tracking",
        "Gentile {{cliente.nome}}, l'ordine {{ordine.numero}} è partito ed è affidato a BRT. Può "
        "seguirlo dal link nell'email di conferma spedizione; la consegna è prevista in 24-48 "
        "ore lavorative.",
        "all",
    ),
    (
        "Spedizione: ritardo del corriere",
        "ritardo",
        "Gentile {{cliente.nome}}, abbiamo verificato con il corriere: la spedizione "
        "dell'ordine {{ordine.numero}} ha un ritardo nel centro di smistamento. Abbiamo aperto "
        "una segnalazione e la aggiorniamo appena il pacco riparte.",
        "all",
    ),
    (
        "Spedizione: cambio indirizzo",
        "indirizzo",
        "Gentile {{cliente.nome}}, possiamo cambiare l'indirizzo finché l'ordine non è partito. "
        "Ci scriva il nuovo indirizzo completo (via, numero civico, CAP, città) e un numero di "
        "telefono per il corriere.",
        "all",
    ),
    (
        "Rimborso: avviato",
        "rimborso",
        "Gentile {{cliente.nome}}, il reso dell'ordine {{ordine.numero}} è arrivato al nostro "
        "magazzino e abbiamo avviato il rimborso sul metodo di pagamento usato. Lo vedrà "
        "accreditato entro 5-10 giorni lavorativi, secondo i tempi della sua banca.",
        "all",
    ),
    (
        "Rimborso: tempi PayPal e carta",
        "rimborso-tempi",
        "Gentile {{cliente.nome}}, con PayPal il rimborso arriva di solito in 24 ore; con carta "
        "di credito servono fino a 10 giorni lavorativi. Se dopo questo tempo non lo vede, ci "
        "scriva e lo verifichiamo con la banca.",
        "Assistenza",
    ),
    (
        "Fattura: come richiederla",
        "fattura",
        "Gentile {{cliente.nome}}, la fattura si richiede al momento dell'ordine spuntando "
        "«Richiedo fattura». Se l'ha dimenticato, ci indichi ragione sociale, partita IVA, "
        "codice SDI o PEC: la emettiamo entro 2 giorni lavorativi.",
        "Vendite",
    ),
    (
        "Fattura: duplicato",
        "fattura-copia",
        "Gentile {{cliente.nome}}, trova tutte le fatture nella sezione «I miei ordini» del suo "
        "account. Le abbiamo comunque inviato una copia all'indirizzo {{cliente.email}}.",
        "Vendite",
    ),
    (
        "Garanzia: prodotto difettoso",
        "garanzia",
        "Gentile {{cliente.nome}}, tutti i nostri prodotti hanno la garanzia legale di 26 mesi. "
        "Ci invii una breve descrizione del difetto, una foto e il numero d'ordine: le "
        "proponiamo riparazione o sostituzione.",
        "all",
    ),
    (
        "Garanzia: tessili e lavaggio",
        "lavaggio",
        "Gentile {{cliente.nome}}, per lenzuola e tovaglie in lino consigliamo il lavaggio a "
        "40 °C con detersivo delicato, senza ammorbidente, e l'asciugatura all'aria. Così il "
        "tessuto resta morbido e non si restringe.",
        f"chiara@{DOMAIN}",
    ),
    (
        "Preventivo per aziende",
        "preventivo",
        "Gentile {{cliente.nome}}, grazie per l'interesse. Per ordini di più di 20 pezzi "
        "prepariamo un preventivo dedicato: ci indichi articoli, quantità e indirizzo di "
        "consegna e le rispondiamo entro un giorno lavorativo.",
        f"francesca@{DOMAIN}",
    ),
]

# (name, reply shortcut or None, status, priority, tags, assign)
MACROS: list[tuple[str, str | None, str | None, str | None, list[str], str]] = [
    ("Reso: invia istruzioni e metti in attesa", "reso", "pending", None, ["reso"], "me"),
    ("Rimborso avviato e risolvi", "rimborso", "resolved", None, ["rimborso"], "me"),
    ("Spedizione in ritardo: priorità alta", "ritardo", "pending", "high", ["spedizione"], "me"),
    ("Chiudi con saluto", "grazie", "resolved", None, [], ""),
]

# (name, filters, sort)
VIEWS: list[tuple[str, dict[str, str], str]] = [
    (
        "Urgenti non assegnate",
        {"status": "active", "assignee": "none", "priority": "urgent"},
        "sla",
    ),
    ("SLA a rischio", {"status": "active", "sla": "warning"}, "sla"),
    ("Resi in attesa", {"status": "pending", "tag": "reso"}, "oldest"),
]


def load(db: Database, *, now: datetime, seed: int) -> None:
    """Canned replies, macros and views for the demo shop (idempotent: nothing twice)."""
    random.Random(seed)  # the data is fixed; the seed is kept for the loaders' common signature
    with db.transaction() as session:
        if session.scalar(select(CannedReply.id).limit(1)) is not None:
            return
        _load(session)


def _user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        raise RuntimeError(f"the core demo must run first: {email} is missing")
    return user


def _load(session: Session) -> None:
    brand_id = accounts_service.default_brand(session).id
    supervisor = _user(session, f"paolo@{DOMAIN}")
    teams = {t.name: t for t in session.scalars(select(Team))}
    by_shortcut: dict[str, CannedReply] = {}
    for title, shortcut, body, share in REPLIES:
        if share == "all" or share in teams:
            reply = actions.do_create_reply(
                session,
                brand_id=brand_id,
                by=supervisor,
                title=title,
                shortcut=shortcut,
                body=body,
                shared=share == "all",
                team=teams.get(share),
            )
        else:
            reply = actions.do_create_reply(
                session,
                brand_id=brand_id,
                by=_user(session, share),
                title=title,
                shortcut=shortcut,
                body=body,
            )
        by_shortcut[shortcut] = reply
    for name, reply_key, status, priority, tags, assign in MACROS:
        if session.scalar(select(Macro.id).where(Macro.name == name)) is None:
            actions.do_create_macro(
                session,
                brand_id=brand_id,
                by=supervisor,
                shared=True,
                name=name,
                canned_reply_id=by_shortcut[reply_key].id if reply_key else None,
                status=status,
                priority=priority,
                add_tags=tags,
                assign=assign,
                assignee_id=None,
            )
    for name, filters, sort in VIEWS:
        if session.scalar(select(SavedView.id).where(SavedView.name == name)) is None:
            actions.do_save_view(
                session,
                brand_id=brand_id,
                by=supervisor,
                name=name,
                filters=filters,
                sort=sort,
                shared=True,
            )
