"""REST for AI agents: the MCP tools' operations as JSON endpoints under ``/api/v1/agents/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations.agents import services
from apps.core.authentication import ApiKeyPrincipal
from apps.core.tenancy import organization_required, request_actor
from apps.intent.api.serializers import IntentResultSerializer
from apps.payments.api.serializers import PaymentSerializer, RoutingDecisionSerializer


def _api_key(request: Request) -> Any:
    user = request.user
    return user.api_key if isinstance(user, ApiKeyPrincipal) else None


SESSION_HELP = (
    "Your own id for this conversation or session (e.g. the chat thread): the agent's activity with "
    "one id is kept together in one AgentPay conversation; without it, in the key's own conversation."
)


class AnalyzeSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    language = serializers.ChoiceField(choices=["en", "pt", "es"], required=False, allow_null=True)
    session_id = serializers.CharField(
        max_length=128, required=False, allow_blank=True, help_text=SESSION_HELP
    )


class AgentIntentResultSerializer(IntentResultSerializer):
    """The intent result plus where the analysed message was stored."""

    conversation_id = serializers.UUIDField(help_text="The agent conversation that holds the message")
    message_id = serializers.UUIDField(help_text="The stored message")


class PaymentRequestSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=19, decimal_places=4, min_value=0)
    currency = serializers.CharField(min_length=3, max_length=4)
    payee_country = serializers.CharField(min_length=2, max_length=2, required=False, allow_null=True)
    payer_country = serializers.CharField(min_length=2, max_length=2, required=False, allow_null=True)
    payee_currency = serializers.CharField(min_length=3, max_length=4, required=False, allow_null=True)
    urgency = serializers.ChoiceField(choices=["instant", "normal", "low"], default="normal")
    payee_identifiers = serializers.DictField(child=serializers.CharField(max_length=255), required=False)
    preferred_rail = serializers.CharField(max_length=50, required=False, allow_null=True)
    payer_ref = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    payee_ref = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    payee_name = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    purpose = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    language = serializers.ChoiceField(choices=["en", "pt", "es"], default="en")


class CreatePaymentSerializer(PaymentRequestSerializer):
    idempotency_key = serializers.CharField(max_length=200, required=False)
    session_id = serializers.CharField(
        max_length=128, required=False, allow_blank=True, help_text=SESSION_HELP
    )


class AgentPaymentSerializer(PaymentSerializer):
    """A payment as agents see it: the REST payment body plus what a payer needs next."""

    pix_emv = serializers.CharField(
        allow_null=True, help_text="PIX copy-and-paste (BR Code) when the rail is PIX"
    )
    payment_link = serializers.CharField(
        allow_null=True, help_text="Hosted checkout link when the rail has one"
    )

    class Meta(PaymentSerializer.Meta):
        fields = (*PaymentSerializer.Meta.fields, "pix_emv", "payment_link")  # type: ignore[assignment]


class AgentPaymentListSerializer(serializers.Serializer):
    payments = AgentPaymentSerializer(many=True)


def _payment_request(request: Request, data: dict[str, Any]) -> Any:
    fields = {k: v for k, v in data.items() if k not in ("idempotency_key", "session_id")}
    return services.agent_payment_request(organization=organization_required(request), **fields)


class AnalyzeMessageView(APIView):
    """``POST /api/v1/agents/analyze``: intent, entities and confidence of a message."""

    required_scope = "intent"

    @extend_schema(
        operation_id="agents_analyze",
        request=AnalyzeSerializer,
        responses=AgentIntentResultSerializer,
        summary="Analyse a chat message (intent + confidence); stored in the agent's conversation",
    )
    def post(self, request: Request) -> Response:
        s = AnalyzeSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        result = services.agent_message_analyze(
            organization=organization_required(request),
            api_key=_api_key(request),
            actor=request_actor(request),
            text=s.validated_data["text"],
            language=s.validated_data.get("language"),
            session_id=s.validated_data.get("session_id", ""),
        )
        return Response(result)


class QuotePaymentView(APIView):
    """``POST /api/v1/agents/quote``: ranked rails with costs; nothing is created."""

    required_scope = "read"

    @extend_schema(
        operation_id="agents_quote",
        request=PaymentRequestSerializer,
        responses=RoutingDecisionSerializer,
        summary="Quote a payment across rails",
    )
    def post(self, request: Request) -> Response:
        s = PaymentRequestSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        decision = services.agent_payment_quote(
            organization=organization_required(request),
            api_key=_api_key(request),
            request=_payment_request(request, dict(s.validated_data)),
        )
        return Response(decision)


class PaymentListCreateView(APIView):
    """``GET/POST /api/v1/agents/payments``: recent payments; create one (``Idempotency-Key`` header)."""

    required_scope = "payments:write"

    @extend_schema(
        operation_id="agents_payments_create",
        request=CreatePaymentSerializer,
        responses={201: AgentPaymentSerializer},
        summary="Create a payment as an agent (idempotent)",
    )
    def post(self, request: Request) -> Response:
        s = CreatePaymentSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        idempotency_key = request.headers.get("Idempotency-Key") or s.validated_data.get(
            "idempotency_key", ""
        )
        payment = services.agent_payment_create(
            organization=organization_required(request),
            api_key=_api_key(request),
            actor=request_actor(request),
            request=_payment_request(request, dict(s.validated_data)),
            idempotency_key=idempotency_key,
            session_id=s.validated_data.get("session_id", ""),
        )
        return Response(services.agent_payment_data(payment), status=201)

    @extend_schema(
        operation_id="agents_payments_list",
        request=None,
        responses=AgentPaymentListSerializer,
        summary="Recent payments of the organisation (agents)",
    )
    def get(self, request: Request) -> Response:
        limit = request.query_params.get("limit", "20")
        payments = services.agent_payment_list(
            organization=organization_required(request),
            api_key=_api_key(request),
            status=request.query_params.get("status") or None,
            limit=int(limit) if limit.isdigit() else 20,
        )
        return Response({"payments": [services.agent_payment_data(p) for p in payments]})


class PaymentDetailView(APIView):
    """``GET /api/v1/agents/payments/<id>``."""

    required_scope = "read"

    @extend_schema(
        operation_id="agents_payments_retrieve",
        request=None,
        responses=AgentPaymentSerializer,
        summary="A payment (agents)",
    )
    def get(self, request: Request, payment_id: str) -> Response:
        payment = services.agent_payment_get(
            organization=organization_required(request), api_key=_api_key(request), payment_id=payment_id
        )
        return Response(services.agent_payment_data(payment))
