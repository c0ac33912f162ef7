"""Demo data for imports: the shop moved in with its old customer list, an Excel sheet saved as
CSV ("clienti_2024.csv", semicolons, Windows-1252), imported ten days ago. Its report shows what
was created, what completed an existing customer and the lines that were left out."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select, update

from sportello.accounts.models import Brand, Role, User
from sportello.core.db import Database
from sportello.customers.models import Customer
from sportello.imports import actions
from sportello.imports.models import ImportJob, ImportSourceMap

FIRST = [
    "Alessandro",
    "Beatrice",
    "Carlo",
    "Daniela",
    "Emanuele",
    "Federica",
    "Giorgio",
    "Ilaria",
    "Lorenzo",
    "Martina",
    "Nicola",
    "Ornella",
    "Pietro",
    "Rita",
    "Stefano",
    "Teresa",
]
LAST = [
    "Amato",
    "Barbieri",
    "Caruso",
    "De Luca",
    "Fabbri",
    "Galli",
    "Lombardi",
    "Mancini",
    "Moretti",
    "Pellegrini",
    "Rinaldi",
    "Sala",
    "Testa",
    "Villa",
]
TOWNS = ["Forlì", "Cantù", "Sanremo", "Pescara", "Città di Castello", "Rovigo", "Aosta"]
FILENAME = "clienti_2024.csv"


def clienti_csv(seed: int, count: int = 40) -> bytes:
    """An old customer list as a shop's spreadsheet exports it."""
    rng = random.Random(seed * 31 + 5)
    lines = ["Codice;Nome;Cognome;E-mail;Cellulare;Azienda;Note"]
    for n in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        slug = f"{first}.{last}".lower().replace(" ", "")
        email = f"{slug}{n}@clienti.example"
        phone = f"3{rng.randint(20, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        company = rng.choice(["", "", f"{last} S.n.c.", f"Bottega {first}"])
        note = rng.choice(
            ["", "", f"Negozio a {rng.choice(TOWNS)}", "Cliente dal 2019", "Sconto 10%"]
        )
        lines.append(f"C{n + 1:04d};{first};{last};{email};{phone};{company};{note}")
    lines.append("C9998;Mario;Senza Contatti;;;;")  # no e-mail, no phone: left out
    lines.append("C9999;Laura;Doppia;" + lines[1].split(";")[3] + ";;;riga ripetuta")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def load(db: Database, *, now: datetime, seed: int) -> None:
    with db.transaction() as session:
        if session.scalar(select(ImportJob.id).limit(1)) is not None:
            return
        brand = session.scalars(select(Brand).order_by(Brand.id)).first()
        admin = session.scalars(
            select(User).where(User.role == Role.ADMIN).order_by(User.id)
        ).first()
        if brand is None:
            return
        job = actions.do_create_import(
            session,
            brand_id=brand.id,
            user=admin,
            fmt="csv-customers",
            filename=FILENAME,
            data=clienti_csv(seed),
            start=True,
            queue=False,
        )
        import_id = job.id
    actions.run_import(db, import_id, dry_run=False)
    when = now - timedelta(days=10)
    with db.transaction() as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id)
            .values(created_at=when, started_at=when, finished_at=when + timedelta(seconds=2))
        )
        # The customers it brought in arrived with it, ten days ago.
        imported = select(ImportSourceMap.local_id).where(
            ImportSourceMap.import_id == import_id, ImportSourceMap.kind == "customer"
        )
        session.execute(
            update(Customer)
            .where(Customer.id.in_(imported))
            .values(created_at=when, updated_at=when)
        )
