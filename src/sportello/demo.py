"""Demo data: "Casa Lavanda", a small Italian online shop for home goods, linens and lavender.

``sportello demo`` calls ``load``: 5 users (admin, supervisor, 3 agents), 2 teams with their
queues, four channels — a mailbox ("Email assistenza", paused: no IMAP server comes with the
demo; its replies go to the local mail catcher ``sportello serve`` starts, see demo_pages.py), a
website chat with the bot on ("Chat del sito", shown on ``/demo/shop``), an api channel ("App
mobile") and a web form ("Modulo contatti") — a help center of 47 articles (43 published, 4
internal procedures), about 450 customers and 1,400 conversations over the last 90 days, with
replies, notes, tags, priorities, assignments and statuses. Traffic grows over the span, peaks on
Mondays, is quiet on Sundays and dips at lunch; chat is busiest in the evening, mail arrives
overnight too. Email replies quote what they answer (the quote-free text is kept, as ingestion
does), and every message is in the search index. Then each domain's own loader runs
(``DOMAIN_DEMOS``).

Everything goes through the real actions (the one door for inbound messages, ``do_send_reply``,
``do_assign``...), so the data has the shape the application itself produces. Actions stamp rows
with the current time; a *demo clock* (a ``before_flush`` hook on the loading session) re-dates
each new or changed row to the moment of the step being played, so the history looks lived-in.

Names are our own short lists rather than Faker's: the demo ships with production installs, Faker
would be a large runtime dependency for a few hundred names, and its output changes between
releases, while the demo must be the same for a given seed. Customer addresses use reserved
``.example`` / ``example.com`` domains so that nothing can ever reach a real mailbox.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import ORMExecuteState, Session, lazyload

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Brand, Role, Team, User
from sportello.channels import actions as channels_actions
from sportello.channels import registry
from sportello.channels.base import Identity, InboundMessage
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from sportello.core.db import SESSION_CLOCK, SESSION_HISTORY, Database, utcnow
from sportello.core.events import SILENCE_EVENTS
from sportello.core.outbox import OutboxEvent
from sportello.customers.models import Customer, CustomerIdentity
from sportello.knowledge import bot
from sportello.knowledge.models import BotLog, BotSession
from sportello.routing.models import Queue

SHOP = "Casa Lavanda"
DOMAIN = "casalavanda.example"
DAYS = 90
CUSTOMERS = 450
CONVERSATIONS = 1400
BATCH = 200  # conversations per transaction
ROME = ZoneInfo("Europe/Rome")
# Domain loaders, called in this order after the core demo with ``load(db, now=now, seed=seed)``.
# A module not installed (yet) is skipped: each domain ships its own ``<package>/demo.py``.
DOMAIN_DEMOS: tuple[str, ...] = (
    "sportello.routing.demo",
    "sportello.replies.demo",
    "sportello.channels.demo",
    "sportello.surveys.demo",
    "sportello.reports.demo",
    "sportello.workforce.demo",
    "sportello.automation.demo",
    "sportello.quality.demo",
    "sportello.knowledge.demo",
    "sportello.privacy.demo",
    "sportello.frontline.demo",
    "sportello.nlp.demo",
    "sportello.campaigns.demo",
    "sportello.channels.voice.demo",
    "sportello.imports.demo",
    "sportello.departments.demo",
    "sportello.channels.pbx.demo",
)

# (email, password, role): printed by `sportello demo`.
LOGINS: list[tuple[str, str, str]] = [
    (f"elena@{DOMAIN}", "demo-sportello-1", "admin"),
    (f"paolo@{DOMAIN}", "demo-sportello-2", "supervisor"),
    (f"chiara@{DOMAIN}", "demo-sportello-3", "agent"),
    (f"davide@{DOMAIN}", "demo-sportello-4", "agent"),
    (f"francesca@{DOMAIN}", "demo-sportello-5", "agent"),
]
_STAFF_NAMES = [
    "Elena Ricci",
    "Paolo Marino",
    "Chiara Esposito",
    "Davide Romano",
    "Francesca Greco",
]

# ---------------------------------------------------------------------------------------------
# Names, products, messages
# ---------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [word.replace("_", " ") for word in text.split()]


FEMALE = _words(
    "Alessandra Alice Angela Anna Arianna Aurora Beatrice Benedetta Camilla Carla Caterina "
    "Cristina Daniela Elisa Emma Federica Gaia Giada Giorgia Giovanna Giulia Ilaria Irene "
    "Laura Lucia Manuela Marta Martina Maria Michela Monica Noemi Paola Rita Roberta Rosa "
    "Sabrina Serena Silvia Simona Sofia Stefania Teresa Valentina Veronica Vittoria"
)
MALE = _words(
    "Alberto Alessandro Andrea Antonio Carlo Claudio Cristian Daniele Dario Emanuele Enrico "
    "Fabio Federico Filippo Francesco Gabriele Giacomo Gianluca Giorgio Giovanni Giuseppe "
    "Lorenzo Luca Luigi Manuel Marco Massimo Matteo Mattia Michele Nicolò Paolo Pietro "
    "Raffaele Riccardo Roberto Salvatore Simone Stefano Tommaso Umberto Vincenzo"
)
_SURNAMES = (
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti "
    "De_Luca Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani "
    "Rinaldi Caruso Ferrara Galli Martini Leone Longo Gentile Martinelli Vitale Lombardo Serra "
    "Coppola De_Santis D'Angelo Marchetti Parisi Villa Conte Ferraro Ferri Fabbri Bianco Marini "
    "Grasso Valentini Messina Sala De_Angelis Gatti Pellegrini Palumbo Sanna Farina Rizzi Monti "
    "Cattaneo Morelli Amato Silvestri Mazza Testa Grassi Pellegrino Carbone Giuliani Benedetti "
    "Barone Rossetti Caputo Montanari Guerra Palmieri Bernardi Martino Fiore De_Rosa Ferretti "
    "Bellini Basile Riva Donati Piras Vitali Battaglia Sartori Neri Costantini Milani Pagano "
    "Ruggiero Sorrentino D'Amico Orlando Negri"
)
SURNAMES = _words(_SURNAMES)
MAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "posta.example")
MOBILE_PREFIXES = (
    "320",
    "327",
    "328",
    "329",
    "331",
    "333",
    "334",
    "335",
    "338",
    "339",
    "340",
    "347",
    "348",
    "349",
    "351",
    "366",
    "380",
    "388",
    "391",
    "393",
)

PRODUCTS: list[tuple[str, str]] = [
    ("set di 6 bicchieri in vetro soffiato", "34,90"),
    ("tovaglia in lino 160x220", "59,00"),
    ("lampada da tavolo in ceramica", "74,50"),
    ("cuscino in velluto 45x45", "24,90"),
    ("plaid in lana merino", "89,00"),
    ("set di asciugamani in cotone bio", "42,00"),
    ("vaso in terracotta smaltata", "29,90"),
    ("candela profumata al fico", "18,50"),
    ("piumino matrimoniale 4 stagioni", "139,00"),
    ("tappeto in juta 120x180", "79,90"),
    ("servizio di piatti in gres (18 pezzi)", "119,00"),
    ("caffettiera in acciaio da 6 tazze", "36,90"),
    ("tenda in lino 140x280", "49,90"),
    ("portaspezie in bambù", "22,00"),
    ("specchio rotondo in rattan", "64,00"),
    ("completo lenzuola in percalle matrimoniale", "69,90"),
]
COURIERS = ("BRT", "GLS", "SDA", "Poste Italiane")
MONTHS = _words(
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre"
)
# The channels a story can start on: (key, share of conversations, hourly weights, Rome time).
# Mail arrives around the clock (written at night, read in the morning); chat peaks in the
# evening after work; every channel dips at lunch.
CHANNEL_MIX: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("email", 0.38, (3, 3, 2, 2, 2, 2, 3, 5, 8, 9, 9, 8, 5, 5, 8, 8, 8, 7, 6, 5, 5, 5, 4, 3)),
    ("chat", 0.30, (1, 0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 3, 3, 6, 7, 7, 8, 10, 12, 13, 12, 8, 3)),
    ("webform", 0.16, (1, 1, 0, 0, 0, 0, 1, 2, 5, 8, 9, 9, 4, 4, 8, 9, 8, 7, 7, 8, 8, 7, 4, 2)),
    ("api", 0.16, (1, 1, 0, 0, 0, 0, 1, 3, 6, 8, 9, 9, 4, 4, 8, 9, 8, 7, 8, 9, 9, 8, 5, 2)),
)
# Monday's backlog from the weekend, a quiet Saturday afternoon and a quieter Sunday.
WEEKDAY_WEIGHTS = (1.45, 1.15, 1.05, 1.0, 0.92, 0.6, 0.42)
MAILBOX = f"assistenza@{DOMAIN}"
# The demo mailbox sends to a local mail catcher (demo_pages.py), started by `sportello serve`.
CATCHER_HOST = "127.0.0.1"
CATCHER_PORT = 2525
GREETINGS = ("Buongiorno", "Salve", "Buonasera", "Gentili signori", "Ciao")
SIGN_OFFS = ("Grazie", "Grazie mille", "Cordiali saluti", "Saluti", "Grazie in anticipo")


@dataclass(frozen=True)
class Thread:
    """One coherent exchange: the agent's first answer, the customer's reply, the agent's last
    word. ``waits``: the first answer asks the customer something (the case goes pending)."""

    reply: str
    followup: str
    closing: str
    waits: bool = False


@dataclass(frozen=True)
class Topic:
    key: str
    team: str  # "assistenza" | "vendite"
    tags: tuple[str, ...]
    priorities: tuple[tuple[Priority, int], ...]
    subjects: tuple[str, ...]
    openers: tuple[str, ...]
    threads: tuple[Thread, ...]
    notes: tuple[str, ...]
    weight: int


_NORMAL = ((Priority.LOW, 10), (Priority.NORMAL, 75), (Priority.HIGH, 15))
TOPICS: tuple[Topic, ...] = (
    Topic(
        "spedizione",
        "assistenza",
        ("spedizione",),
        _NORMAL,
        ("Ordine {ordine} non ancora arrivato", "Dov'è il mio ordine?", "Spedizione in ritardo"),
        (
            "{saluto}, ho ordinato {prodotto} il {data_ordine} (ordine {ordine}) ma non è ancora "
            "arrivato. Sul sito di {corriere} il tracking è fermo da giorni. Potete verificare?",
            "{saluto}, l'ordine {ordine} doveva arrivare entro ieri ma non ho ricevuto niente. "
            "Mi servirebbe per il fine settimana, è un regalo. {firma}",
            "{saluto}, il codice di tracciamento {tracking} risulta 'in lavorazione' da una "
            "settimana. È normale? Ordine {ordine}.",
            "Salve, avevo scelto la spedizione espressa ma dopo 5 giorni il pacco non c'è. "
            "Ordine {ordine}. Mi fate sapere qualcosa? {firma}",
        ),
        (
            Thread(
                "Gentile {nome}, abbiamo verificato con {corriere}: il pacco dell'ordine {ordine} "
                "è in giacenza al deposito di zona per un indirizzo incompleto. Ci conferma "
                "l'indirizzo completo, con numero civico e nome sul citofono?",
                "L'indirizzo è giusto, manca solo l'interno: scala B, interno 4. Grazie!",
                "Gentile {nome}, abbiamo aggiornato l'indirizzo: {corriere} consegnerà domani "
                "mattina. Ci scusiamo per l'attesa.",
                waits=True,
            ),
            Thread(
                "Gentile {nome}, ci scusiamo per il ritardo. Il corriere segnala un rallentamento "
                "nel centro di smistamento; la consegna è prevista entro 48 ore. Il tracking è "
                "{tracking}.",
                "Arrivato proprio adesso, grazie!",
                "Gentile {nome}, ci fa piacere che il pacco sia arrivato. Buona giornata!",
            ),
            Thread(
                "Gentile {nome}, abbiamo aperto una segnalazione con {corriere} per l'ordine "
                "{ordine}. Le scriviamo appena abbiamo notizie, al massimo entro domani.",
                "Ancora niente, il tracking è sempre fermo. Potete rispedirlo?",
                "Gentile {nome}, abbiamo rispedito l'ordine {ordine} con spedizione prioritaria a "
                "nostro carico: nuovo tracking {tracking}. Il primo pacco, se arriva, può "
                "rifiutarlo.",
            ),
        ),
        (
            "Tracking fermo al deposito di Bologna, sollecitato {corriere} via portale.",
            "Terzo caso questa settimana con {corriere} in ritardo: da segnalare al fornitore.",
            "Cliente già servito altre volte: se non arriva rispediamo senza attendere.",
        ),
        weight=26,
    ),
    Topic(
        "reso",
        "assistenza",
        ("reso",),
        _NORMAL,
        ("Richiesta di reso", "Reso ordine {ordine}", "Vorrei restituire un articolo"),
        (
            "{saluto}, vorrei restituire {prodotto} dell'ordine {ordine}: il colore è diverso da "
            "quello della foto. Come devo fare per il reso?",
            "{saluto}, ho ricevuto {prodotto} ma non mi convince, è più piccolo di quanto "
            "pensassi. Posso renderlo? {firma}",
            "{saluto}, devo restituire un articolo dell'ordine {ordine}. Il reso è gratuito "
            "o devo pagare io la spedizione?",
        ),
        (
            Thread(
                "Gentile {nome}, certo: ha 30 giorni dalla consegna per il reso, ed è gratuito. Le "
                "abbiamo inviato l'etichetta prepagata {corriere}: basta stamparla e applicarla "
                "sul pacco originale.",
                "Fatto, il pacco è partito stamattina. Il rimborso arriva sulla carta?",
                "Gentile {nome}, il reso è arrivato al nostro magazzino e il rimborso di {importo} "
                "€ è stato disposto sulla stessa carta: lo vedrà entro 5-7 giorni lavorativi.",
            ),
            Thread(
                "Gentile {nome}, il reso è gratuito entro 30 giorni. Può prenotare il ritiro a "
                "domicilio dalla sezione 'I miei ordini', selezionando l'ordine {ordine}.",
                "Non trovo il pulsante per il ritiro, mi compare solo 'Assistenza'.",
                "Gentile {nome}, abbiamo prenotato noi il ritiro con {corriere} per giovedì, tra "
                "le 9 e le 18. Le basta consegnare il pacco chiuso al corriere.",
            ),
        ),
        (
            "Reso approvato, articolo integro secondo le foto.",
            "Al rientro verificare che la confezione sia completa prima del rimborso.",
        ),
        weight=18,
    ),
    Topic(
        "rimborso",
        "assistenza",
        ("rimborso",),
        ((Priority.NORMAL, 55), (Priority.HIGH, 35), (Priority.URGENT, 10)),
        (
            "Rimborso non ricevuto",
            "Quando arriva il rimborso?",
            "Sollecito rimborso ordine {ordine}",
        ),
        (
            "{saluto}, ho restituito {prodotto} tre settimane fa ma il rimborso di {importo} € "
            "non è ancora arrivato. Ordine {ordine}. {firma}",
            "{saluto}, è la seconda volta che scrivo: il rimborso per l'ordine {ordine} non "
            "risulta. Vorrei una risposta chiara, per favore.",
            "{saluto}, avete ricevuto il mio reso? Aspetto ancora il rimborso di {importo} €.",
        ),
        (
            Thread(
                "Gentile {nome}, abbiamo verificato: il rimborso è stato eseguito su PayPal il "
                "{data_ordine}. Può controllare nella sezione 'Attività' del suo conto?",
                "Ok, trovato su PayPal, mi era sfuggito. Scusate!",
                "Gentile {nome}, nessun problema! Restiamo a disposizione per qualsiasi cosa.",
            ),
            Thread(
                "Gentile {nome}, per completare il rimborso ci serve un IBAN intestato a lei, "
                "perché l'ordine era stato pagato in contrassegno.",
                "Ecco l'IBAN: IT60 X054 2811 1010 0000 0123 456, intestato a {cliente}.",
                "Gentile {nome}, il bonifico di {importo} € è partito oggi: lo vedrà sul conto "
                "in 1-2 giorni lavorativi. Ci scusiamo per l'attesa.",
                waits=True,
            ),
            Thread(
                "Gentile {nome}, ci scusiamo per l'attesa. Il reso è stato registrato e il "
                "rimborso di {importo} € è stato disposto oggi: l'accredito dipende dalla banca, "
                "di solito 3-5 giorni lavorativi.",
                "Sono passati 5 giorni e sulla carta non vedo niente. Mi mandate la ricevuta?",
                "Gentile {nome}, le abbiamo inviato la ricevuta dell'operazione con il codice di "
                "riferimento: con quello la sua banca può rintracciare l'accredito.",
            ),
        ),
        (
            "Cliente molto insoddisfatto: seguire con priorità.",
            "Rimborso bloccato in contabilità, sollecitata l'amministrazione.",
            "Verificato con l'amministrazione: bonifico partito ieri.",
        ),
        weight=14,
    ),
    Topic(
        "fattura",
        "vendite",
        ("fattura",),
        ((Priority.LOW, 40), (Priority.NORMAL, 60)),
        ("Richiesta fattura", "Fattura ordine {ordine}", "Fattura elettronica con P.IVA"),
        (
            "{saluto}, avrei bisogno della fattura per l'ordine {ordine}. Ho partita IVA, il "
            "codice SDI è M5UXCR1. {firma}",
            "{saluto}, mi serve la fattura intestata alla mia ditta per l'ordine {ordine}, "
            "non lo scontrino.",
            "{saluto}, non trovo la fattura dell'ordine {ordine} nell'area clienti. "
            "Dove posso scaricarla?",
        ),
        (
            Thread(
                "Gentile {nome}, per emettere la fattura elettronica ci servono anche la ragione "
                "sociale, la partita IVA e l'indirizzo della sede legale.",
                "{cliente} Studio Associato, via Garibaldi 12, 20121 Milano, P.IVA 01234567890.",
                "Gentile {nome}, la fattura elettronica è stata emessa e inviata allo SDI; la "
                "trova anche in 'I miei ordini'. Buon lavoro!",
                waits=True,
            ),
            Thread(
                "Gentile {nome}, la fattura è in 'I miei ordini' > {ordine} > 'Documenti'. Se non "
                "la vede, ce lo dica e gliela inviamo noi.",
                "Trovata, grazie!",
                "Gentile {nome}, perfetto. Buona giornata!",
            ),
        ),
        (
            "Emessa nota di credito e nuova fattura per l'ordine {ordine}.",
            "Ricordarsi di chiedere la P.IVA al checkout: proposta per il sito.",
        ),
        weight=10,
    ),
    Topic(
        "prodotto",
        "vendite",
        ("info prodotto",),
        ((Priority.LOW, 45), (Priority.NORMAL, 55)),
        ("Informazioni su {prodotto}", "Domanda su un prodotto", "Misure e materiali"),
        (
            "{saluto}, {prodotto} si può lavare in lavatrice? E a che temperatura?",
            "{saluto}, prima di ordinare {prodotto} vorrei sapere da dove arriva. È prodotto in "
            "Italia? {firma}",
            "{saluto}, {prodotto} va bene come regalo di nozze? Fate la confezione regalo?",
        ),
        (
            Thread(
                "Gentile {nome}, sì: lavaggio a 30° con programma delicato, senza centrifuga. "
                "Consigliamo di farlo asciugare steso.",
                "Perfetto, allora ordino. E il colore salvia quando torna disponibile?",
                "Gentile {nome}, il salvia rientra a fine mese: le abbiamo attivato l'avviso di "
                "disponibilità. Buona giornata!",
            ),
            Thread(
                "Gentile {nome}, {prodotto} è realizzato da un laboratorio artigiano in Toscana. "
                "Trova le misure esatte nella scheda prodotto, sotto 'Dettagli'.",
                "Grazie, molto gentili.",
                "Gentile {nome}, grazie a lei! Buoni acquisti.",
            ),
            Thread(
                "Gentile {nome}, la confezione regalo costa 3,50 €: la può scegliere nel carrello, "
                "con un biglietto scritto a mano.",
                "Ottimo, posso far spedire direttamente agli sposi?",
                "Gentile {nome}, certo: basta indicare il loro indirizzo come indirizzo di "
                "consegna. Il prezzo non compare né sul pacco né sul biglietto.",
            ),
        ),
        (
            "Chiedere al fornitore la scheda tecnica aggiornata.",
            "Possibile ordine grosso: seguire.",
        ),
        weight=16,
    ),
    Topic(
        "danneggiato",
        "assistenza",
        ("danneggiato", "reclamo"),
        ((Priority.NORMAL, 30), (Priority.HIGH, 55), (Priority.URGENT, 15)),
        ("Prodotto arrivato rotto", "Merce danneggiata ordine {ordine}", "Pacco rovinato"),
        (
            "{saluto}, il pacco dell'ordine {ordine} è arrivato schiacciato e {prodotto} è rotto. "
            "Sono molto deluso, era un regalo. {firma}",
            "{saluto}, ho aperto il pacco e {prodotto} ha una crepa evidente. Cosa posso fare?",
            "{saluto}, {prodotto} è arrivato scheggiato. Vorrei la sostituzione.",
        ),
        (
            Thread(
                "Gentile {nome}, ci dispiace molto. Può mandarci una foto del prodotto e una della "
                "scatola? Così apriamo subito la pratica con {corriere} e le spediamo la "
                "sostituzione.",
                "Ecco le foto, la scatola era proprio sfondata.",
                "Gentile {nome}, grazie per le foto. La sostituzione è partita oggi con "
                "{corriere}, tracking {tracking}. Ci scusiamo ancora per l'inconveniente.",
                waits=True,
            ),
            Thread(
                "Gentile {nome}, ci scusiamo: le spediamo subito un nuovo {prodotto} senza costi. "
                "Non serve restituire quello rotto.",
                "Grazie, gentilissimi. Quando arriva?",
                "Gentile {nome}, è partito oggi con {corriere}, tracking {tracking}: la consegna è "
                "prevista in 2-3 giorni lavorativi.",
            ),
            Thread(
                "Gentile {nome}, ci dispiace molto. Preferisce la sostituzione o il rimborso?",
                "Preferirei il rimborso, grazie.",
                "Gentile {nome}, abbiamo disposto il rimborso completo di {importo} €. Non serve "
                "restituire l'articolo.",
                waits=True,
            ),
        ),
        (
            "Foto ricevute: danno da trasporto evidente, aperta pratica con {corriere}.",
            "Imballo insufficiente per il vetro: segnalato al magazzino.",
            "Sostituzione approvata da Paolo.",
        ),
        weight=12,
    ),
    Topic(
        "modifica",
        "assistenza",
        ("modifica ordine",),
        ((Priority.NORMAL, 60), (Priority.HIGH, 40)),
        ("Cambio indirizzo di consegna", "Modifica ordine {ordine}", "Annullare ordine"),
        (
            "{saluto}, ho sbagliato l'indirizzo nell'ordine {ordine}: è via Roma 15, non 51. "
            "Si può ancora correggere?",
            "{saluto}, devo cambiare l'indirizzo di consegna dell'ordine {ordine}: questa "
            "settimana sono in ufficio, non a casa. {firma}",
        ),
        (
            Thread(
                "Gentile {nome}, l'ordine non era ancora partito: abbiamo corretto l'indirizzo.",
                "Grazie, gentilissimi!",
                "Gentile {nome}, a lei. A presto!",
            ),
            Thread(
                "Gentile {nome}, l'ordine è già stato affidato al corriere. Possiamo chiedere a "
                "{corriere} di modificare la consegna: ci conferma un numero di telefono?",
                "Il numero è lo stesso dell'ordine, grazie.",
                "Gentile {nome}, {corriere} ha aggiornato la consegna; la contatteranno prima di "
                "passare. Buona giornata!",
                waits=True,
            ),
        ),
        ("Fermato in magazzino prima della partenza.",),
        weight=8,
    ),
    Topic(
        "pagamento",
        "vendite",
        ("pagamento",),
        _NORMAL,
        ("Problema con il pagamento", "Carta rifiutata", "Pagamento con bonifico"),
        (
            "{saluto}, provo a pagare con la carta ma il pagamento viene rifiutato, eppure la "
            "carta funziona. Potete aiutarmi?",
            "{saluto}, ho pagato con bonifico l'ordine {ordine} tre giorni fa ma risulta ancora "
            "'in attesa di pagamento'. {firma}",
            "{saluto}, mi è stato addebitato due volte l'importo dell'ordine {ordine}!",
        ),
        (
            Thread(
                "Gentile {nome}, spesso il rifiuto dipende dalla verifica 3D Secure: provi ad "
                "autorizzare il pagamento dall'app della banca, oppure usi PayPal.",
                "Con PayPal ha funzionato, grazie.",
                "Gentile {nome}, perfetto: l'ordine è in preparazione. Buoni acquisti!",
            ),
            Thread(
                "Gentile {nome}, i bonifici impiegano 1-2 giorni lavorativi. Ci manda la "
                "contabile, così lo cerchiamo noi?",
                "Ecco la contabile del bonifico, CRO 0123456789.",
                "Gentile {nome}, il pagamento è registrato e l'ordine {ordine} è in preparazione.",
                waits=True,
            ),
            Thread(
                "Gentile {nome}, il secondo addebito è una preautorizzazione che la banca sblocca "
                "da sola entro pochi giorni: non è un doppio pagamento.",
                "Ok, controllo tra qualche giorno.",
                "Gentile {nome}, se tra cinque giorni lo vede ancora ci scriva pure. Buona "
                "giornata!",
            ),
        ),
        ("Bonifico trovato in banca, ordine sbloccato.",),
        weight=7,
    ),
    Topic(
        "sconto",
        "vendite",
        ("codice sconto",),
        ((Priority.LOW, 60), (Priority.NORMAL, 40)),
        ("Codice sconto non funziona", "Codice BENVENUTO10", "Sconto non applicato"),
        (
            "{saluto}, il codice BENVENUTO10 dice 'non valido'. Mi è arrivato con la newsletter.",
            "{saluto}, ho dimenticato di inserire il codice sconto nell'ordine {ordine}. "
            "Potete applicarlo lo stesso?",
        ),
        (
            Thread(
                "Gentile {nome}, il codice vale su una spesa minima di 50 €. Le abbiamo creato un "
                "codice valido 7 giorni senza minimo: CASA-{ordine}.",
                "Funziona, grazie!",
                "Gentile {nome}, grazie a lei e buona giornata!",
            ),
            Thread(
                "Gentile {nome}, nessun problema: le abbiamo rimborsato la differenza sullo "
                "stesso metodo di pagamento.",
                "Gentilissimi, grazie.",
                "Gentile {nome}, a presto!",
            ),
        ),
        ("Codice manuale creato, scadenza 7 giorni.",),
        weight=5,
    ),
    Topic(
        "disponibilita",
        "vendite",
        ("disponibilità",),
        ((Priority.LOW, 70), (Priority.NORMAL, 30)),
        ("{prodotto} esaurito", "Quando tornate ad avere {prodotto}?", "Disponibilità prodotto"),
        (
            "{saluto}, {prodotto} risulta esaurito. Sapete quando torna disponibile?",
            "{saluto}, mi servirebbero 12 pezzi di {prodotto} per un agriturismo. Ne avete "
            "abbastanza? Fate sconti per quantità? {firma}",
        ),
        (
            Thread(
                "Gentile {nome}, il prossimo arrivo è previsto tra due settimane. Vuole che la "
                "avvisiamo noi appena è disponibile?",
                "Sì, avvisatemi, grazie.",
                "Gentile {nome}, fatto: riceverà un avviso appena torna disponibile.",
                waits=True,
            ),
            Thread(
                "Gentile {nome}, per ordini da 10 pezzi in su applichiamo il 12% di sconto. Le "
                "mandiamo un preventivo?",
                "Sì, mandatemi il preventivo con la spedizione.",
                "Gentile {nome}, le abbiamo inviato il preventivo: resta valido 15 giorni.",
                waits=True,
            ),
        ),
        ("Cliente business (agriturismo): proporre il listino rivenditori.",),
        weight=6,
    ),
)
# What website visitors ask the chat (where the bot answers first): (question, topic if a person
# has to take over). Most are in the help center; the bot hands the rest over.
BOT_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Quanto costa la spedizione?", "spedizione"),
    ("Ciao, in quanti giorni arriva un ordine?", "spedizione"),
    ("Come faccio a seguire il mio pacco?", "spedizione"),
    ("Come faccio un reso?", "reso"),
    ("Il reso è gratuito?", "reso"),
    ("Quanto tempo ho per restituire un articolo?", "reso"),
    ("Quando arriva il rimborso?", "rimborso"),
    ("Accettate PayPal? E il contrassegno?", "pagamento"),
    ("Mi hanno addebitato due volte l'ordine, come mai?", "pagamento"),
    ("Come lavo le lenzuola di lino?", "prodotto"),
    ("Il plaid di lana merino si può lavare in lavatrice?", "prodotto"),
    ("Fate la confezione regalo?", "prodotto"),
    ("Come richiedo la fattura con partita IVA?", "fattura"),
    ("Il codice sconto BENVENUTO10 non funziona", "sconto"),
    ("Spedite anche in Svizzera?", "spedizione"),
    ("Il pacco è arrivato con un vaso rotto, cosa faccio?", "danneggiato"),
)
BOT_SATISFIED = ("Sì, grazie!", "sì perfetto grazie", "Sì, era quello che mi serviva.")
BOT_UNSATISFIED = (
    "No, vorrei parlare con una persona.",
    "No, non mi aiuta. Posso parlare con un operatore?",
)
THANKS = (
    "Grazie mille, tutto risolto!",
    "Perfetto, grazie per la disponibilità.",
    "Gentilissimi, grazie!",
    "Ok grazie, buona giornata.",
)
_MAILBOX_FORM = {
    "address": MAILBOX,
    "display_name": f"{SHOP} Assistenza",
    "imap_host": "imap.casalavanda.example",
    "imap_security": "tls",
    "imap_password": "demo-non-usata",
    "smtp_host": CATCHER_HOST,
    "smtp_port": str(CATCHER_PORT),
    "smtp_security": "none",
    "language": "it",
}
_CHAT_FORM = {
    "color": "#6b4f9e",
    "title": f"{SHOP} · Assistenza",
    "greeting_it": "Ciao! Sono l'assistente di Casa Lavanda: chiedimi di spedizioni, resi, "
    "pagamenti o come lavare il lino.",
    "greeting_en": "Hi! I'm Casa Lavanda's assistant: ask me about shipping, returns, payments "
    "or linen care.",
    "prechat": "off",
    "topics": "Ordini e spedizioni,Resi e rimborsi,Prodotti",
    # The bot answers at any hour: the widget stays a live chat when no agent is online.
    "offline_when_no_agent": "off",
}
BOT_SETTINGS: dict[str, Any] = {
    "enabled": True,
    "name": "Lavandina",
    "greeting": "Ciao! Sono Lavandina, l'assistente virtuale di Casa Lavanda. Come posso aiutarti?",
    "threshold": 0.5,  # calibrated on bench/data (bench/kb_search.py)
    "blocked_topics": ["avvocato", "denuncia"],
}
SIGNATURE = "\n\nUn saluto,\n{agente} – " + SHOP
NO_ANSWER_NOTES = (
    "Nessuna risposta dal cliente da giorni: risolvo, si riapre se scrive.",
    "Il cliente non ha più risposto. Chiudo la pratica.",
)


# ---------------------------------------------------------------------------------------------
# The demo clock: actions stamp "now"; the clock re-dates what they wrote to the step being played
# ---------------------------------------------------------------------------------------------


class DemoClock:
    """Re-dates what actions write to ``self.now``, the moment of the step being played.

    Actions stamp rows with ``utcnow()``. A stamp later than ``cutoff`` (the real time the load
    began) is one of those, and is moved to ``now``; older values are demo times already set and
    are kept. The clock works as a ``before_flush`` hook, for rows actions flush themselves, and
    through ``settle()`` after each step, for changes still pending in memory.

    It also keeps the demo's events out of the outbox. The demo is history, not live traffic:
    routing would offer weeks-old conversations to agents, the realtime hub would flood open
    consoles, outgoing webhooks would tell integrators about messages that never happened, and
    ``message.outbound_queued`` would make the dispatcher send every reply to its customer. So
    the outbox rows ``emit()`` adds are taken out of the session as soon as they are added: they
    are never written, no dispatcher (not even one running right now) can see them, and no
    clean-up is needed afterwards (also the cheapest option: a third of the demo's INSERTs would
    be events). Replies likewise are stored as delivered long ago: no delivery job can exist.
    """

    # Stamps every row has (set when empty or fresh), and optional ones (set only when fresh).
    STAMPS: ClassVar[dict[type, tuple[tuple[str, ...], tuple[str, ...]]]] = {
        Message: (("created_at", "updated_at"), ()),
        Customer: (("created_at", "updated_at"), ()),
        CustomerIdentity: (("created_at",), ()),
        Conversation: (
            ("created_at", "updated_at", "last_message_at"),
            ("last_inbound_at", "first_response_at", "resolved_at", "closed_at"),
        ),
        BotLog: (("created_at",), ()),
        BotSession: (("created_at", "updated_at"), ()),
    }

    def __init__(self, session: Session, cutoff: datetime) -> None:
        self.session = session
        self.cutoff = cutoff
        self.now = cutoff
        self.dropped_events = 0
        session.info[SILENCE_EVENTS] = True  # emit() writes no outbox rows for this session
        # Core writes (the reply action) stamp their rows with the step's moment, delivered.
        session.info[SESSION_CLOCK] = lambda: self.now
        session.info[SESSION_HISTORY] = True
        event.listen(session, "before_flush", self._before_flush)
        event.listen(session, "do_orm_execute", self._lazy)
        event.listen(session, "transient_to_pending", self._added)

    def close(self) -> None:
        self.session.info.pop(SILENCE_EVENTS, None)
        self.session.info.pop(SESSION_CLOCK, None)
        self.session.info.pop(SESSION_HISTORY, None)
        event.remove(self.session, "before_flush", self._before_flush)
        event.remove(self.session, "do_orm_execute", self._lazy)
        event.remove(self.session, "transient_to_pending", self._added)

    def _added(self, session: Session, obj: object) -> None:
        # Dropped as soon as added: the session numbers pending rows by its count of them, so
        # removing one later would let a newer message be inserted before an older one.
        if isinstance(obj, OutboxEvent):
            session.expunge(obj)
            self.dropped_events += 1

    @staticmethod
    def _lazy(state: ORMExecuteState) -> None:
        # Speed only: the models eager-load a cascade (a conversation's assignee, their teams,
        # every member of those, the customer's identities, the tags: 6 queries a conversation,
        # even when all of it is already in the session). The loader needs none of it, and what
        # an action does touch still loads on access, so the data written is the same.
        if state.is_select and not state.is_column_load and state.all_mappers:
            state.statement = state.statement.options(lazyload("*"))

    def _redate(self, obj: object) -> None:
        stamps = self.STAMPS.get(type(obj))
        if stamps is None:
            return
        required, optional = stamps
        now, cutoff = self.now, self.cutoff
        for name in required:
            value = getattr(obj, name)
            if value is None or value >= cutoff:
                setattr(obj, name, now)
        for name in optional:
            value = getattr(obj, name)
            if value is not None and value >= cutoff:
                setattr(obj, name, now)
        if (
            isinstance(obj, Message)
            and obj.direction == Direction.OUTBOUND
            and obj.delivery_state == DeliveryState.QUEUED
        ):
            obj.delivery_state = DeliveryState.DELIVERED

    def _before_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        self.settle()
        for obj in session.dirty:
            if isinstance(obj, Conversation):
                self._redate(obj)

    def settle(self, *touched: object) -> None:
        """Date the pending rows (and ``touched`` ones) now."""
        for obj in self.session.new:
            self._redate(obj)
        for obj in touched:
            self._redate(obj)


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


@dataclass
class Person:
    name: str
    first: str
    email: str
    phone: str | None

    @property
    def visitor(self) -> str:
        """The chat widget's id of this person's browser."""
        return "v_" + hashlib.sha256(self.email.encode()).hexdigest()[:24]


@dataclass
class Staff:
    admin: User
    supervisor: User
    agents: dict[str, list[User]]  # team key -> agents
    queues: dict[str, Queue]


@dataclass
class Step:
    at: datetime
    run: Callable[[], None]


@dataclass
class Plan:
    """One conversation's story; each step is played at its time, those in the future dropped."""

    steps: list[Step] = field(default_factory=list)


def _ascii(text: str) -> str:
    return (
        unicodedata.normalize("NFKD", text)
        .encode("ascii", "ignore")
        .decode()
        .lower()
        .replace("'", "")
        .replace(" ", "")
    )


def make_people(rng: random.Random, count: int | None = None) -> list[Person]:
    count = CUSTOMERS if count is None else count
    people: list[Person] = []
    seen: set[str] = set()
    while len(people) < count:
        first = rng.choice(FEMALE if rng.random() < 0.55 else MALE)
        last = rng.choice(SURNAMES)
        name = f"{first} {last}"
        f, s = _ascii(first), _ascii(last)
        local = rng.choice(
            (
                f"{f}.{s}",
                f"{f}{s}",
                f"{f[0]}.{s}",
                f"{f}.{s}{rng.randint(70, 99)}",
                f"{s}.{f}",
                f"{f}_{s}{rng.randint(1, 9)}",
            )
        )
        email = f"{local}@{rng.choice(MAIL_DOMAINS)}"
        if name in seen or email in seen:
            continue
        seen.update((name, email))
        phone = None
        if rng.random() < 0.4:
            phone = f"+39 {rng.choice(MOBILE_PREFIXES)} {rng.randint(1000000, 9999999)}"
        people.append(Person(name, first, email, phone))
    return people


def _business(at: datetime, rng: random.Random) -> datetime:
    """The first moment at or after ``at`` when the shop's team works (Mon-Fri 9-18, Sat 9-13)."""
    local = at.astimezone(ROME)
    for _ in range(8):
        close = 13 if local.weekday() == 5 else 18
        if local.weekday() < 6 and local.hour < close:
            if local.hour < 9:
                local = local.replace(hour=9, minute=rng.randint(0, 40), second=rng.randint(0, 59))
            return local.astimezone(UTC)
        local = (local + timedelta(days=1)).replace(hour=8, minute=0)
    return local.astimezone(UTC)


def _quote(text: str, at: datetime, author: str) -> str:
    """What a mail client appends to a reply: an attribution line and the quoted message."""
    local = at.astimezone(ROME)
    when = f"{local.day} {MONTHS[local.month - 1]} {local.year} alle ore {local:%H:%M}"
    lines = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"\n\nIl giorno {when} {author} – {SHOP} <{MAILBOX}> ha scritto:\n\n{lines}"


def _after(at: datetime, rng: random.Random, low_min: float, high_min: float) -> datetime:
    return at + timedelta(minutes=rng.uniform(low_min, high_min))


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format(**values)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def is_loaded(session: Session) -> bool:
    if session.scalar(select(Conversation.id).limit(1)) is not None:
        return True
    emails = [email for email, _, _ in LOGINS]
    return session.scalar(select(User.id).where(User.email.in_(emails)).limit(1)) is not None


def clear(db: Database) -> None:
    """Empty every data table except the brand and the counters (numbers keep growing)."""
    from sportello.models import metadata

    keep = {"brand", "counter"}
    tables = [t.name for t in reversed(metadata.sorted_tables) if t.name not in keep]
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for name in tables:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')  # noqa: S608 (our own table names)
        else:
            quoted = ", ".join(f'"{name}"' for name in tables)
            conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY")


def load(
    db: Database, *, seed: int = 42, force: bool = False, now: datetime | None = None
) -> list[tuple[str, str, str]] | None:
    """Load the demo shop. Returns the logins, or None when data is already there (and not force).

    With ``force`` every data table is emptied first (users, customers, conversations, channels:
    everything but the brand and the counters). ``now`` fixes "today" for repeatable tests.
    """
    with db.session() as session:
        loaded = is_loaded(session)
    if loaded and not force:
        return None
    if loaded:
        clear(db)
    rng = random.Random(seed)
    now = (now or utcnow()).replace(microsecond=0)
    cutoff = utcnow() - timedelta(seconds=5)  # stamps taken by actions during the load are later
    if now > cutoff:
        now = cutoff - timedelta(seconds=1)
    registry.load_builtin()

    with db.transaction() as session:
        staff, channels = _setup(session, now)
        staff_ids = _ids(staff)
        channel_ids = {key: c.id for key, c in channels.items()}
        _knowledge_base(session, staff, now)

    people = make_people(rng, min(CUSTOMERS, CONVERSATIONS))
    # Every customer writes at least once; a few loyal ones write several times.
    picks = list(range(len(people)))
    weights = [1.0 / (1 + i) ** 0.7 for i in range(len(people))]
    picks += rng.choices(range(len(people)), weights=weights, k=CONVERSATIONS - len(people))
    rng.shuffle(picks)
    starts = _schedule(rng, now, CONVERSATIONS)

    active: set[tuple[int, str]] = set()  # (person, channel) with an active conversation
    counter = 0
    for batch_start in range(0, CONVERSATIONS, BATCH):
        with db.transaction() as session:
            clock = DemoClock(session, cutoff)
            staff = _reload(session, staff_ids)
            chans = {key: session.get_one(Channel, cid) for key, cid in channel_ids.items()}
            for i in range(batch_start, min(batch_start + BATCH, CONVERSATIONS)):
                at, key = starts[i]
                person_index = picks[i]
                if (person_index, key) in active:
                    person_index = next(
                        p
                        for p in rng.sample(range(len(people)), len(people))
                        if (p, key) not in active
                    )
                counter += 1
                still_active = _play(
                    session,
                    clock,
                    rng,
                    staff,
                    chans[key],
                    people[person_index],
                    at,
                    now,
                    f"demo-{seed}-{counter}",
                )
                if still_active:
                    active.add((person_index, key))
            clock.close()

    with db.transaction() as session:
        # Customers and their identities date from the customer's first message (a later
        # touch by an action stamped the real time: bring it back to the demo's past).
        session.execute(
            update(Customer)
            .where(Customer.updated_at >= cutoff)
            .values(updated_at=Customer.created_at)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(CustomerIdentity)
            .values(
                created_at=select(Customer.created_at)
                .where(Customer.id == CustomerIdentity.customer_id)
                .scalar_subquery()
            )
            .execution_options(synchronize_session=False)
        )
    load_domains(db, now=now, seed=seed)
    with db.transaction() as session:
        # A domain's loader that went through an action (a follow-up's note, a survey sent)
        # stamped its conversation with the real time: back to the conversation's own last moment.
        session.execute(
            update(Conversation)
            .where(Conversation.updated_at >= cutoff)
            .values(updated_at=func.coalesce(Conversation.last_message_at, Conversation.created_at))
            .execution_options(synchronize_session=False)
        )
    _index_messages(db)  # last: the domains' loaders add messages too (surveys, follow-ups)
    return list(LOGINS)


def _schedule(rng: random.Random, now: datetime, count: int) -> list[tuple[datetime, str]]:
    """When each story starts and on which channel, oldest first.

    A growing shop (a third more traffic at the end of the span than at its start), Monday's
    peak and quiet Sundays (``WEEKDAY_WEIGHTS``), each channel's hours (``CHANNEL_MIX``); none
    in the last ten minutes."""
    start = now - timedelta(days=DAYS)
    top = max(WEEKDAY_WEIGHTS)
    keys = [key for key, _, _ in CHANNEL_MIX]
    shares = [share for _, share, _ in CHANNEL_MIX]
    hours = {key: weights for key, _, weights in CHANNEL_MIX}
    found: list[tuple[datetime, str]] = []
    while len(found) < count:
        offset = rng.uniform(0, DAYS)
        day = (start + timedelta(days=offset)).astimezone(ROME)
        growth = 0.75 + 0.25 * offset / DAYS
        if rng.random() > growth * WEEKDAY_WEIGHTS[day.weekday()] / top:
            continue
        key = rng.choices(keys, weights=shares)[0]
        hour = rng.choices(range(24), weights=hours[key])[0]
        local = day.replace(
            hour=hour, minute=rng.randint(0, 59), second=rng.randint(0, 59), microsecond=0
        )
        at = local.astimezone(UTC)
        if start <= at < now - timedelta(minutes=10):
            found.append((at, key))
    return sorted(found)


def _index_messages(db: Database) -> None:
    """The search index of every message, as the ``message.received`` handler keeps it live
    (the demo's events are silenced, so the handler never saw them)."""
    from sportello.knowledge.indexing import index_messages

    with db.session() as session:
        ids = list(session.scalars(select(Message.id).order_by(Message.id)))
    for at in range(0, len(ids), 2000):
        index_messages(db, [("message.received", {"message_id": i}) for i in ids[at : at + 2000]])


def _present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent package itself is missing
        return False


def load_domains(db: Database, *, now: datetime, seed: int) -> list[str]:
    """Call each present loader of ``DOMAIN_DEMOS`` in order; returns the names called. Then,
    in the same order, each loader's ``after_all(db, now=, seed=)`` if it has one: for what
    sums up every domain's history (the reports' aggregates count the demo's phone calls)."""
    called = []
    for name in DOMAIN_DEMOS:
        if not _present(name):
            continue
        module = importlib.import_module(name)
        module.load(db, now=now, seed=seed)
        called.append(name)
    for name in called:
        after_all = getattr(importlib.import_module(name), "after_all", None)
        if after_all is not None:
            after_all(db, now=now, seed=seed)
    return called


def _ids(staff: Staff) -> dict[str, Any]:
    return {
        "admin": staff.admin.id,
        "supervisor": staff.supervisor.id,
        "agents": {k: [u.id for u in v] for k, v in staff.agents.items()},
        "queues": {k: q.id for k, q in staff.queues.items()},
    }


def _reload(session: Session, ids: dict[str, Any]) -> Staff:
    return Staff(
        admin=session.get_one(User, ids["admin"]),
        supervisor=session.get_one(User, ids["supervisor"]),
        agents={k: [session.get_one(User, i) for i in v] for k, v in ids["agents"].items()},
        queues={k: session.get_one(Queue, i) for k, i in ids["queues"].items()},
    )


def _setup(session: Session, now: datetime) -> tuple[Staff, dict[str, Channel]]:
    brand = session.scalars(select(Brand).order_by(Brand.id)).first()
    if brand is None:
        raise RuntimeError("no brand: run 'sportello db upgrade' first")
    if brand.name == "Sportello":
        brand.name = SHOP
    users = {}
    for (email, password, role), name in zip(LOGINS, _STAFF_NAMES, strict=True):
        user = accounts_actions.do_create_user(
            session, email=email, name=name, role=Role(role), password=password
        )
        user.created_at = now - timedelta(days=DAYS + 30)
        users[name.split()[0].lower()] = user
    teams = {}
    for key, name, members in (
        ("assistenza", "Assistenza", ["paolo", "chiara", "davide"]),
        ("vendite", "Vendite", ["paolo", "francesca", "davide"]),
    ):
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None:
            team = accounts_actions.do_create_team(
                session, name=name, members=[users[m] for m in members]
            )
        else:
            team.members = [*team.members, *(users[m] for m in members)]
        teams[key] = team
    queues = {}
    for key, name in (("assistenza", "Assistenza clienti"), ("vendite", "Vendite")):
        queue = session.scalar(select(Queue).where(Queue.brand_id == brand.id, Queue.name == name))
        if queue is None:
            queue = Queue(
                brand_id=brand.id,
                name=name,
                team_id=teams[key].id,
                priority=1 if key == "assistenza" else 0,
            )
            session.add(queue)
        queues[key] = queue
    session.flush()
    kinds = registry.kinds()
    channels: dict[str, Channel] = {}
    for key, kind, name, queue_key, data in (
        ("email", "email", "Email assistenza", "assistenza", _MAILBOX_FORM),
        ("chat", "chat", "Chat del sito", "assistenza", _CHAT_FORM),
        ("api", "api", "App mobile", "assistenza", {"reply_url": ""}),
        (
            "webform",
            "webform",
            "Modulo contatti",
            "vendite",
            {
                "title": f"Contatta {SHOP}",
                "intro": "Scrivici per ordini, resi e informazioni: rispondiamo entro un giorno "
                "lavorativo.",
                "topics": "Ordini e spedizioni,Resi e rimborsi,Fatture,Informazioni sui prodotti",
            },
        ),
    ):
        if kind not in kinds:
            raise RuntimeError(f"channel kind {kind!r} is not installed")
        channel, _shown = channels_actions.do_create_channel(
            session, brand_id=brand.id, kind=kind, name=name, queue=queues[queue_key], data=data
        )
        channel.created_at = now - timedelta(days=DAYS + 20)
        channels[key] = channel
    # The bot answers the chat first, from the help center, and hands over to the team; the
    # page /demo/shop shows this channel's widget on a product page of the shop.
    channels_actions.do_update_channel(
        session, channel=channels["chat"], settings={"bot": BOT_SETTINGS, "demo_shop": True}
    )
    # No IMAP server comes with the demo: the mailbox is paused (nothing to poll), and its
    # replies go out over SMTP to the mail catcher `sportello serve` runs for it.
    channels_actions.do_update_channel(
        session, channel=channels["email"], is_active=False, settings={"demo_catcher": True}
    )
    agents = {
        "assistenza": [users["chiara"], users["davide"]],
        "vendite": [users["francesca"], users["davide"]],
    }
    return Staff(users["elena"], users["paolo"], agents, queues), channels


def _knowledge_base(session: Session, staff: Staff, now: datetime) -> None:
    """The help center: categories and articles written over the months before the demo's
    span, with the views and votes a few months online give them."""
    from sportello.demo_articles import ARTICLES, CATEGORIES
    from sportello.knowledge import actions as kb_actions
    from sportello.knowledge.models import ArticleStatus

    rng = random.Random(len(ARTICLES))
    brand_id = staff.queues["assistenza"].brand_id
    categories = {
        key: kb_actions.do_create_category(
            session,
            brand_id=brand_id,
            by=staff.admin,
            name=name,
            description=description,
            position=position,
        )
        for position, (key, name, description) in enumerate(CATEGORIES)
    }
    for index, (key, title, tags, body, status) in enumerate(ARTICLES):
        author = staff.admin if index % 3 else staff.supervisor
        article = kb_actions.do_create_article(
            session,
            brand_id=brand_id,
            by=author,
            title=title,
            body_md=body,
            category=categories[key],
            tags=tags,
            status=ArticleStatus(status),
        )
        written = now - timedelta(days=DAYS + rng.uniform(10, 200))
        article.created_at = article.updated_at = written
        if article.published_at is not None:
            article.published_at = written
        if status == "published":
            article.views = int(rng.paretovariate(1.3) * 40)
            article.helpful_yes = int(article.views * rng.uniform(0.05, 0.2))
            article.helpful_no = int(article.views * rng.uniform(0.0, 0.04))
    session.flush()


def _play(
    session: Session,
    clock: DemoClock,
    rng: random.Random,
    staff: Staff,
    channel: Channel,
    person: Person,
    t0: datetime,
    now: datetime,
    message_id: str,
) -> bool:
    """Play one conversation; returns whether it is still active (new, open, pending) at the end."""
    topic = rng.choices(TOPICS, weights=[t.weight for t in TOPICS])[0]
    # A third of the site's chats start with a question the bot takes first.
    question = rng.choice(BOT_QUESTIONS) if channel.kind == "chat" and rng.random() < 0.35 else None
    if question is not None:
        topic = next(t for t in TOPICS if t.key == question[1])
    product, price = rng.choice(PRODUCTS)
    order_day = (t0 - timedelta(days=rng.randint(2, 12))).astimezone(ROME)
    team_agents = staff.agents[topic.team]
    agent = team_agents[0] if rng.random() < 0.6 else team_agents[1]
    values = {
        "saluto": rng.choice(GREETINGS),
        "firma": rng.choice(SIGN_OFFS) + ", " + person.first,
        "nome": person.name if rng.random() < 0.3 else person.first,
        "cliente": person.name,
        "prodotto": product,
        "importo": price,
        "ordine": f"CL-{rng.randint(10000, 99999)}",
        "data_ordine": f"{order_day.day} {MONTHS[order_day.month - 1]}",
        "corriere": rng.choice(COURIERS),
        "tracking": f"{rng.randint(10**11, 10**12 - 1)}",
        "agente": agent.name.split()[0],
    }

    def fill(template: str) -> str:
        return _fill(template, values)

    subject = fill(rng.choice(topic.subjects))
    state: dict[str, Any] = {}
    inbound_count = [0]

    kind = channel.kind

    def inbound(text: str, *, first: bool = False) -> Callable[[], None]:
        def run() -> None:
            inbound_count[0] += 1
            extra = [Identity("phone", person.phone)] if person.phone else []
            identity = Identity("email", person.email)
            body, provider_id = text, None
            meta: dict[str, Any] = {}
            if kind == "chat":  # a visitor of the site who gave their email in the chat
                extra = [Identity("visitor", person.visitor), *extra]
            elif kind == "api":
                provider_id = f"{message_id}-{inbound_count[0]}"
            elif kind == "webform" and first:
                meta = {"topic": subject}
            elif kind == "email":
                domain = person.email.rsplit("@", 1)[1]
                provider_id = f"<{message_id}.{inbound_count[0]}@{domain}>"
                if "reply" in state:  # a mail client quotes what it answers
                    body = text + _quote(*state["reply"])
                meta = {
                    "email": {
                        "from": person.email,
                        "to": [MAILBOX],
                        "visible_text": text if body != text else None,
                    }
                }
            if first:
                title = "" if kind == "chat" else subject
            else:
                title = "Re: " + subject if kind == "email" else ""
            message = InboundMessage(
                identity=identity,
                sender_name=person.name,
                text=body,
                subject=title,
                provider_message_id=provider_id,
                conversation_number=None if first else state["conversation"].number,
                extra_identities=extra,
                received_at=clock.now,
                meta=meta,
            )
            # The one door itself; channels.service.receive only adds a SAVEPOINT against two
            # concurrent copies of one delivery, which a single loader cannot produce.
            result = conversations_actions.do_receive_message(
                session, channel=channel, inbound=message
            )
            if first and not result.new_conversation:
                raise RuntimeError("demo: a first message threaded into an older conversation")
            state["conversation"] = result.conversation
            state["inbound"] = result.message

        return run

    def conv() -> Conversation:
        return state["conversation"]  # type: ignore[no-any-return]

    def triage() -> None:
        priority = rng.choices(
            [p for p, _ in topic.priorities], weights=[w for _, w in topic.priorities]
        )[0]
        tags = list(topic.tags)
        if channel.kind == "api" and rng.random() < 0.3:
            tags.append("app")
        if rng.random() < 0.06:
            tags.append("cliente vip")
        conversations_actions.do_update_conversation(
            session,
            conversation=conv(),
            by=staff.supervisor,
            priority=priority,
            queue=staff.queues[topic.team],
            tags=tags,
        )
        conversations_actions.do_assign(
            session,
            conversation=conv(),
            assignee=agent,
            by=staff.supervisor if rng.random() < 0.5 else agent,
        )

    def reply(text: str) -> Callable[[], None]:
        def run() -> None:
            message = conversations_actions.do_send_reply(
                session, conversation=conv(), author=agent, text=fill(text) + fill(SIGNATURE)
            )
            state["reply"] = (message.text, clock.now, agent.name)
            # History, not traffic: the clock stores it as delivered (see DemoClock).
            assert message.delivery_state == DeliveryState.DELIVERED

        return run

    def note(text: str, author: User | None = None) -> Callable[[], None]:
        def run() -> None:
            conversations_actions.do_add_note(
                session, conversation=conv(), author=author or agent, text=fill(text)
            )

        return run

    def status(value: Status, by: User | None = None) -> Callable[[], None]:
        def run() -> None:
            conversations_actions.do_change_status(
                session, conversation=conv(), status=value, by=by
            )

        return run

    def bot_turn() -> None:
        """What the ``message.received`` handler does on a bot channel (events are silenced)."""
        conversation, message = conv(), state["inbound"]
        config = bot.BotConfig.from_settings(channel.settings)
        turn = bot.plan_turn(
            session,
            conversation=conversation,
            message=message,
            config=config,
            state=session.get(BotSession, conversation.id),
        )
        bot.do_bot_turn(
            session, conversation=conversation, message=message, config=config, plan=turn
        )
        state["bot"] = turn.action
        state["contained"] = turn.action == "feedback_yes"

    def feedback(satisfied: bool) -> Callable[[], None]:
        def run() -> None:
            if state.get("bot") == "clarify":  # the bot asked which of two articles
                inbound("La prima.")()
                bot_turn()
            if state.get("bot") != "answer":
                return  # handed over at once: the customer waits for a person
            inbound(rng.choice(BOT_SATISFIED if satisfied else BOT_UNSATISFIED))()
            bot_turn()

        return run

    thread = rng.choice(topic.threads)
    plan = Plan()

    def add(at: datetime, run: Callable[[], None]) -> None:
        def unless_contained() -> None:
            if not state.get("contained"):
                run()

        plan.steps.append(Step(at, unless_contained))

    if question is None:
        add(t0, inbound(fill(rng.choice(topic.openers)), first=True))
    else:
        add(t0, inbound(question[0], first=True))
        add(t0 + timedelta(seconds=rng.uniform(2, 6)), bot_turn)
        t0 = _after(t0, rng, 0.5, 3)
        add(t0, feedback(rng.random() < 0.65))
    # A backlog: some of the last two days' messages nobody has looked at yet.
    delay = (30, 24 * 60) if now - t0 < timedelta(days=2) and rng.random() < 0.4 else (3, 90)
    t = _business(_after(t0, rng, *delay), rng)
    add(t, triage)
    if rng.random() < 0.3:
        t = _after(t, rng, 1, 15)
        add(t, note(rng.choice(topic.notes)))
    if rng.random() < 0.05:
        t = _after(t, rng, 1, 30)
        add(t, note(rng.choice(topic.notes), staff.supervisor))
    t = _after(t, rng, 2, 50)
    add(t, reply(thread.reply))
    if thread.waits:
        add(_after(t, rng, 0.2, 1), status(Status.PENDING, agent))
    ending = rng.random()
    if thread.waits and ending < 0.12:
        # The customer never answers: after a week the agent gives up.
        t = _business(t + timedelta(days=rng.uniform(6, 9)), rng)
        add(t, note(rng.choice(NO_ANSWER_NOTES)))
        add(_after(t, rng, 0.2, 1), status(Status.RESOLVED, agent))
    else:
        if thread.waits or ending < 0.8:
            t = _after(t, rng, 20, 60 * 36)
            add(t, inbound(fill(thread.followup)))
            t = _business(_after(t, rng, 10, 300), rng)
            add(t, reply(thread.closing))
        if rng.random() < 0.3:
            t = _after(t, rng, 10, 60 * 20)
            add(t, inbound(rng.choice(THANKS)))
        t = _business(_after(t, rng, 5, 240), rng)
        add(t, status(Status.RESOLVED, agent))
    # Resolved conversations close by themselves after four days (the shop's policy).
    # (Also those the bot resolved: this step is not skipped when the bot was enough.)
    plan.steps.append(
        Step(t + timedelta(days=4, minutes=rng.uniform(0, 60)), status(Status.CLOSED))
    )

    # Within one story nothing read depends on unflushed changes (actions flush what they need
    # to find again), so autoflush is off: the story's updates reach the database in a few
    # statements instead of one per query. The flush at the end leaves the next story a
    # database that is up to date (threading reads conversation statuses from it).
    limit = now - timedelta(minutes=1)
    with session.no_autoflush:
        for step in plan.steps:
            if step.at > limit:
                break
            clock.now = step.at
            step.run()
            clock.settle(conv())
    session.flush()
    return conv().status in (Status.NEW, Status.OPEN, Status.PENDING)


__all__ = ["DOMAIN_DEMOS", "LOGINS", "clear", "is_loaded", "load", "load_domains"]
