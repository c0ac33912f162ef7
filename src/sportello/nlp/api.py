"""REST API v1: sentiment and intent of texts, a conversation's mood and triage, the admin's
settings, training and calibration, agent assist."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from sportello.accounts import service as accounts_service
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, NotFound
from sportello.nlp import actions, assist, intent, language, sentiment, service
from sportello.nlp.schemas import (
    AssistIn,
    AssistOut,
    ConversationSentimentRead,
    IntentModelRead,
    IntentOut,
    NlpSettingsData,
    NlpSettingsRead,
    SentimentOut,
    TextsIn,
    TrendDay,
    TriageRead,
)
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router, problem_response

router = api_router("nlp")


def settings_read(row: object) -> NlpSettingsRead:
    data = NlpSettingsRead.model_validate(row, from_attributes=True)
    return data


@router.post("/nlp/sentiment", summary="Sentiment of texts", response_model=list[SentimentOut])
def analyse_sentiment(data: TextsIn, session: SessionDep, caller: ReadCaller) -> list[SentimentOut]:
    settings = service.settings_for(session, accounts_service.default_brand(session).id)
    cuts = service.thresholds(settings)
    out = []
    for text in data.texts:
        code = data.language or language.detect(text)[0]
        result = sentiment.analyse(text, code, cuts)
        out.append(SentimentOut(label=result.label, score=round(result.score, 4), language=code))
    return out


@router.post("/nlp/intent", summary="Triage label of texts", response_model=list[IntentOut])
def predict_intent(data: TextsIn, session: SessionDep, caller: ReadCaller) -> list[IntentOut]:
    brand_id = accounts_service.default_brand(session).id
    row = service.active_model(session, brand_id)
    if row is None:
        raise Conflict("no triage model yet: train one first")
    cut = service.settings_for(session, brand_id).triage_threshold
    return [
        IntentOut(label=label, confidence=round(confidence, 4))
        for label, confidence in intent.predict(actions.load_model(row), data.texts, threshold=cut)
    ]


@router.get(
    "/conversations/{conversation_id}/sentiment",
    summary="A conversation's sentiment",
    response_model=ConversationSentimentRead,
)
def conversation_sentiment(
    conversation_id: int, session: SessionDep, caller: ReadCaller
) -> ConversationSentimentRead:
    access.check_conversation_access(session, caller.user, conversation_id)
    found = service.conversation_sentiment(session, conversation_id)
    if found is None:
        raise NotFound("no sentiment yet for this conversation")
    return ConversationSentimentRead.model_validate(found)


@router.get(
    "/conversations/{conversation_id}/triage",
    summary="A conversation's triage suggestion and language",
    response_model=TriageRead,
)
def conversation_triage(
    conversation_id: int, session: SessionDep, caller: ReadCaller
) -> TriageRead:
    access.check_conversation_access(session, caller.user, conversation_id)
    row = service.insight(session, conversation_id)
    return TriageRead(
        conversation_id=conversation_id,
        label=row.intent_label if row else None,
        confidence=row.intent_confidence if row else None,
        applied=bool(row and row.intent_applied),
        language=(row.language or None) if row else None,
    )


@router.post(
    "/conversations/{conversation_id}/triage/apply",
    summary="Apply the triage suggestion",
    response_model=TriageRead,
)
def apply_triage(conversation_id: int, session: SessionDep, caller: WriteCaller) -> TriageRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    if not actions.do_apply_intent(session, conversation=conversation, by=caller.user):
        raise Conflict("no triage suggestion to apply")
    return conversation_triage(conversation_id, session, caller)


@router.post(
    "/conversations/{conversation_id}/assist",
    summary="Agent assist: summary, reply draft or translation",
    response_model=AssistOut,
    responses={
        409: problem_response("Agent assist is off"),
        502: problem_response("The assistant failed"),
    },
)
def run_assist(
    conversation_id: int, data: AssistIn, session: SessionDep, caller: WriteCaller
) -> AssistOut:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    result = assist.run(
        session, conversation=conversation, kind=data.kind, agent_language=caller.user.language
    )
    return AssistOut(
        kind=result.kind, text=result.text, articles=result.articles, redacted=result.redacted
    )


@router.get(
    "/nlp/sentiment/trend",
    summary="Customer messages per day by sentiment",
    response_model=list[TrendDay],
)
def sentiment_trend(
    session: SessionDep,
    caller: ReadCaller,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> list[TrendDay]:
    access.require_supervisor(caller.user)
    return [TrendDay.model_validate(d) for d in service.trend(session, days=days)]


@router.get("/nlp/settings", summary="Language tool settings", response_model=NlpSettingsRead)
def get_settings_(session: SessionDep, caller: AdminCaller) -> NlpSettingsRead:
    return settings_read(service.settings_for(session, accounts_service.default_brand(session).id))


@router.put(
    "/nlp/settings", summary="Change the language tool settings", response_model=NlpSettingsRead
)
def put_settings(
    data: NlpSettingsData, session: SessionDep, caller: AdminCaller
) -> NlpSettingsRead:
    row = actions.do_save_settings(
        session, brand_id=accounts_service.default_brand(session).id, data=data
    )
    return settings_read(row)


@router.get(
    "/nlp/intent-models", summary="Trained triage models", response_model=list[IntentModelRead]
)
def list_models(session: SessionDep, caller: AdminCaller) -> list[IntentModelRead]:
    brand_id = accounts_service.default_brand(session).id
    return [IntentModelRead.model_validate(m) for m in service.models(session, brand_id)]


@router.post(
    "/nlp/intent-models",
    summary="Retrain triage from the history",
    response_model=IntentModelRead,
    status_code=201,
)
def train(session: SessionDep, caller: AdminCaller) -> IntentModelRead:
    model = actions.do_train_intents(
        session, brand_id=accounts_service.default_brand(session).id, by=caller.user
    )
    return IntentModelRead.model_validate(model)


@router.post(
    "/nlp/sentiment/calibrate",
    summary="Recalibrate sentiment from CSAT answers",
    response_model=NlpSettingsRead,
)
def calibrate(session: SessionDep, caller: AdminCaller) -> NlpSettingsRead:
    row = actions.do_calibrate_sentiment(
        session, brand_id=accounts_service.default_brand(session).id
    )
    return settings_read(row)
