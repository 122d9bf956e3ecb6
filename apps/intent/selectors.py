from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.conversations.models import Conversation, ConversationMessage


def conversation_get(*, organization: Any, conversation_id: Any) -> Conversation | None:
    return Conversation.objects.filter(organization=organization, pk=conversation_id).first()


def conversation_intent_list(*, conversation: Conversation) -> QuerySet[ConversationMessage]:
    """The conversation's analysed messages (those with a detected intent)."""
    return ConversationMessage.objects.filter(conversation=conversation).exclude(detected_intent="")
