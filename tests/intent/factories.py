from __future__ import annotations

from typing import Any

import factory

from apps.conversations.models import Conversation, ConversationMessage
from tests.factories import ConversationFactory


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "conversations.ConversationMessage"

    conversation = factory.SubFactory(ConversationFactory)
    sender_id = "u1"
    sender_name = "Ana"
    message_text = "te mando 50 conto amanhã"


def message_make(**kwargs: Any) -> ConversationMessage:
    return MessageFactory(**kwargs)  # type: ignore[return-value]


def conversation_make(**kwargs: Any) -> Conversation:
    return ConversationFactory(**kwargs)  # type: ignore[return-value]
