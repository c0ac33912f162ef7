"""Readers: an uploaded file in, the same plain records out whatever system wrote it.

Each reader turns one format into customers, agents and conversations with their messages,
plus the problems it met, each with its line (CSV, NDJSON) or record number (a JSON document).
Nothing here touches the database.

Field names follow the exporting systems' documented JSON:

- Zendesk: the incremental ticket export / ticket JSON (``tickets`` with ``requester_id``,
  ``assignee_id``, ``status``, ``priority``, ``tags``), users (``role``, ``email``, ``phone``),
  organizations, and ticket comments (``author_id``, ``public``, ``body``/``html_body``,
  ``attachments`` with ``file_name``/``content_url``); comments embedded in each ticket, as the
  account's JSON export writes them, or listed beside the tickets with ``ticket_id``.
- Freshdesk API v2: ``tickets`` (numeric ``status`` 2-5 and ``priority`` 1-4, ``requester_id``,
  ``responder_id``, ``description``), their ``conversations`` (``incoming``, ``private``,
  ``user_id``, ``body``/``body_text``, ``attachments`` with ``attachment_url``), ``contacts``,
  ``agents`` (``contact.email``) and ``companies``.
- Zammad API: ``tickets`` (``title``, ``state``/``state_id``, ``priority``/``priority_id``,
  ``customer_id``, ``owner_id``), ``articles`` (``sender`` Customer/Agent/System, ``internal``,
  ``content_type``, ``body``, ``created_by_id``), ``users`` (``firstname``, ``lastname``) and
  ``organizations``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from charset_normalizer import from_bytes

from sportello.core.errors import InvalidInput
from sportello.imports.models import ImportFormat

ROME = ZoneInfo("Europe/Rome")
MAX_FIELD = 1_000_000  # characters in one CSV cell; longer is an error on that line
MAX_TEXT = 200_000  # a message body is cut to this (conversations.actions.MAX_TEXT)
MAX_ERRORS = 200  # problems kept in a report; the count goes on


@dataclass
class Problem:
    line: int
    message: str  # an English msgid (``messages.py``), translated when shown
    args: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message, "args": self.args}


@dataclass
class CustomerRecord:
    line: int
    external_id: str
    name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    language: str = ""
    notes: str = ""


@dataclass
class AgentRecord:
    external_id: str
    name: str
    email: str = ""


@dataclass
class AttachmentRef:
    filename: str
    content_type: str = ""
    size: int | None = None
    url: str = ""


@dataclass
class MessageRecord:
    external_id: str
    kind: str  # "inbound" (the customer), "outbound" (an agent's reply), "note" (internal)
    created_at: datetime
    text: str = ""
    html: str | None = None
    author_ref: str = ""  # an agent's external id (outbound, note)
    author_name: str = ""
    attachments: list[AttachmentRef] = field(default_factory=list)


@dataclass
class ConversationRecord:
    line: int
    external_id: str
    customer_ref: str  # a customer's external id
    subject: str = ""
    status: str = "closed"
    priority: str = "normal"
    tags: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    assignee_ref: str = ""
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass
class Parsed:
    source: str
    customers: list[CustomerRecord] = field(default_factory=list)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    conversations: list[ConversationRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # CSV: our field -> the file's header

    def problem(self, line: int, message: str, **args: Any) -> None:
        self.problems.append(Problem(line, message, args))

    @property
    def total(self) -> int:
        return len(self.customers) + len(self.conversations)


# -- text ------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else the encoding the bytes are recognised as (an Excel
    CSV saved as Windows-1252 is the common case); NUL bytes are dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(
            data[:200_000], cp_isolation=["cp1252", "latin_1", "utf_16", "mac_roman"]
        ).best()
        if best is None:
            raise InvalidInput(
                "the file's text encoding is not recognised: save it as UTF-8", field="file"
            ) from None
        try:
            text = data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            raise InvalidInput(
                "the file's text encoding is not recognised: save it as UTF-8", field="file"
            ) from None
    return text.replace("\x00", "")


def _clean(value: Any, limit: int = 4000) -> str:
    if value is None:
        return ""
    text = str(value).replace("\x00", "").strip()
    return text[:limit]


def _id(value: Any) -> str:
    return "" if value is None or value == "" else str(value).strip()[:200]


_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``2024-03-05T10:12:00Z``), an Italian ``05/03/2024 10:12``, or Unix seconds;
    a time without a zone is read in Europe/Rome."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    if text.isdigit() and len(text) >= 9:
        return datetime.fromtimestamp(int(text), UTC)
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    except ValueError:
        moment = None
        for fmt in _DATE_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ROME)
    return moment.astimezone(UTC)


# -- JSON exports ----------------------------------------------------------------------------


def _json_documents(text: str, parsed: Parsed) -> Iterator[tuple[int, Any]]:
    """One JSON document, or NDJSON (one object a line, as the bulk exports write them):
    ``(line, value)``; a line that does not parse is a problem on that line."""
    stripped = text.lstrip()
    if not stripped:
        raise InvalidInput("the file is empty", field="file")
    try:
        yield 1, json.loads(text)
        return
    except json.JSONDecodeError as exc:
        if not stripped.startswith("{") or "\n" not in stripped.strip():
            raise InvalidInput(
                "the file is not valid JSON", field="file", line=exc.lineno, detail=exc.msg
            ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.problem(number, "not valid JSON: %(detail)s", detail=exc.msg)


def _collect(
    text: str, parsed: Parsed, kinds: dict[str, Callable[[dict[str, Any]], bool]]
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """The export's objects by kind: from a document's lists (``{"tickets": [...], ...}``, the
    API's shape, or a bare list of tickets) or from NDJSON lines told apart by their fields."""
    found: dict[str, list[tuple[int, dict[str, Any]]]] = {kind: [] for kind in kinds}
    for line, document in _json_documents(text, parsed):
        items: Iterable[tuple[str | None, Any]]
        if (
            isinstance(document, dict)
            and "id" not in document
            and any(isinstance(document.get(k), list) for k in kinds)
        ):
            items = [(k, v) for k in kinds for v in (document.get(k) or [])]
            numbered = True
        elif isinstance(document, list):
            items = [(None, v) for v in document]
            numbered = True
        else:
            items = [(None, document)]
            numbered = False
        for position, (kind, value) in enumerate(items, start=1):
            where = position if numbered else line
            if not isinstance(value, dict):
                parsed.problem(where, "a record is not a JSON object")
                continue
            if kind is None:
                kind = next((k for k, test in kinds.items() if test(value)), None)
                if kind is None:
                    parsed.problem(where, "a record of an unknown kind was left out")
                    continue
            found[kind].append((where, value))
    return found


def _zendesk_status(value: Any) -> str:
    return {
        "new": "new",
        "open": "open",
        "pending": "pending",
        "hold": "pending",
        "solved": "resolved",
        "closed": "closed",
    }.get(str(value or "").lower(), "closed")


def _priority(value: Any) -> str:
    text = str(value or "").lower()
    for name in ("urgent", "high", "low"):
        if name in text:
            return name
    return "normal"


def _attachments(items: Any, name: str, url: str) -> list[AttachmentRef]:
    out = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        content_type = item.get("content_type") or (item.get("preferences") or {}).get(
            "Content-Type", ""
        )
        size = item.get("size")
        out.append(
            AttachmentRef(
                filename=_clean(item.get(name) or item.get("filename") or "file", 300),
                content_type=_clean(content_type, 200),
                size=int(str(size)) if str(size or "").isdigit() else None,
                url=_clean(item.get(url), 2000),
            )
        )
    return out


def _body(text: Any, html: Any) -> tuple[str, str | None]:
    """Plain text and, when the export has it, HTML (sanitised when stored)."""
    from sportello.channels.email.parsing import html_to_text

    html_text = _clean(html, MAX_TEXT) if html else ""
    plain = _clean(text, MAX_TEXT)
    if html_text and not plain:
        plain = html_to_text(html_text)[:MAX_TEXT]
    return plain, html_text or None


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[,;]", value)
    if not isinstance(value, list):
        return []
    return [_clean(t, 60) for t in value if _clean(t, 60)][:20]


def read_zendesk(text: str) -> Parsed:
    parsed = Parsed(source="zendesk")
    found = _collect(
        text,
        parsed,
        {
            "tickets": lambda o: "requester_id" in o or "subject" in o,
            "users": lambda o: "role" in o or ("email" in o and "name" in o),
            "organizations": lambda o: "domain_names" in o,
            "comments": lambda o: "ticket_id" in o and ("body" in o or "plain_body" in o),
        },
    )
    organizations = {
        _id(o.get("id")): _clean(o.get("name"), 200) for _, o in found["organizations"]
    }
    roles: dict[str, str] = {}
    for line, user in found["users"]:
        user_id = _id(user.get("id"))
        if not user_id:
            parsed.problem(line, "a user without an id was left out")
            continue
        role = str(user.get("role") or "end-user")
        roles[user_id] = role
        name = _clean(user.get("name"), 200)
        email = _clean(user.get("email"), 320)
        if role in {"agent", "admin"}:
            parsed.agents[user_id] = AgentRecord(user_id, name, email)
            continue
        parsed.customers.append(
            CustomerRecord(
                line=line,
                external_id=user_id,
                name=name,
                email=email,
                phone=_clean(user.get("phone"), 40),
                company=organizations.get(_id(user.get("organization_id")), ""),
                language=_clean(user.get("locale"), 8),
                notes=_clean(user.get("notes") or user.get("details")),
            )
        )
    loose: dict[str, list[dict[str, Any]]] = {}
    for _line, comment in found["comments"]:
        loose.setdefault(_id(comment.get("ticket_id")), []).append(comment)
    for line, ticket in found["tickets"]:
        ticket_id = _id(ticket.get("id"))
        requester = _id(ticket.get("requester_id"))
        if not ticket_id or not requester:
            parsed.problem(line, "a ticket without an id or a requester was left out")
            continue
        created = parse_time(ticket.get("created_at"))
        if created is None:
            parsed.problem(line, "ticket %(id)s has no valid creation date", id=ticket_id)
            continue
        comments = ticket.get("comments")
        if not isinstance(comments, list):
            comments = loose.get(ticket_id, [])
        messages: list[MessageRecord] = []
        for comment in comments:
            if not isinstance(comment, dict):
                continue
            author = _id(comment.get("author_id"))
            at = parse_time(comment.get("created_at")) or created
            if not comment.get("public", True):
                kind = "note"
            elif author == requester or roles.get(author, "end-user") == "end-user":
                kind = "inbound"
            else:
                kind = "outbound"
            plain, html = _body(
                comment.get("plain_body") or comment.get("body"), comment.get("html_body")
            )
            messages.append(
                MessageRecord(
                    external_id=_id(comment.get("id")) or f"{ticket_id}-{len(messages)}",
                    kind=kind,
                    created_at=at,
                    text=plain,
                    html=html,
                    author_ref=author if kind != "inbound" else "",
                    attachments=_attachments(
                        comment.get("attachments"), "file_name", "content_url"
                    ),
                )
            )
        if not messages and ticket.get("description"):
            plain, html = _body(ticket.get("description"), None)
            messages.append(MessageRecord(f"{ticket_id}-d", "inbound", created, plain, html))
        parsed.conversations.append(
            ConversationRecord(
                line=line,
                external_id=ticket_id,
                customer_ref=requester,
                subject=_clean(ticket.get("subject") or ticket.get("raw_subject"), 300),
                status=_zendesk_status(ticket.get("status")),
                priority=_priority(ticket.get("priority")),
                tags=_tags(ticket.get("tags")),
                created_at=created,
                updated_at=parse_time(ticket.get("updated_at")),
                assignee_ref=_id(ticket.get("assignee_id")),
                messages=messages,
            )
        )
    return parsed


_FRESHDESK_STATUS = {"2": "open", "3": "pending", "4": "resolved", "5": "closed"}
_FRESHDESK_PRIORITY = {"1": "low", "2": "normal", "3": "high", "4": "urgent"}


def read_freshdesk(text: str) -> Parsed:
    parsed = Parsed(source="freshdesk")
    found = _collect(
        text,
        parsed,
        {
            "tickets": lambda o: "requester_id" in o,
            "contacts": lambda o: "email" in o and "contact" not in o and "incoming" not in o,
            "agents": lambda o: isinstance(o.get("contact"), dict),
            "companies": lambda o: "domains" in o,
            "conversations": lambda o: "incoming" in o,
        },
    )
    companies = {_id(c.get("id")): _clean(c.get("name"), 200) for _, c in found["companies"]}
    for _line, agent in found["agents"]:
        contact = agent.get("contact") or {}
        agent_id = _id(agent.get("id"))
        parsed.agents[agent_id] = AgentRecord(
            agent_id, _clean(contact.get("name"), 200), _clean(contact.get("email"), 320)
        )
    for line, contact in found["contacts"]:
        contact_id = _id(contact.get("id"))
        if not contact_id:
            parsed.problem(line, "a contact without an id was left out")
            continue
        parsed.customers.append(
            CustomerRecord(
                line=line,
                external_id=contact_id,
                name=_clean(contact.get("name"), 200),
                email=_clean(contact.get("email"), 320),
                phone=_clean(contact.get("phone") or contact.get("mobile"), 40),
                company=companies.get(_id(contact.get("company_id")), ""),
                language=_clean(contact.get("language"), 8),
                notes=_clean(contact.get("description")),
            )
        )
    loose: dict[str, list[dict[str, Any]]] = {}
    for _line, conversation in found["conversations"]:
        loose.setdefault(_id(conversation.get("ticket_id")), []).append(conversation)
    for line, ticket in found["tickets"]:
        ticket_id = _id(ticket.get("id"))
        requester = _id(ticket.get("requester_id"))
        created = parse_time(ticket.get("created_at"))
        if not ticket_id or not requester or created is None:
            parsed.problem(line, "a ticket without an id, a requester or a date was left out")
            continue
        plain, html = _body(ticket.get("description_text"), ticket.get("description"))
        messages = [MessageRecord(f"{ticket_id}-d", "inbound", created, plain, html)]
        replies = ticket.get("conversations")
        if not isinstance(replies, list):
            replies = loose.get(ticket_id, [])
        for reply in replies:
            if not isinstance(reply, dict):
                continue
            if reply.get("private"):
                kind = "note"
            elif reply.get("incoming"):
                kind = "inbound"
            else:
                kind = "outbound"
            plain, html = _body(reply.get("body_text"), reply.get("body"))
            messages.append(
                MessageRecord(
                    external_id=_id(reply.get("id")) or f"{ticket_id}-{len(messages)}",
                    kind=kind,
                    created_at=parse_time(reply.get("created_at")) or created,
                    text=plain,
                    html=html,
                    author_ref=_id(reply.get("user_id")) if kind != "inbound" else "",
                    attachments=_attachments(reply.get("attachments"), "name", "attachment_url"),
                )
            )
        parsed.conversations.append(
            ConversationRecord(
                line=line,
                external_id=ticket_id,
                customer_ref=requester,
                subject=_clean(ticket.get("subject"), 300),
                status=_FRESHDESK_STATUS.get(str(ticket.get("status")), "pending"),
                priority=_FRESHDESK_PRIORITY.get(str(ticket.get("priority")), "normal"),
                tags=_tags(ticket.get("tags")),
                created_at=created,
                updated_at=parse_time(ticket.get("updated_at")),
                assignee_ref=_id(ticket.get("responder_id")),
                messages=messages,
            )
        )
    return parsed


_ZAMMAD_STATE = {"1": "new", "2": "open", "3": "pending", "4": "closed", "7": "pending"}


def _zammad_status(ticket: dict[str, Any]) -> str:
    state = str(ticket.get("state") or "").lower()
    if state:
        if state.startswith("pending"):
            return "pending"
        return {"new": "new", "open": "open", "closed": "closed", "merged": "closed"}.get(
            state, "closed"
        )
    return _ZAMMAD_STATE.get(str(ticket.get("state_id")), "closed")


def read_zammad(text: str) -> Parsed:
    parsed = Parsed(source="zammad")
    found = _collect(
        text,
        parsed,
        {
            "tickets": lambda o: "customer_id" in o and "title" in o,
            "articles": lambda o: "ticket_id" in o and "body" in o,
            "users": lambda o: "firstname" in o or "lastname" in o,
            "organizations": lambda o: "domain" in o or "shared" in o,
        },
    )
    organizations = {
        _id(o.get("id")): _clean(o.get("name"), 200) for _, o in found["organizations"]
    }
    agents_seen: set[str] = set()
    for _line, article in found["articles"]:
        if str(article.get("sender")) == "Agent":
            agents_seen.add(_id(article.get("created_by_id")))
    owners = {_id(t.get("owner_id")) for _, t in found["tickets"]}
    customers_seen = {_id(t.get("customer_id")) for _, t in found["tickets"]}
    for line, user in found["users"]:
        user_id = _id(user.get("id"))
        if not user_id:
            parsed.problem(line, "a user without an id was left out")
            continue
        name = " ".join(
            p for p in (_clean(user.get("firstname"), 100), _clean(user.get("lastname"), 100)) if p
        )
        email = _clean(user.get("email"), 320)
        roles = [str(r).lower() for r in user.get("roles") or []]
        is_agent = "agent" in roles or "admin" in roles
        if not roles:
            is_agent = (
                user_id in agents_seen or user_id in owners
            ) and user_id not in customers_seen
        if is_agent:
            parsed.agents[user_id] = AgentRecord(user_id, name, email)
            continue
        parsed.customers.append(
            CustomerRecord(
                line=line,
                external_id=user_id,
                name=name,
                email=email,
                phone=_clean(user.get("phone") or user.get("mobile"), 40),
                company=organizations.get(_id(user.get("organization_id")), ""),
                notes=_clean(user.get("note")),
            )
        )
    loose: dict[str, list[dict[str, Any]]] = {}
    for _line, article in found["articles"]:
        loose.setdefault(_id(article.get("ticket_id")), []).append(article)
    for line, ticket in found["tickets"]:
        ticket_id = _id(ticket.get("id"))
        customer = _id(ticket.get("customer_id"))
        created = parse_time(ticket.get("created_at"))
        if not ticket_id or not customer or created is None:
            parsed.problem(line, "a ticket without an id, a customer or a date was left out")
            continue
        articles = ticket.get("articles")
        if not isinstance(articles, list):
            articles = loose.get(ticket_id, [])
        messages: list[MessageRecord] = []
        for article in sorted(
            (a for a in articles if isinstance(a, dict)), key=lambda a: str(a.get("created_at"))
        ):
            sender = str(article.get("sender") or "Customer")
            if article.get("internal") or sender == "System":
                kind = "note"
            elif sender == "Customer":
                kind = "inbound"
            else:
                kind = "outbound"
            is_html = str(article.get("content_type") or "").startswith("text/html")
            plain, html = _body(
                None if is_html else article.get("body"), article.get("body") if is_html else None
            )
            messages.append(
                MessageRecord(
                    external_id=_id(article.get("id")) or f"{ticket_id}-{len(messages)}",
                    kind=kind,
                    created_at=parse_time(article.get("created_at")) or created,
                    text=plain,
                    html=html,
                    author_ref=_id(article.get("created_by_id")) if kind != "inbound" else "",
                    author_name=_clean(article.get("from"), 200) if kind != "inbound" else "",
                    attachments=_attachments(article.get("attachments"), "filename", "url"),
                )
            )
        owner = _id(ticket.get("owner_id"))
        parsed.conversations.append(
            ConversationRecord(
                line=line,
                external_id=ticket_id,
                customer_ref=customer,
                subject=_clean(ticket.get("title"), 300),
                status=_zammad_status(ticket),
                priority=_priority(
                    ticket.get("priority")
                    or {"1": "low", "3": "high"}.get(str(ticket.get("priority_id")), "")
                ),
                tags=_tags(ticket.get("tags")),
                created_at=created,
                updated_at=parse_time(ticket.get("updated_at")),
                assignee_ref="" if owner in {"", "1"} else owner,  # 1: Zammad's "nobody"
                messages=messages,
            )
        )
    return parsed


# -- CSV -------------------------------------------------------------------------------------


def _header_key(header: str) -> str:
    flat = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", flat).split())


# Our field -> the headers (normalised by _header_key) that mean it, Italian and English.
CUSTOMER_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("id", "codice", "codice cliente", "id cliente", "customer id", "external id"),
    "name": (
        "nome e cognome",
        "nominativo",
        "cliente",
        "name",
        "full name",
        "nome",
        "contatto",
        "contact",
    ),
    "first_name": ("first name", "firstname", "given name"),
    "last_name": ("cognome", "last name", "lastname", "surname", "family name"),
    "email": ("email", "e mail", "mail", "indirizzo email", "posta elettronica", "email address"),
    "phone": (
        "telefono",
        "tel",
        "cellulare",
        "cell",
        "numero",
        "numero di telefono",
        "phone",
        "mobile",
        "phone number",
    ),
    "company": (
        "azienda",
        "societa",
        "ditta",
        "ragione sociale",
        "company",
        "organization",
        "organisation",
        "organizzazione",
    ),
    "language": ("lingua", "language", "lang", "locale"),
    "notes": ("note", "notes", "commenti", "commento", "comments", "description", "descrizione"),
}
CONVERSATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "conversation": (
        "conversazione",
        "id conversazione",
        "ticket",
        "id ticket",
        "ticket id",
        "conversation",
        "conversation id",
        "thread",
        "pratica",
    ),
    "message_id": ("id messaggio", "message id"),
    "email": CUSTOMER_COLUMNS["email"] + ("email cliente", "customer email"),
    "phone": CUSTOMER_COLUMNS["phone"],
    "customer_name": ("cliente", "nome cliente", "customer", "customer name", "nome", "name"),
    "subject": ("oggetto", "titolo", "subject", "title"),
    "date": (
        "data",
        "data e ora",
        "date",
        "created at",
        "creato il",
        "timestamp",
        "quando",
        "when",
    ),
    "direction": ("tipo", "direzione", "mittente", "da", "direction", "type", "from", "sender"),
    "author": (
        "autore",
        "operatore",
        "agente",
        "author",
        "agent",
        "agent email",
        "email operatore",
    ),
    "text": ("testo", "messaggio", "corpo", "text", "message", "body"),
    "status": ("stato", "status", "state"),
    "priority": ("priorita", "priority"),
    "tags": ("tag", "tags", "etichette", "labels"),
}

_INBOUND = {
    "cliente",
    "customer",
    "inbound",
    "in",
    "ricevuto",
    "entrata",
    "incoming",
    "end user",
    "utente",
}
_NOTE = {"nota", "note", "interna", "nota interna", "internal", "private", "privata"}
_STATUS = {
    "nuovo": "new", "new": "new", "aperto": "open", "open": "open", "in attesa": "pending",
    "pending": "pending", "sospeso": "pending", "risolto": "resolved", "resolved": "resolved",
    "solved": "resolved", "chiuso": "closed", "closed": "closed",
}  # fmt: skip
_PRIORITY = {
    "bassa": "low",
    "normale": "normal",
    "media": "normal",
    "alta": "high",
    "urgente": "urgent",
}


def detect_columns(
    headers: list[str], wanted: dict[str, tuple[str, ...]], given: dict[str, str] | None = None
) -> dict[str, str]:
    """Our field -> the file's header: the ``given`` mapping first (an admin's choice), then
    the first header whose normalised name is one of the field's known names."""
    chosen: dict[str, str] = {}
    keys = {_header_key(h): h for h in headers}
    for field_name, header in (given or {}).items():
        if field_name in wanted and header in headers:
            chosen[field_name] = header
    used = set(chosen.values())
    for field_name, names in wanted.items():
        if field_name in chosen:
            continue
        for name in names:
            found = keys.get(name)
            if found is not None and found not in used:
                header = found
                chosen[field_name] = header
                used.add(header)
                break
    return chosen


def _csv_rows(text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = "excel"
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InvalidInput("the file is empty", field="file") from None
    except csv.Error as exc:
        raise InvalidInput(
            "the file is not a readable CSV", field="file", detail=str(exc)
        ) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, ["\x00error", str(exc)]
                continue
            if any(cell.strip() for cell in row):
                yield reader.line_num, row

    return headers, rows()


def read_csv_customers(text: str, mapping: dict[str, str] | None = None) -> Parsed:
    parsed = Parsed(source="csv")
    headers, rows = _csv_rows(text)
    columns = detect_columns(headers, CUSTOMER_COLUMNS, mapping)
    if "name" not in columns and "first_name" in columns:
        pass
    elif "name" in columns and "last_name" in columns and "first_name" not in columns:
        # "Nome" beside "Cognome" is the first name
        columns["first_name"] = columns.pop("name")
    if not {"email", "phone"} & columns.keys():
        raise InvalidInput("the file has no e-mail or phone column", field="file")
    parsed.columns = columns
    index = {f: headers.index(h) for f, h in columns.items()}
    for line, row in rows:
        if row and row[0] == "\x00error":
            parsed.problem(line, "this line cannot be read: %(detail)s", detail=row[1])
            continue

        def cell(name: str, limit: int = 4000, row: list[str] = row) -> str:
            at = index.get(name)
            return _clean(row[at], limit) if at is not None and at < len(row) else ""

        name = cell("name", 200) or " ".join(
            p for p in (cell("first_name", 100), cell("last_name", 100)) if p
        )
        record = CustomerRecord(
            line=line,
            external_id=cell("external_id", 200),
            name=name[:200],
            email=cell("email", 320),
            phone=cell("phone", 40),
            company=cell("company", 200),
            language=cell("language", 8).lower(),
            notes=cell("notes"),
        )
        if not record.email and not record.phone:
            parsed.problem(line, "no e-mail address or phone number: line left out")
            continue
        record.external_id = record.external_id or record.email.lower() or record.phone
        parsed.customers.append(record)
    return parsed


def read_csv_conversations(text: str, mapping: dict[str, str] | None = None) -> Parsed:
    parsed = Parsed(source="csv")
    headers, rows = _csv_rows(text)
    columns = detect_columns(headers, CONVERSATION_COLUMNS, mapping)
    missing = [f for f in ("conversation", "text") if f not in columns]
    if missing or not {"email", "phone"} & columns.keys():
        raise InvalidInput(
            "the file needs a conversation, a text and an e-mail or phone column",
            field="file",
        )
    parsed.columns = columns
    index = {f: headers.index(h) for f, h in columns.items()}
    threads: dict[str, ConversationRecord] = {}
    customers: dict[str, CustomerRecord] = {}
    for line, row in rows:
        if row and row[0] == "\x00error":
            parsed.problem(line, "this line cannot be read: %(detail)s", detail=row[1])
            continue

        def cell(name: str, limit: int = 4000, row: list[str] = row) -> str:
            at = index.get(name)
            return _clean(row[at], limit) if at is not None and at < len(row) else ""

        key = cell("conversation", 200)
        email, phone = cell("email", 320), cell("phone", 40)
        if not key:
            parsed.problem(line, "no conversation key: line left out")
            continue
        if not email and not phone:
            parsed.problem(line, "no e-mail address or phone number: line left out")
            continue
        raw_date = cell("date", 60)
        at = parse_time(raw_date)
        if at is None:
            parsed.problem(line, "the date %(value)s is not readable", value=raw_date)
            continue
        customer_ref = email.lower() or phone
        if customer_ref not in customers:
            customers[customer_ref] = CustomerRecord(
                line, customer_ref, name=cell("customer_name", 200), email=email, phone=phone
            )
        direction = _header_key(cell("direction", 40))
        kind = (
            "inbound"
            if direction in _INBOUND or not direction
            else ("note" if direction in _NOTE else "outbound")
        )
        author = cell("author", 320)
        thread = threads.get(key)
        if thread is None:
            thread = threads[key] = ConversationRecord(
                line=line,
                external_id=key,
                customer_ref=customer_ref,
                subject=cell("subject", 300),
                status=_STATUS.get(_header_key(cell("status", 40)), "closed"),
                priority=_PRIORITY.get(
                    _header_key(cell("priority", 40)), _priority(cell("priority", 40))
                ),
                tags=_tags(cell("tags", 1000)),
                created_at=at,
            )
        elif thread.customer_ref != customer_ref:
            parsed.problem(line, "conversation %(key)s changes customer: line left out", key=key)
            continue
        message_key = cell("message_id", 200) or f"{key}:{line}"
        if any(m.external_id == message_key for m in thread.messages):
            parsed.problem(line, "a duplicate row was left out")
            continue
        thread.messages.append(
            MessageRecord(
                external_id=message_key,
                kind=kind,
                created_at=at,
                text=_clean(row[index["text"]] if index["text"] < len(row) else "", MAX_TEXT),
                author_ref=author.lower() if kind != "inbound" else "",
                author_name=author if kind != "inbound" else "",
            )
        )
    for record in customers.values():
        parsed.customers.append(record)
    for thread in threads.values():
        thread.messages.sort(key=lambda m: m.created_at)
        thread.updated_at = thread.messages[-1].created_at if thread.messages else thread.created_at
        parsed.conversations.append(thread)
        for message in thread.messages:
            if message.author_ref and "@" in message.author_ref:
                parsed.agents.setdefault(
                    message.author_ref,
                    AgentRecord(message.author_ref, message.author_name, message.author_ref),
                )
    return parsed


def read(fmt: str, data: bytes, mapping: dict[str, str] | None = None) -> Parsed:
    """The file's records, or ``InvalidInput`` when the file as a whole cannot be read."""
    try:
        kind = ImportFormat(fmt)
    except ValueError:
        raise InvalidInput("unknown import format", field="format") from None
    text = decode(data)
    if kind == ImportFormat.CSV_CUSTOMERS:
        return read_csv_customers(text, mapping)
    if kind == ImportFormat.CSV_CONVERSATIONS:
        return read_csv_conversations(text, mapping)
    if kind == ImportFormat.ZENDESK:
        return read_zendesk(text)
    if kind == ImportFormat.FRESHDESK:
        return read_freshdesk(text)
    return read_zammad(text)
