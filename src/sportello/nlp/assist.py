"""Agent assist through any OpenAI-compatible endpoint the admin configures (a local llama.cpp
or Ollama server, or a hosted one): a summary of the conversation, a reply draft grounded in
the knowledge base (the articles it may use are listed and cited), a translation of the
customer's messages. Personal data is replaced by placeholders before anything leaves, unless
the admin turned redaction off; the key is stored encrypted and never logged or shown."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.config import get_settings
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core.errors import Conflict, SportelloError
from sportello.core.security import decrypt_secret
from sportello.nlp import service
from sportello.nlp.models import NlpSettings

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
MAX_MESSAGES = 30
MAX_CHARS = 12000
LANGUAGE_NAMES = {"it": "Italian", "en": "English"}


class AssistUnavailable(SportelloError):
    status_code = 502
    title = "Bad gateway"


# ---- redaction ----------------------------------------------------------------------------------

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b", re.I)),
    ("CODICE_FISCALE", re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b", re.I)),
    ("CARD", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    ("PHONE", re.compile(r"(?<![\w])(?:\+|00)?\d[\d\s./-]{7,}\d\b")),
]


@dataclass
class Redactor:
    """Replaces personal data by numbered placeholders ([EMAIL_1]...) and can put them back
    into the answer, so the agent reads the real values and the endpoint never sees them."""

    names: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)

    def _placeholder(self, kind: str, value: str) -> str:
        for key, known in self.mapping.items():
            if known == value:
                return key
        count = sum(1 for k in self.mapping if k.startswith(f"[{kind}_")) + 1
        key = f"[{kind}_{count}]"
        self.mapping[key] = value
        return key

    def redact(self, text: str) -> str:
        for kind, pattern in _PATTERNS:

            def replace(match: re.Match[str], kind: str = kind) -> str:
                return self._placeholder(kind, match.group(0))

            text = pattern.sub(replace, text)
        for name in sorted({n for n in self.names if len(n) >= 2}, key=len, reverse=True):
            pattern = re.compile(r"\b" + re.escape(name) + r"\b", re.I)
            text = pattern.sub(lambda m: self._placeholder("NAME", m.group(0)), text)
        return text

    def restore(self, text: str) -> str:
        for key, value in self.mapping.items():
            text = text.replace(key, value)
        return text


def customer_names(conversation: Conversation) -> list[str]:
    name = (conversation.customer.name or "").strip() if conversation.customer else ""
    parts = [p for p in re.split(r"\s+", name) if len(p) >= 2]
    return [name, *parts] if name else []


# ---- the endpoint -------------------------------------------------------------------------------


@dataclass
class Endpoint:
    base_url: str
    model: str
    key: str | None

    @classmethod
    def from_settings(cls, row: NlpSettings) -> Endpoint:
        if not row.assist_enabled or not row.assist_base_url or not row.assist_model:
            raise Conflict("agent assist is off")
        key = None
        if row.assist_key:
            key = decrypt_secret(row.assist_key, get_settings().effective_secret_key())
        return cls(base_url=row.assist_base_url.rstrip("/"), model=row.assist_model, key=key)

    def chat(
        self, messages: list[dict[str, str]], *, transport: httpx.BaseTransport | None = None
    ) -> str:
        url = self.base_url + (
            "/chat/completions" if self.base_url.endswith("/v1") else "/v1/chat/completions"
        )
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        body = {"model": self.model, "messages": messages, "temperature": 0.2}
        try:
            with httpx.Client(timeout=TIMEOUT, transport=transport) as client:
                response = client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise AssistUnavailable("the assistant did not answer") from exc
        if response.status_code >= 400:
            raise AssistUnavailable("the assistant refused the request")
        try:
            data: Any = response.json()
            return str(data["choices"][0]["message"]["content"]).strip()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AssistUnavailable("the assistant gave an answer we cannot read") from exc


# ---- the three helps ----------------------------------------------------------------------------


@dataclass
class AssistResult:
    kind: str
    text: str
    articles: list[dict[str, Any]] = field(default_factory=list)
    redacted: int = 0

    @property
    def composer_text(self) -> str:
        """The draft as it goes into the reply box: the text, then one line per article it
        cites ([1] Title: public link), so the customer gets working links. Articles not
        published in the help centre have no public link and are left out."""
        links = [
            f"[{n}] {a['title']}: {a['public_url']}"
            for n, a in enumerate(self.articles, 1)
            if a.get("public_url") and f"[{n}]" in self.text
        ]
        return self.text.strip() + ("\n\n" + "\n".join(links) if links else "")


def _transcript(session: Session, conversation: Conversation, redactor: Redactor | None) -> str:
    rows = list(
        session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction.in_([Direction.INBOUND, Direction.OUTBOUND]),
            )
            .order_by(Message.id.desc())
            .limit(MAX_MESSAGES)
        )
    )
    lines = []
    for message in reversed(rows):
        who = "Customer" if message.direction == Direction.INBOUND else "Agent"
        text = message.text or ""
        lines.append(f"{who}: {redactor.redact(text) if redactor else text}")
    return "\n".join(lines)[-MAX_CHARS:]


def run(
    session: Session,
    *,
    conversation: Conversation,
    kind: str,
    agent_language: str = "it",
    transport: httpx.BaseTransport | None = None,
) -> AssistResult:
    settings = service.settings_for(session, conversation.brand_id)
    endpoint = Endpoint.from_settings(settings)
    redactor = Redactor(names=customer_names(conversation)) if settings.assist_redact else None
    transcript = _transcript(session, conversation, redactor)
    reply_in = LANGUAGE_NAMES.get(agent_language, "Italian")
    insight = service.insight(session, conversation.id)
    customer_language = LANGUAGE_NAMES.get(
        insight.language if insight else "", "the customer's language"
    )
    articles: list[dict[str, Any]] = []
    if kind == "summary":
        system = (
            f"You help customer-service agents. Summarise this conversation in {reply_in} in at "
            "most five short bullet points: the customer's request, what was done, what is "
            "still open. Keep placeholders like [EMAIL_1] as they are."
        )
        prompt = transcript
    elif kind == "translate":
        system = (
            f"Translate the customer's messages of this conversation into {reply_in}. Keep "
            "placeholders like [EMAIL_1] as they are. Answer with the translation only."
        )
        prompt = "\n".join(line for line in transcript.splitlines() if line.startswith("Customer:"))
    elif kind == "draft":
        from sportello.knowledge import service as kb_service
        from sportello.knowledge.bot import article_url
        from sportello.knowledge.models import ArticleStatus

        found = kb_service.suggestions_for(session, conversation, limit=3)
        sources = []
        for n, hit in enumerate(found.hits, 1):
            body = (hit.article.body_md or "")[:1500]
            sources.append(f"[{n}] {hit.article.title}\n{body}")
            published = hit.article.status == ArticleStatus.PUBLISHED
            articles.append(
                {
                    "id": hit.article.id,
                    "title": hit.article.title,
                    "url": f"/kb/{hit.article.id}",
                    "public_url": (
                        article_url(hit.article.language, hit.article.slug) if published else ""
                    ),
                }
            )
        system = (
            f"You help customer-service agents of a shop. Draft the agent's next reply in "
            f"{customer_language}, polite and brief, using only the numbered articles below; "
            "cite the ones you use as [1], [2]. If they do not answer the question, say what "
            "the agent should check instead. Keep placeholders like [NAME_1] as they are.\n\n"
            + ("\n\n".join(sources) if sources else "(no article matches)")
        )
        prompt = transcript
    else:
        raise Conflict("unknown assist")
    answer = endpoint.chat(
        [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
        transport=transport,
    )
    redacted = len(redactor.mapping) if redactor else 0
    if redactor:
        answer = redactor.restore(answer)
    return AssistResult(kind=kind, text=answer, articles=articles, redacted=redacted)
