"""An Italian sentiment lexicon for customer-service messages, in VADER's scale (-4..+4).

No Italian lexicon ships in a package that installs offline here (``feel-it`` and ``sentita``
download transformer weights at run time; VADER's lexicon is English only), so this one is
written for the words customers of a shop actually use, colloquial forms included. Entries are
lower-case word prefixes matched on word starts (``rimbors`` matches rimborso, rimborsare):
longer prefixes win. Keep each at least five letters unless it is a whole word (``key$``).
"""

from __future__ import annotations

# Whole words end with "$"; other keys are prefixes.
LEXICON: dict[str, float] = {
    # ---- positive
    "grazie$": 1.5, "grazi$": 1.5, "ringrazi": 1.8, "perfett": 2.6, "ottim": 2.6, "eccellent": 3.0,
    "fantastic": 3.0, "meraviglios": 3.0, "splendid": 2.8, "stupend": 2.8, "bellissim": 2.8,
    "bell$": 1.6, "bella$": 1.6, "bello$": 1.6, "belli$": 1.6, "belle$": 1.6,
    "buon$": 1.4, "buona$": 1.4, "buono$": 1.4, "buone$": 1.4, "buoni$": 1.4,
    "bravi$": 2.2, "bravo$": 2.2, "brava$": 2.2, "gentil": 2.2, "cortes": 2.0, "disponibil": 1.6,
    "veloc": 1.2, "rapid": 1.2, "puntual": 1.6, "soddisfatt": 2.4, "content": 2.0, "felic": 2.6,
    "contentissim": 3.0, "top$": 2.4, "super$": 2.2, "risolt": 1.8, "funziona$": 1.2,
    "consigli": 0.8, "adoro$": 2.8, "amo$": 2.6, "piaciut": 2.2, "piace$": 1.8,
    "impeccabil": 3.0, "professional": 2.0, "efficient": 2.2, "gentilissim": 3.0,
    "grazie mille": 2.4, "complimenti": 2.8, "compliment": 2.6, "ok$": 0.6, "benissimo$": 2.8,
    "bene$": 1.4, "chiar": 0.6, "utile$": 1.4, "utili$": 1.4, "aiutat": 1.2, "preciso$": 1.2,
    "precisi$": 1.2, "magnific": 3.0, "favolos": 3.0, "wow$": 2.0, "evviva$": 2.4, "finalmente$": 0.6,
    "tempestiv": 2.0, "cordial": 1.8, "sollievo$": 1.6, "tranquill": 0.8, "gradit": 1.6,
    # ---- negative
    "pessim": -3.2, "orribil": -3.0, "terribil": -3.0, "schif": -3.2, "vergogn": -3.0,
    "scandal": -3.0, "ridicol": -2.6, "assurd": -2.4, "inaccettabil": -3.0, "inammissibil": -3.0,
    "vergognoso$": -3.2, "truff": -3.4, "ladri$": -3.4, "ladro$": -3.4, "furt": -2.6, "imbrogli": -3.0,
    "delus": -2.4, "deludent": -2.6, "arrabbiat": -2.8, "incazzat": -3.4, "furios": -3.0,
    "stuf": -2.6, "esasperat": -3.0, "frustrat": -2.6, "infuriat": -3.0, "nervos": -1.8,
    "schifo$": -3.4, "fa schifo": -3.4, "male$": -1.6, "mal$": -1.2, "brutt": -2.2, "cattiv": -2.0,
    "scadent": -2.8, "difettos": -2.2, "rott": -2.0, "guast": -2.0, "danneggiat": -2.2,
    "ammaccat": -1.8, "sbagliat": -1.8, "errore$": -1.4, "errori$": -1.4, "problem": -1.4,
    "ritard": -1.8, "lent": -1.4, "smarrit": -2.0, "perso$": -1.4, "persa$": -1.4,
    "mancant": -1.4, "manca$": -1.0, "mai arrivat": -2.6, "incompetent": -3.0, "inutil": -2.4,
    "maleducat": -3.0, "scortes": -2.8, "sgarbat": -2.6, "menefreghist": -3.0, "ignorat": -2.2,
    "reclam": -1.8, "denunci": -2.6, "avvocat": -2.0, "diffid": -2.2, "rimbors": -1.2,
    "restituzion": -0.6, "annull": -1.0, "disdett": -1.4, "lamentel": -1.8, "lament": -1.6,
    "insoddisfatt": -2.6, "scontent": -2.4, "preoccupat": -1.6, "pazienza$": -1.2,
    "disastr": -3.0, "catastrof": -3.0, "indecent": -3.0, "squallid": -2.8, "penos": -2.6,
    "mai più": -2.6, "mai piu": -2.6, "basta$": -2.0, "uffa$": -1.8, "accidenti$": -1.6,
    "caspita$": -0.4, "cavolo$": -1.4, "dannazion": -2.4, "maledett": -2.8, "merda$": -3.4,
    "cazzo$": -3.0, "porca$": -2.0, "ancora nessun": -2.0, "nessuna risposta": -2.6,
    "nessuno risponde": -2.6, "non risponde": -2.2, "non rispondete": -2.6, "presi in giro": -3.0,
    "preso in giro": -3.0, "presa in giro": -3.0, "prendete in giro": -3.0, "terza volta": -2.2,
    "ennesima volta": -2.6, "ennesim": -1.8, "settimane": -0.6, "aspetto ancora": -2.0,
    "sto ancora aspettando": -2.4, "sto aspettando": -1.4, "non funziona": -2.2,
    "non è arrivato": -1.8, "non e arrivato": -1.8, "non è mai arrivato": -2.6,
    "non arriva": -1.8, "urgent": -1.0, "subito$": -0.4, "peggior": -3.0, "peggio$": -2.4,
    "fregatur": -3.0, "fregat": -2.6, "addebitat": -1.0, "doppio addebito": -2.2,
    "sconvolt": -2.6, "triste$": -2.0, "dispiaciut": -1.6, "peccato$": -1.4, "purtroppo$": -1.2,
    "insistent": -1.0, "sollecit": -1.4, "irraggiungibil": -2.6, "irreperibil": -2.4,
}

# Words that flip the polarity of what follows (within three words).
NEGATIONS = frozenset(
    {"non", "mai", "nessun", "nessuno", "nessuna", "niente", "nulla", "né", "ne", "neanche",
     "nemmeno", "neppure", "senza", "mica"}
)

# Words that strengthen (or soften) what follows.
BOOSTERS: dict[str, float] = {
    "molto": 0.3, "troppo": 0.3, "davvero": 0.3, "veramente": 0.3, "assolutamente": 0.35,
    "proprio": 0.25, "estremamente": 0.4, "incredibilmente": 0.4, "tanto": 0.2, "tanta": 0.2,
    "super": 0.3, "totalmente": 0.35, "completamente": 0.3, "del": 0.0, "tutto": 0.1,
    "così": 0.2, "cosi": 0.2, "decisamente": 0.3, "particolarmente": 0.25, "parecchio": 0.2,
    "poco": -0.3, "abbastanza": -0.15, "leggermente": -0.3, "piuttosto": -0.1, "un po": -0.25,
}

# "ma" / "però": what comes after weighs more than what came before (as VADER does with "but").
CONTRASTS = frozenset({"ma", "però", "pero", "tuttavia", "eppure"})
