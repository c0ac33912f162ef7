"""One search box over customers, conversations and messages, scoped to what the user may see.

The words go through the knowledge base's analysis (``knowledge/query.py``, ``knowledge/text.py``):
the same accent folding, Italian/English Snowball stems and typo fixes against the shop's
vocabulary, and the same message index (``kb_message_search`` with FTS5 on SQLite, a ``tsvector``
with GIN on PostgreSQL, ``knowledge/search_ddl.py``). Nothing is analysed twice in two ways.

- **customers**: every word of the name (accents and one or two typos forgiven: "nicolo",
  "Colombi" find "Nicolò Colombo"), an email or part of one, a phone number in any format
  ("333 1234567", "0039 333-123 4567" find +393331234567);
- **conversations**: the number ("#1042" or "1042"), the subject (stems), or any message in it;
- **messages**: the matching messages themselves, best first, with the conversation they are in.

Every group pages on its own (``offset``/``limit``) and says whether there is more.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import ColumnElement, Float, Integer, and_, column, false, func, or_, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload

from sportello.accounts.models import Brand, User
from sportello.conversations.models import Conversation, Message
from sportello.core import access
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
from sportello.knowledge import query as kbquery
from sportello.knowledge import text
from sportello.knowledge.models import MessageSearch

GroupName = Literal["customers", "conversations", "messages"]
GROUPS: tuple[GroupName, ...] = ("customers", "conversations", "messages")
MAX_LIMIT = 100
CANDIDATES = 2000  # the newest matching messages ranked per query (see _candidates)
NAME_VOCAB_TTL = 60.0
_NUMBER = re.compile(r"^#?\s*(\d{1,9})$")
_EMAILISH = re.compile(r"^[\w.+\-]*@[\w.\-]*$|^[\w.+\-]+\.[a-z]{2,}$", re.IGNORECASE)


@dataclass
class Page:
    items: list[Any] = field(default_factory=list)
    offset: int = 0
    more: bool = False


@dataclass
class MessageHit:
    message: Message
    conversation: Conversation
    snippet: str


@dataclass
class Results:
    q: str
    corrections: dict[str, str]
    customers: Page
    conversations: Page
    messages: Page

    def group(self, name: GroupName) -> Page:
        page: Page = getattr(self, name)
        return page

    @property
    def empty(self) -> bool:
        return not (self.customers.items or self.conversations.items or self.messages.items)


# --- the analysis, once --------------------------------------------------------------------------


@dataclass
class Analysis:
    parsed: kbquery.ParsedQuery
    number: int | None
    phone_digits: str | None
    email_part: str | None
    name_words: list[str]  # folded words of the query (for names)


def _brand_id(session: Session) -> int:
    return int(session.scalar(select(Brand.id).order_by(Brand.id).limit(1)) or 0)


def analyse(session: Session, q: str) -> Analysis:
    clipped = text.clip_query(q)
    parsed = kbquery.parse(session, clipped, brand_id=_brand_id(session))
    for group in parsed.groups:  # "spedizioni" finds "spedito", and back
        for alternative in list(group.alternatives):
            if len(alternative.stems) == 1 and not alternative.prefix:
                for related in text.related_stems(alternative.stems[0], parsed.language):
                    group.add(kbquery.Alternative((related,), factor=kbquery.SYNONYM_FACTOR))
    stripped = clipped.strip()
    number_match = _NUMBER.match(stripped)
    digits = re.sub(r"\D", "", stripped)
    phone = None
    if len(digits) >= 6 and re.fullmatch(r"[\d\s()+./\-]+", stripped):
        if digits.startswith("00"):
            digits = digits[2:]
        if digits.startswith("39") and len(digits) > 10:
            digits = digits[2:]
        phone = digits
    email = stripped.lower() if " " not in stripped and _EMAILISH.match(stripped) else None
    return Analysis(
        parsed=parsed,
        number=int(number_match.group(1)) if number_match else None,
        phone_digits=phone,
        email_part=email,
        name_words=[w for w in text.words(clipped, limit=text.MAX_QUERY_TERMS) if len(w) >= 2],
    )


# --- customers' names: a folded vocabulary, for accents and typos --------------------------------


@dataclass
class _Names:
    forms: dict[str, set[str]]  # folded word -> the lower-case spellings stored
    keys: list[str]
    loaded_at: float


_names_lock = threading.Lock()
_names: dict[str, _Names] = {}


def _name_vocabulary(session: Session) -> _Names:
    """Cached per database while no customer is added or changed (one cheap query checks)."""
    stamp = session.execute(
        select(func.count(Customer.id), func.max(Customer.id), func.max(Customer.updated_at))
    ).one()
    key = f"{session.get_bind().engine.url}|{tuple(stamp)}"
    now = time.monotonic()
    cached = _names.get(key)
    if cached is not None and now - cached.loaded_at < NAME_VOCAB_TTL:
        return cached
    forms: dict[str, set[str]] = {}
    for name in session.scalars(select(Customer.name).where(Customer.merged_into_id.is_(None))):
        for word in re.findall(r"[^\W_]+", (name or "").lower()):
            forms.setdefault(text.fold(word), set()).add(word)
    names = _Names(forms, list(forms), now)
    with _names_lock:
        _names.clear()
        _names[key] = names
    return names


def invalidate_names() -> None:
    with _names_lock:
        _names.clear()


def _word_spellings(word: str, names: _Names) -> set[str]:
    """The stored spellings a query word may mean: itself, its accented forms, near misses."""
    folded = text.fold(word)
    found = set(names.forms.get(folded, ())) | {word}
    if len(folded) >= 4:
        distance = 1 if len(folded) <= 6 else 2
        for key, _score, _i in process.extract(
            folded, names.keys, scorer=Levenshtein.distance, score_cutoff=distance, limit=8
        ):
            found |= names.forms[key]
    return found


def _customer_condition(session: Session, analysis: Analysis) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    identity = select(CustomerIdentity.customer_id)
    if analysis.phone_digits:
        parts.append(
            Customer.id.in_(
                identity.where(
                    CustomerIdentity.kind == IdentityKind.PHONE,
                    CustomerIdentity.value.like(f"%{analysis.phone_digits}"),
                )
            )
        )
    if analysis.email_part:
        parts.append(
            Customer.id.in_(
                identity.where(
                    CustomerIdentity.kind == IdentityKind.EMAIL,
                    CustomerIdentity.value.like(f"%{_escape(analysis.email_part)}%", escape="\\"),
                )
            )
        )
    if analysis.name_words and not analysis.phone_digits:
        names = _name_vocabulary(session)
        name = func.lower(Customer.name)
        every_word = []
        for word in analysis.name_words:
            spellings = _word_spellings(word, names)
            every_word.append(
                or_(*(name.like(f"%{_escape(s)}%", escape="\\") for s in sorted(spellings)))
            )
        parts.append(and_(*every_word))
    return or_(*parts) if parts else false()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_customers(
    session: Session, user: User, analysis: Analysis, *, offset: int = 0, limit: int = 10
) -> Page:
    rows = list(
        session.scalars(
            access.customers_query(session, user)
            .options(lazyload("*"), selectinload(Customer.identities))
            .where(_customer_condition(session, analysis))
            .order_by(Customer.name, Customer.id)
            .offset(offset)
            .limit(limit + 1)
        ).unique()
    )
    return Page(rows[:limit], offset, len(rows) > limit)


# --- messages, through the shared index ----------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _candidates(session: Session, analysis: Analysis) -> Any | None:
    """The newest ``CANDIDATES`` matching messages with their rank (lower is better), as a
    subquery ``(mid, r)``: ranking a bounded set keeps a common word as fast as a rare one (the
    engines would otherwise rank every match; on PostgreSQL ``ts_rank`` detoasts each)."""
    parsed = analysis.parsed
    if parsed.empty:
        return None
    if _dialect(session) == "postgresql":
        statement = sql(
            "SELECT c.message_id AS mid, -ts_rank(c.search_vector, to_tsquery('simple', :kbq)) AS r"
            " FROM (SELECT message_id, search_vector FROM kb_message_search"
            " WHERE search_vector @@ to_tsquery('simple', :kbq)"
            " ORDER BY message_id DESC LIMIT :cap) c"
        ).bindparams(kbq=parsed.tsquery(), cap=CANDIDATES)
    else:
        statement = sql(
            "SELECT rowid AS mid, bm25(kb_message_fts) AS r FROM kb_message_fts"
            " WHERE kb_message_fts MATCH :kbq ORDER BY rowid DESC LIMIT :cap"
        ).bindparams(kbq=parsed.fts5(), cap=CANDIDATES)
    return statement.columns(column("mid", Integer), column("r", Float)).subquery("candidate")


def _ranked(session: Session, user: User, analysis: Analysis) -> Any | None:
    """(message id, conversation id) of the candidates the user may see, best first."""
    candidate = _candidates(session, analysis)
    if candidate is None:
        return None
    return (
        select(candidate.c.mid, MessageSearch.conversation_id)
        .join(MessageSearch, MessageSearch.message_id == candidate.c.mid)
        .join(Conversation, Conversation.id == MessageSearch.conversation_id)
        .where(access.conversation_scope(session, user))
        .order_by(candidate.c.r, candidate.c.mid.desc())
    )


def _load_conversations(session: Session, ids: Iterable[int]) -> dict[int, Conversation]:
    """What a result shows (customer, channel), without the model's eager cascade."""
    return {
        c.id: c
        for c in session.scalars(
            select(Conversation)
            .options(
                lazyload("*"),
                joinedload(Conversation.customer).lazyload("*"),
                joinedload(Conversation.channel).lazyload("*"),
            )
            .where(Conversation.id.in_(set(ids)))
        ).unique()
    }


def search_messages(
    session: Session, user: User, analysis: Analysis, *, offset: int = 0, limit: int = 10
) -> Page:
    ranked = _ranked(session, user, analysis)
    if ranked is None:
        return Page([], offset)
    rows = session.execute(ranked.offset(offset).limit(limit + 1)).all()
    ids = [int(r[0]) for r in rows[:limit]]
    messages = {
        m.id: m
        for m in session.scalars(select(Message).options(lazyload("*")).where(Message.id.in_(ids)))
    }
    conversations = _load_conversations(session, (m.conversation_id for m in messages.values()))
    items = [
        MessageHit(
            messages[i],
            conversations[messages[i].conversation_id],
            snippet(_shown_text(messages[i]), analysis),
        )
        for i in ids
        if i in messages
    ]
    return Page(items, offset, len(rows) > limit)


def _shown_text(message: Message) -> str:
    visible = (message.meta or {}).get("email", {}).get("visible_text")
    return str(visible or message.text or "")


def snippet(body: str, analysis: Analysis, width: int = 180) -> str:
    """The part of ``body`` around the first word whose stem the query asked for."""
    stems = {s for g in analysis.parsed.groups for a in g.alternatives for s in a.stems}
    flat = " ".join(body.split())
    for match in re.finditer(r"[^\W_]+", flat):
        word = text.fold(match.group().lower())
        if any(word.startswith(s) or text.stem(word) == s for s in stems):
            start = max(0, match.start() - width // 3)
            piece = flat[start : start + width]
            return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
    return flat[:width] + ("…" if len(flat) > width else "")


# --- conversations -------------------------------------------------------------------------------


def _substrings(group: kbquery.Group) -> list[str]:
    """The fewest substrings that find a group's alternatives in a subject: "sped" covers
    "spedizion", so a subject is scanned once per distinct root, not once per variant."""
    found = sorted({" ".join(a.stems) for a in group.alternatives}, key=len)
    kept: list[str] = []
    for candidate in found:
        if not any(k in candidate for k in kept):
            kept.append(candidate)
    return kept


def search_conversations(
    session: Session, user: User, analysis: Analysis, *, offset: int = 0, limit: int = 10
) -> Page:
    """By number first, then by subject, then by their best matching message."""
    wanted = offset + limit + 1
    order: list[int] = []
    scope = access.conversation_scope(session, user)
    if analysis.number is not None:
        order += session.scalars(
            select(Conversation.id).where(scope, Conversation.number == analysis.number)
        ).all()
    groups = [g for g in analysis.parsed.groups if g.alternatives]
    if groups:
        subject = func.lower(Conversation.subject)
        every = [
            or_(*(subject.like(f"%{_escape(p)}%", escape="\\") for p in _substrings(g)))
            for g in groups
        ]
        order += [
            i
            for i in session.scalars(
                select(Conversation.id)
                .where(scope, and_(*every))
                .order_by(Conversation.last_message_at.desc())
                .limit(wanted)
            )
            if i not in order
        ]
    ranked = _ranked(session, user, analysis)
    if ranked is not None and len(order) < wanted:
        seen = set(order)
        for _message_id, conversation_id in session.execute(ranked):
            if conversation_id not in seen:
                seen.add(conversation_id)
                order.append(int(conversation_id))
                if len(order) >= wanted:
                    break
    page_ids = order[offset : offset + limit]
    loaded = _load_conversations(session, page_ids)
    return Page([loaded[i] for i in page_ids if i in loaded], offset, len(order) > offset + limit)


# --- all of it ----------------------------------------------------------------------------------


def search(
    session: Session,
    user: User,
    q: str,
    *,
    groups: Sequence[GroupName] = GROUPS,
    offset: int = 0,
    limit: int = 10,
) -> Results:
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    analysis = analyse(session, q)
    pages = {name: Page([], 0) for name in GROUPS}
    if q.strip():
        finders = {
            "customers": search_customers,
            "conversations": search_conversations,
            "messages": search_messages,
        }
        for name in groups:
            pages[name] = finders[name](session, user, analysis, offset=offset, limit=limit)
    return Results(
        q=q,
        corrections=analysis.parsed.corrections,
        customers=pages["customers"],
        conversations=pages["conversations"],
        messages=pages["messages"],
    )
