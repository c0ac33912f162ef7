"""The bot: answers first on channels that enable it, from the knowledge base, and hands over.

Channel settings (``channel.settings["bot"]``)::

    {"enabled": true, "name": "Assistente", "greeting": "Ciao! ...", "threshold": 0.5,
     "hours": ["00:00-08:30", "18:00-24:00"], "days": [0, 1, 2, 3, 4, 5, 6],
     "blocked_topics": ["avvocato", "salute"], "llm": false}

On ``message.received`` for an unassigned, active conversation of such a channel, the bot searches
the published articles, replies (``do_send_reply`` with no author) with the best passage and a link,
and asks whether it helped. It hands over to a person — tag ``bot_handover``, an internal note with
the exchange, event ``bot.handover`` for routing — when confidence is below the threshold, when the
customer asks for a person, after repeated "no", when the customer is upset, or on a blocked topic.
Routing should leave conversations alone while ``bot_active()`` is true.

With ``SPORTELLO_KB_LLM_URL`` set and ``"llm": true`` on the channel, an OpenAI-compatible chat
endpoint composes the answer from the retrieved articles only, citing them; any failure falls back
to the passage. Every turn is logged in ``bot_log`` with what was retrieved.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    Direction,
    Message,
    Status,
)
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe_batch
from sportello.core.events import ConversationRef, emit, register_event
from sportello.knowledge import actions as kb_actions
from sportello.knowledge import service, text
from sportello.knowledge.models import BotLog, BotSession, BotState

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
# Two articles closer than this in confidence, both above CLARIFY_FLOOR x threshold: ask which.
CLARIFY_MARGIN = 0.05
CLARIFY_FLOOR = 0.8
MAX_FAILURES = 2
HANDOVER_TAG = "bot_handover"


class BotHandover(ConversationRef):
    reason: str


register_event("bot.handover", BotHandover)

ASK_PERSON = {
    "operatore", "operatrice", "operatori", "persona", "umano", "umana", "agente", "addetto",
    "agent", "human", "person", "operator", "representative", "someone",
}  # fmt: skip
ANGER = {
    "vergogna", "vergognoso", "vergognosa", "schifo", "schifoso", "truffa", "truffatori", "ladri",
    "incompetenti", "incompetente", "denuncia", "denuncio", "avvocato", "inaccettabile",
    "scandaloso", "scandalosa", "pessimo", "pessima", "furioso", "furiosa", "arrabbiato",
    "arrabbiata", "ridicolo", "ridicola", "assurdo", "indecente", "vergognatevi", "basta",
    "disgusting", "scam", "fraud", "ridiculous", "unacceptable", "angry", "furious", "lawyer",
    "terrible", "worst", "useless", "awful", "outrageous", "sue",
}  # fmt: skip
YES = {"si", "sì", "yes", "grazie", "perfetto", "risolto", "ok", "okay", "thanks", "great",
       "solved", "ottimo", "chiaro", "helpful", "utile"}  # fmt: skip
NO = {"no", "non", "niente", "nulla", "not", "nope", "didn", "sbagliato", "wrong", "inutile"}

TEXTS = {
    "it": {
        "name": "Assistente virtuale",
        "ask": (
            "Questa risposta ti è stata utile? Rispondi sì o no, oppure scrivi «operatore» per "
            "parlare con una persona."
        ),
        "clarify": "Vuoi sapere di «{first}» o di «{second}»? Rispondi 1 o 2.",
        "more": "Leggi tutto",
        "thanks": "Bene, sono contento di esserti stato utile! Se ti serve altro, scrivimi pure.",
        "rephrase": (
            "Mi dispiace. Prova a descrivere il problema con altre parole, oppure scrivi "
            "«operatore» per parlare con una persona."
        ),
        "handover": (
            "Ti metto in contatto con una persona del nostro team: ti risponderà appena possibile."
        ),
        "sources": "Fonti",
    },
    "en": {
        "name": "Virtual assistant",
        "ask": (
            "Did this answer your question? Reply yes or no, or write “agent” to talk to a person."
        ),
        "clarify": "Do you mean “{first}” or “{second}”? Reply 1 or 2.",
        "more": "Read more",
        "thanks": "Great, glad I could help! Write again if you need anything else.",
        "rephrase": (
            "Sorry about that. Try describing the problem in other words, or write “agent” to "
            "talk to a person."
        ),
        "handover": "I'm passing you to a person on our team, who will answer as soon as possible.",
        "sources": "Sources",
    },
}
REASON_LABELS = {
    "asked_for_person": "the customer asked for a person",
    "upset": "the customer seems upset",
    "low_confidence": "no article answered well enough",
    "repeated_failure": "the answers did not help",
    "blocked_topic": "a topic the bot must not answer",
}


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BotConfig:
    enabled: bool = False
    name: str = ""
    greeting: str = ""
    threshold: float = DEFAULT_THRESHOLD
    hours: tuple[tuple[int, int], ...] = ()  # minutes from midnight, [start, end)
    days: frozenset[int] = frozenset(range(7))
    blocked_topics: tuple[str, ...] = ()
    llm: bool = False
    timezone: str = "Europe/Rome"

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> BotConfig:
        raw = (settings or {}).get("bot") or {}
        if not isinstance(raw, dict):
            return cls()
        hours = []
        for window in raw.get("hours") or []:
            match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(window))
            if match:
                h1, m1, h2, m2 = (int(x) for x in match.groups())
                hours.append((h1 * 60 + m1, h2 * 60 + m2))
        try:
            threshold = float(raw.get("threshold", DEFAULT_THRESHOLD))
        except (TypeError, ValueError):
            threshold = DEFAULT_THRESHOLD
        days = raw.get("days")
        return cls(
            enabled=bool(raw.get("enabled")),
            name=str(raw.get("name") or "")[:80],
            greeting=str(raw.get("greeting") or "")[:1000],
            threshold=min(max(threshold, 0.0), 1.0),
            hours=tuple(hours),
            days=frozenset(int(d) for d in days if str(d).isdigit())
            if days
            else frozenset(range(7)),
            blocked_topics=tuple(
                str(t)[:60] for t in raw.get("blocked_topics") or [] if str(t).strip()
            ),
            llm=bool(raw.get("llm")),
            timezone=str(raw.get("timezone") or get_settings().default_timezone),
        )

    def on_duty(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.weekday() not in self.days:
            return False
        if not self.hours:
            return True
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.hours)


def bot_active(session: Session, conversation: Conversation, *, at: datetime | None = None) -> bool:
    """Whether the bot is (or will be) answering this conversation: routing waits meanwhile."""
    if conversation.channel is None or conversation.assignee_id is not None:
        return False
    config = BotConfig.from_settings(conversation.channel.settings)
    if not config.enabled or not config.on_duty(at or utcnow()):
        return False
    state = session.get(BotSession, conversation.id)
    return state is None or state.state == BotState.ACTIVE


# --- understanding the customer ----------------------------------------------------------------


def is_upset(message: str) -> bool:
    words = set(text.words(message, limit=300))
    if words & ANGER:
        return True
    letters = [c for c in message if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    return shouting or "!!!" in message


def asks_for_person(message: str) -> bool:
    return bool(set(text.words(message, limit=300)) & ASK_PERSON)


def feedback(message: str) -> str | None:
    """ "yes" / "no" for a short reply to "did this help?", else None (a new question)."""
    words = text.words(message, limit=50)
    if not words or len(words) > 8:
        return None
    found = set(words)
    if found & NO:
        return "no"
    if found & YES:
        return "yes"
    return None


def blocked_topic(message: str, topics: tuple[str, ...], language: str) -> str | None:
    stems = set(text.terms(message, language))
    for topic in topics:
        topic_stems = set(text.terms(topic, language))
        if topic_stems and topic_stems <= stems:
            return topic
    return None


# --- composing ---------------------------------------------------------------------------------


@dataclass
class Plan:
    action: str  # answer | clarify | handover | feedback_yes | feedback_no
    reason: str = ""
    language: str = "it"
    query: str = ""
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    confidence: float = 0.0
    reply: str = ""
    composer: str = "passage"
    article_ids: list[int] = field(default_factory=list)
    grounding: list[dict[str, str]] = field(default_factory=list)


def article_url(article_language: str, slug: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/help/{article_language}/articles/{slug}"


def decide(hits: list[Any], threshold: float) -> str:
    """answer | clarify | handover from the ranked hits (each with a ``confidence``)."""
    if not hits or hits[0].confidence < threshold * CLARIFY_FLOOR:
        return "handover"
    if (
        len(hits) > 1
        and hits[0].confidence < 1.0  # sure of the best: no question to ask
        and hits[1].confidence >= threshold * CLARIFY_FLOOR
        and hits[0].confidence - hits[1].confidence < CLARIFY_MARGIN
    ):
        return "clarify"
    return "answer" if hits[0].confidence >= threshold else "handover"


FIRST = {"1", "uno", "prima", "primo", "first", "one"}
SECOND = {"2", "due", "seconda", "secondo", "second", "two"}


def _choice(body: str) -> int | None:
    words = set(text.words(body))
    if words & FIRST and not words & SECOND:
        return 0
    if words & SECOND and not words & FIRST:
        return 1
    return None


def _previous(session: Session, conversation_id: int, *, asked: bool = False) -> BotLog | None:
    """The bot's last turn in the conversation (``asked``: the last one on a question)."""
    stmt = select(BotLog).where(BotLog.conversation_id == conversation_id)
    if asked:
        stmt = stmt.where(BotLog.action.in_(("answer", "clarify", "handover")), BotLog.query != "")
    return session.scalar(stmt.order_by(BotLog.id.desc()).limit(1))


def plan_turn(
    session: Session,
    *,
    conversation: Conversation,
    message: Message,
    config: BotConfig,
    state: BotSession | None,
) -> Plan:
    body = message.text[:4000]
    language = text.guess_language(body)
    texts = TEXTS[language]
    plan = Plan(action="answer", language=language, query=body[:500])
    if is_upset(body):
        return Plan(action="handover", reason="upset", language=language, query=plan.query)
    if asks_for_person(body):
        return Plan(
            action="handover", reason="asked_for_person", language=language, query=plan.query
        )
    topic = blocked_topic(body, config.blocked_topics, language)
    if topic:
        return Plan(action="handover", reason="blocked_topic", language=language, query=plan.query)
    if state is not None and state.awaiting_feedback:
        answer = feedback(body)
        if answer == "yes":
            return Plan(action="feedback_yes", language=language, reply=texts["thanks"])
        if answer == "no":
            if state.failures + 1 >= MAX_FAILURES:
                return Plan(action="handover", reason="repeated_failure", language=language)
            return Plan(action="feedback_no", language=language, reply=texts["rephrase"])
    previous = _previous(session, conversation.id) if state is not None else None
    if previous is not None and previous.action == "clarify" and state is not None:
        # the customer picks one of the two articles the bot asked about (or words them)
        options = list(state.last_article_ids or [])[:2]
        picked = _choice(body)
        query = f"{previous.query} {body}"
        result = service.search_articles(
            session, query, brand_id=conversation.brand_id, language=language, limit=10
        )
        hits = [h for h in result.hits if h.article.id in options]
        if picked is not None and picked < len(options):
            hits.sort(key=lambda h: h.article.id != options[picked])
        if hits:
            plan.query = query[:500]
            return _answer(plan, result.query, hits[0], hits, config, texts)
    result = service.search_articles(
        session, body, brand_id=conversation.brand_id, language=language, limit=3
    )
    action = decide(result.hits, config.threshold)
    if action == "handover" and state is not None:
        previous = _previous(session, conversation.id, asked=True)
    if action == "handover" and previous is not None and previous.query:
        # a follow-up ("e per la Svizzera?") read together with the question before it
        query = f"{previous.query} {body}"
        followup = service.search_articles(
            session, query, brand_id=conversation.brand_id, language=language, limit=3
        )
        if decide(followup.hits, config.threshold) != "handover":
            result, plan.query = followup, query[:500]
            action = decide(followup.hits, config.threshold)
    plan.retrieved = [
        {"article_id": h.article.id, "title": h.article.title, "confidence": round(h.confidence, 3)}
        for h in result.hits
    ]
    best = result.hits[0] if result.hits else None
    plan.confidence = best.confidence if best else 0.0
    if best is None or action == "handover":
        plan.action = "handover"
        plan.reason = "low_confidence"
        return plan
    if action == "clarify":
        plan.action = "clarify"
        plan.article_ids = [h.article.id for h in result.hits[:2]]
        plan.reply = texts["clarify"].format(
            first=result.hits[0].article.title, second=result.hits[1].article.title
        )
        return plan
    return _answer(plan, result.query, best, result.hits, config, texts)


def _answer(
    plan: Plan,
    parsed: Any,
    best: Any,
    hits: list[Any],
    config: BotConfig,
    texts: dict[str, str],
) -> Plan:
    plan.action = "answer"
    plan.confidence = best.confidence
    plan.retrieved = plan.retrieved or [
        {"article_id": h.article.id, "title": h.article.title, "confidence": round(h.confidence, 3)}
        for h in hits
    ]
    result_query = parsed
    passage = service.best_passage(best.article, result_query)
    url = article_url(best.article.language, best.article.slug)
    plan.article_ids = [best.article.id]
    plan.reply = f"{passage}\n\n{texts['more']}: {url}\n\n{texts['ask']}"
    plan.grounding = [
        {
            "title": h.article.title,
            "url": article_url(h.article.language, h.article.slug),
            "text": h.article.body_md[:1500],
        }
        for h in hits
        if h.confidence >= config.threshold * 0.6
    ]
    return plan


SYSTEM_PROMPT = (
    "You are the customer service assistant of an online shop. Answer the customer's question "
    "using ONLY the numbered articles given. Answer in the customer's language ({language}), in at "
    "most 120 words, and cite the articles you used as [1], [2]. If the articles do not answer "
    "the question, reply exactly NO_ANSWER."
)


def compose_with_llm(plan: Plan, question: str) -> str | None:
    """Ask the configured chat endpoint; None on any problem (the passage is used instead)."""
    settings = get_settings()
    if not settings.kb_llm_url or not plan.grounding:
        return None
    articles = "\n\n".join(
        f"[{i}] {g['title']}\n{g['text']}" for i, g in enumerate(plan.grounding, start=1)
    )
    payload = {
        "model": settings.kb_llm_model or "default",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT.format(language=plan.language)},
            {"role": "user", "content": f"Articles:\n{articles}\n\nQuestion: {question[:2000]}"},
        ],
    }
    headers = (
        {"Authorization": f"Bearer {settings.kb_llm_api_key}"} if settings.kb_llm_api_key else {}
    )
    url = settings.kb_llm_url.rstrip("/") + "/chat/completions"
    try:
        with httpx.Client(timeout=settings.kb_llm_timeout_seconds) as client:
            response = client.post(url, json=payload, headers=headers)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
    except Exception as exc:
        log.warning("bot: the chat endpoint failed (%s); quoting the article instead", exc)
        return None
    if not isinstance(content, str) or not content.strip() or "NO_ANSWER" in content:
        return None
    cited = sorted(
        {int(n) for n in re.findall(r"\[(\d+)\]", content) if 0 < int(n) <= len(plan.grounding)}
    )
    texts = TEXTS[plan.language]
    sources = "\n".join(
        f"[{n}] {plan.grounding[n - 1]['title']}: {plan.grounding[n - 1]['url']}" for n in cited
    )
    if not sources:  # an answer that cites nothing is not grounded: do not send it
        return None
    return f"{content.strip()[:3000]}\n\n{texts['sources']}:\n{sources}\n\n{texts['ask']}"


# --- writes ------------------------------------------------------------------------------------


def _bot_reply(
    session: Session, conversation: Conversation, body: str, *, name: str, meta: dict[str, Any]
) -> Message:
    message = conversations_actions.do_send_reply(
        session, conversation=conversation, author=None, text=body
    )
    message.sender_name = name[:200]
    message.meta = {**message.meta, "bot": True, **meta}
    return message


def _bot_note(session: Session, conversation: Conversation, body: str, *, name: str) -> Message:
    """The bot's hand-over summary, as an internal note no agent wrote."""
    return conversations_actions.do_add_internal_message(
        session,
        conversation=conversation,
        sender_name=name,
        text=body[: conversations_actions.MAX_TEXT],
        meta={"bot": True, "event": "bot_handover"},
    )


def handover_summary(session: Session, conversation: Conversation, reason: str) -> str:
    lines = [f"Bot handover: {REASON_LABELS.get(reason, reason)}."]
    for entry in service.bot_log(session, conversation_id=conversation.id)[-6:]:
        titles = ", ".join(r.get("title", "?") for r in entry.retrieved[:3]) or "—"
        lines.append(
            f"• {entry.action}{' (' + entry.reason + ')' if entry.reason else ''}: "
            f"“{entry.query[:160]}” → {titles} (confidence {entry.confidence:.2f})"
        )
    return "\n".join(lines)


def do_bot_turn(
    session: Session,
    *,
    conversation: Conversation,
    message: Message,
    config: BotConfig,
    plan: Plan,
) -> BotLog:
    state = session.get(BotSession, conversation.id)
    first_turn = state is None
    if state is None:
        state = BotSession(
            conversation_id=conversation.id,
            brand_id=conversation.brand_id,
            state=BotState.ACTIVE,
            turns=0,
            failures=0,
            awaiting_feedback=False,
            last_article_ids=[],
        )
        session.add(state)
    texts = TEXTS[plan.language]
    name = config.name or texts["name"]
    state.turns += 1
    state.updated_at = utcnow()
    entry = BotLog(
        conversation_id=conversation.id,
        inbound_message_id=message.id,
        action=plan.action,
        reason=plan.reason,
        query=plan.query[:500],
        retrieved=plan.retrieved,
        confidence=plan.confidence,
        composer=plan.composer,
    )
    session.add(entry)
    session.flush()  # the unique inbound id: a second delivery of this event stops here
    reply: Message | None = None
    if plan.action == "answer":
        body = plan.reply
        if first_turn and config.greeting:
            body = f"{config.greeting}\n\n{body}"
        reply = _bot_reply(
            session, conversation, body, name=name, meta={"articles": plan.article_ids}
        )
        state.awaiting_feedback = True
        state.last_article_ids = plan.article_ids
    elif plan.action == "clarify":
        body = plan.reply
        if first_turn and config.greeting:
            body = f"{config.greeting}\n\n{body}"
        reply = _bot_reply(session, conversation, body, name=name, meta={"clarify": True})
        state.awaiting_feedback = False
        state.last_article_ids = plan.article_ids
    elif plan.action == "feedback_yes":
        reply = _bot_reply(session, conversation, plan.reply, name=name, meta={})
        _learn_from_yes(session, conversation.id, list(state.last_article_ids or []))
        state.awaiting_feedback = False
        state.state = BotState.RESOLVED
        conversations_actions.do_change_status(
            session, conversation=conversation, status=Status.RESOLVED, by=None
        )
    elif plan.action == "feedback_no":
        reply = _bot_reply(session, conversation, plan.reply, name=name, meta={})
        state.failures += 1
        state.awaiting_feedback = False
    else:
        reply = do_handover(
            session,
            conversation=conversation,
            state=state,
            reason=plan.reason,
            language=plan.language,
            name=name,
        )
    entry.reply_message_id = reply.id if reply else None
    return entry


def _learn_from_yes(session: Session, conversation_id: int, article_ids: list[int]) -> None:
    """The customer said the answer helped: their question is learned for that article."""
    from sportello.knowledge.models import Article

    asked = session.scalar(
        select(BotLog)
        .where(BotLog.conversation_id == conversation_id, BotLog.action == "answer")
        .order_by(BotLog.id.desc())
        .limit(1)
    )
    article = session.get(Article, article_ids[0]) if article_ids else None
    if asked is not None and article is not None and asked.query:
        kb_actions.do_learn_question(
            session, article=article, question=asked.query, source="helpful"
        )


def do_handover(
    session: Session,
    *,
    conversation: Conversation,
    state: BotSession,
    reason: str,
    language: str = "it",
    name: str = "",
) -> Message | None:
    state.state = BotState.HANDED_OVER
    state.handover_reason = reason[:40]
    state.awaiting_feedback = False
    session.flush()
    texts = TEXTS.get(language, TEXTS["it"])
    reply = None
    if conversation.channel_id is not None and conversation.status != Status.CLOSED:
        reply = _bot_reply(
            session,
            conversation,
            texts["handover"],
            name=name or texts["name"],
            meta={"handover": reason},
        )
    names = [t.name for t in conversation.tags]
    if HANDOVER_TAG not in names:
        conversations_actions.do_update_conversation(
            session, conversation=conversation, by=None, tags=[*names, HANDOVER_TAG]
        )
    _bot_note(
        session,
        conversation,
        handover_summary(session, conversation, reason),
        name=name or texts["name"],
    )
    emit(
        session,
        "bot.handover",
        BotHandover(
            conversation_id=conversation.id,
            number=conversation.number,
            queue_id=conversation.queue_id,
            assignee_id=conversation.assignee_id,
            status=conversation.status.value,
            priority=conversation.priority.value,
            reason=reason,
        ),
    )
    return reply


# --- the event handler -------------------------------------------------------------------------


def _eligible(
    session: Session, message_id: int
) -> tuple[Message, Conversation, BotConfig, BotSession | None] | None:
    message = session.get(Message, message_id)
    if message is None or message.direction != Direction.INBOUND or not message.text.strip():
        return None
    if message.meta.get("automated"):
        return None
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is None or conversation.channel is None:
        return None
    if conversation.assignee_id is not None or conversation.status not in ACTIVE_STATUSES:
        return None
    config = BotConfig.from_settings(conversation.channel.settings)
    if not config.enabled or not config.on_duty(message.created_at):
        return None
    if session.scalar(select(BotLog.id).where(BotLog.inbound_message_id == message.id)):
        return None  # this delivery was already handled (events come at least once)
    state = session.get(BotSession, conversation.id)
    if state is not None and state.state == BotState.HANDED_OVER:
        return None
    if state is not None and state.state == BotState.RESOLVED:
        return message, conversation, config, None  # a new question after a resolved one
    return message, conversation, config, state


@subscribe_batch("message.received")
def on_messages_received(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """Most inbound messages are for channels without a bot, or for conversations a person
    already has: those are sorted out from the payloads and ONE channel query, so the busy
    chat path pays almost nothing for the bot."""
    candidates = [
        payload
        for _name, payload in batch
        if payload.get("direction") == Direction.INBOUND.value
        and payload.get("assignee_id") is None
        and payload.get("channel_id") is not None
    ]
    if not candidates:
        return
    channel_ids = sorted({int(p["channel_id"]) for p in candidates})
    with db.session() as session:
        with_bot = {
            channel_id
            for channel_id, settings in session.execute(
                select(Channel.id, Channel.settings).where(Channel.id.in_(channel_ids))
            )
            if BotConfig.from_settings(settings).enabled
        }
    for payload in candidates:
        if int(payload["channel_id"]) in with_bot:
            on_message_received(db, "message.received", payload)


def on_message_received(db: Database, _name: str, payload: dict[str, Any]) -> None:
    message_id = int(payload["message_id"])
    with db.session() as session:
        found = _eligible(session, message_id)
        if found is None:
            return
        message, conversation, config, state = found
        plan = plan_turn(
            session, conversation=conversation, message=message, config=config, state=state
        )
        question = message.text
        brand_id = conversation.brand_id
    if plan.action == "answer" and config.llm:
        composed = compose_with_llm(plan, question)
        if composed is not None:
            plan.reply = composed
            plan.composer = "llm"
    try:
        with db.transaction() as session:
            found = _eligible(session, message_id)
            if found is None:
                return
            message, conversation, config, _state = found
            existing = session.get(BotSession, conversation.id)
            if existing is not None and existing.state == BotState.RESOLVED:
                existing.state = BotState.ACTIVE
                existing.failures = 0
            do_bot_turn(
                session, conversation=conversation, message=message, config=config, plan=plan
            )
            if plan.query and plan.reason in ("", "low_confidence"):
                kb_actions.do_log_search(
                    session,
                    brand_id=brand_id,
                    source="bot",
                    query=plan.query,
                    language=plan.language,
                    normalized=" ".join(text.content_words(plan.query, plan.language))[:300],
                    result_count=len(plan.retrieved),
                    top_article_id=plan.retrieved[0]["article_id"] if plan.retrieved else None,
                )
    except IntegrityError:
        log.info("bot: message %s was already handled", message_id)
