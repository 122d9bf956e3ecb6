from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations.models import ConversationMessage
from apps.core.exceptions import NotFound
from apps.core.tenancy import organization_required
from apps.intent import selectors, services
from apps.intent.api.serializers import (
    AnalyzeRequestSerializer,
    IntentResultSerializer,
    MessageIntentSerializer,
)


class AnalyzeView(APIView):
    required_scope = "intent"

    @extend_schema(
        request=AnalyzeRequestSerializer,
        responses={200: IntentResultSerializer},
        summary="Intent, entities and confidence of one message (nothing is stored)",
    )
    def post(self, request: Request) -> Response:
        serializer = AnalyzeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_required(request)
        text = services.text_validate(data["text"])
        context = None
        if data.get("conversation_id"):
            conversation = selectors.conversation_get(
                organization=organization, conversation_id=data["conversation_id"]
            )
            if conversation is None:
                raise NotFound("Conversation not found.", code="conversation_not_found")
            context = conversation.context or None
        result = services.message_analyze(
            text,
            language=data.get("language") or None,
            context=context,
            now=data.get("now"),
            organization_currency=organization.default_currency,
        )
        return Response(result.to_dict())


class ConversationIntentListView(generics.ListAPIView):
    """The conversation's analysed messages, newest first (cursor pagination).

    They carry the chat texts: API keys need the ``conversations`` scope, ``read`` is not enough."""

    serializer_class = MessageIntentSerializer
    required_scope = "conversations"
    read_scope_suffices = False

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return ConversationMessage.objects.none()
        conversation = selectors.conversation_get(
            organization=organization_required(self.request), conversation_id=self.kwargs["conversation_id"]
        )
        if conversation is None:
            raise NotFound("Conversation not found.", code="conversation_not_found")
        return selectors.conversation_intent_list(conversation=conversation)

    @extend_schema(summary="Intents detected in a conversation's messages")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)
