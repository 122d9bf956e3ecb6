"""Intent engine services (contract 1): analyse a message, store what was understood, keep context."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from apps.intent.engine import pipeline
from apps.intent.engine.context import context_update as _context_update
from apps.intent.exceptions import InvalidText
from apps.intent.metrics import intent_classification_latency
from apps.intent.types import IntentResult

if TYPE_CHECKING:
    from apps.conversations.models import ConversationMessage

__all__ = ["context_update", "message_analyze", "message_analyze_and_store", "text_validate"]

text_validate = pipeline.text_validate


def message_analyze(
    text: str,
    *,
    language: str | None = None,
    context: dict[str, Any] | None = None,
    now: datetime | None = None,
    organization_currency: str | None = None,
) -> IntentResult:
    """Intent, entities and confidence of one chat message.

    Never raises for bad text: empty, binary or oversized input gives intent "none" with ``error`` set
    (interfaces that must answer 400 call ``text_validate`` first). ``context`` is the conversation's
    context dict (see ``context_update``); ``now`` the message time (tz-aware; the sender's zone comes
    from ``context["timezone"]``).
    """
    try:
        result = pipeline.analyze(
            text, language=language, context=context, now=now, organization_currency=organization_currency
        )
    except InvalidText as exc:
        result = IntentResult(intent="none", confidence=1.0, tier="rules", language="und", error=exc.code)
    intent_classification_latency.labels(tier=result.tier).observe(result.processing_time_ms / 1000)
    return result


def context_update(context: dict[str, Any] | None, result: IntentResult, *, now: datetime) -> dict[str, Any]:
    """The conversation context after ``result`` (new dict; expired items dropped, new ones with expiry)."""
    return _context_update(context, result, now=now)


@transaction.atomic
def message_analyze_and_store(
    *,
    message: ConversationMessage,
    context: dict[str, Any] | None = None,
    organization_currency: str | None = None,
) -> IntentResult:
    """Analyse ``message`` and write detected_intent, extracted_entities, confidence_score, intent_tier,
    language and processing_time_ms onto it. ``context`` defaults to the conversation's."""
    from apps.conversations.models import ConversationMessage

    locked = (
        ConversationMessage.objects.select_for_update(of=("self",))
        .select_related("conversation__organization")
        .get(pk=message.pk)
    )
    conversation = locked.conversation
    if context is None:
        context = conversation.context or None
    if organization_currency is None:
        organization_currency = conversation.organization.default_currency
    result = message_analyze(
        locked.message_text,
        language=locked.language or conversation.language or None,
        context=context,
        now=locked.created_at,
        organization_currency=organization_currency,
    )
    entities = result.to_dict()
    for key in ("intent", "confidence", "tier", "language", "processing_time_ms"):
        entities.pop(key, None)
    locked.detected_intent = result.intent
    locked.extracted_entities = entities
    locked.confidence_score = result.confidence
    locked.intent_tier = result.tier
    if result.language in ("en", "pt", "es"):
        locked.language = result.language
    locked.processing_time_ms = math.ceil(result.processing_time_ms)
    locked.save(
        update_fields=[
            "detected_intent",
            "extracted_entities",
            "confidence_score",
            "intent_tier",
            "language",
            "processing_time_ms",
        ]
    )
    for field in (
        "detected_intent",
        "extracted_entities",
        "confidence_score",
        "intent_tier",
        "language",
        "processing_time_ms",
    ):
        setattr(message, field, getattr(locked, field))
    return result
