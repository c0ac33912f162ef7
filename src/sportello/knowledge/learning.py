"""The shop's agents teach the ranking: a question the bot handed over and an agent answered
with a help-center article (its link, inserted from the suggestions or typed) is learned for that
article, as the customer worded it (``LearnedQuestion``, source ``handover``)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from sportello.conversations.models import Conversation, Direction, Message
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe_batch
from sportello.knowledge import actions, semantic
from sportello.knowledge.models import Article, ArticleStatus, BotLog, BotSession, BotState

ARTICLE_LINK = re.compile(r"/help/([a-z]{2})/articles/([a-z0-9][a-z0-9-]{0,120})")
MAX_LINKS = 3  # a reply listing more articles than this answers no one question


def handed_over_question(session: Any, conversation_id: int) -> str:
    """What the customer asked the bot last before a person took over ("" if nothing)."""
    state = session.get(BotSession, conversation_id)
    if state is None or state.state != BotState.HANDED_OVER:
        return ""
    query = session.scalar(
        select(BotLog.query)
        .where(BotLog.conversation_id == conversation_id, BotLog.query != "")
        .order_by(BotLog.id.desc())
        .limit(1)
    )
    return str(query or "")


@subscribe_batch("message.created")
def learn_from_agent_replies(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """Read and encode with no lock held, then one short write."""
    ids = sorted(
        {
            int(p["message_id"])
            for _name, p in batch
            if p.get("direction") == Direction.OUTBOUND.value
        }
    )
    if not ids:
        return
    plans: list[tuple[str, int, str, str, int]] = []  # question, brand, language, slug, conv.
    with db.session() as session:
        for _message_id, conversation_id, author_id, body, brand_id in session.execute(
            select(
                Message.id,
                Message.conversation_id,
                Message.author_id,
                Message.text,
                Conversation.brand_id,
            )
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id.in_(ids))
        ):
            links = list(dict.fromkeys(ARTICLE_LINK.findall(body or "")))
            if author_id is None or not links or len(links) > MAX_LINKS:
                continue  # the bot's own answers, or no article cited
            question = handed_over_question(session, conversation_id)
            if not question:
                continue
            for language, slug in links:
                plans.append((question, brand_id, language, slug, conversation_id))
    if not plans:
        return
    for question, *_ in plans:
        semantic.prepare_question(question)
    with db.transaction() as session:
        for question, brand_id, language, slug, _conversation_id in plans:
            article = session.scalar(
                select(Article).where(
                    Article.brand_id == brand_id,
                    Article.language == language,
                    Article.slug == slug,
                    Article.status == ArticleStatus.PUBLISHED,
                )
            )
            if article is not None:
                actions.do_learn_question(
                    session, article=article, question=question, source="handover"
                )
