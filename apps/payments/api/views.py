from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, Forbidden, NotFound
from apps.core.fastserializers import FastRowsMixin, scope_param
from apps.core.permissions import HasApiKeyScope
from apps.core.roles import Role
from apps.core.tenancy import organization_required, request_actor, request_person
from apps.payments import selectors, services
from apps.payments.api.serializers import (
    AlternativesSerializer,
    PaymentDetailSerializer,
    PaymentOrchestrationRequestSerializer,
    PaymentSerializer,
    RailCapabilitiesSerializer,
    RailStatusSerializer,
    RailSummarySerializer,
    ReasonSerializer,
    RefundRequestSerializer,
    RoutingDecisionSerializer,
    UserPreferencesSerializer,
    WebhookAckSerializer,
)
from apps.payments.filters import PaymentFilter
from apps.payments.idempotency import IdempotentAPIMixin
from apps.payments.models import OrchestrationPayment
from apps.payments.rails.base import WebhookVerificationError
from apps.payments.rails.registry import UnknownRail, rail_catalog

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Same key + same body replays the first answer (Idempotent-Replayed: true).",
)


class PaymentListView(FastRowsMixin, generics.ListAPIView):
    """Payments of the caller's organisation, newest first (cursor pagination)."""

    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return OrchestrationPayment.objects.none()
        return selectors.payment_list(organization=organization_required(self.request))

    def fixed_shape_params(self) -> list[Any] | None:
        # Without query-string filters the list is the organisation's payments, nothing else.
        if getattr(self, "swagger_fake_view", False):
            return None
        return [scope_param(OrchestrationPayment, "organization", organization_required(self.request).pk)]


def _payment_or_404(request: Request, payment_id: Any) -> OrchestrationPayment:
    payment = selectors.payment_detail_get(organization=organization_required(request), payment_id=payment_id)
    if payment is None:
        raise NotFound("Payment not found.", code="payment_not_found")
    return payment


class PaymentDetailView(generics.GenericAPIView):
    serializer_class = PaymentDetailSerializer

    @extend_schema(responses=PaymentDetailSerializer, summary="A payment with its timeline and rail attempts")
    def get(self, request: Request, payment_id: str) -> Response:
        return Response(PaymentDetailSerializer(_payment_or_404(request, payment_id)).data)


# Who may move money: compliance reviewers decide cases, they do not originate payments.
PAYING_ROLES = (Role.OWNER, Role.FINANCE, Role.DEVELOPER)


class PaymentOrchestrateView(IdempotentAPIMixin, APIView):
    permission_classes = [*APIView.permission_classes, HasApiKeyScope]
    required_scope = "payments:write"
    allowed_roles = PAYING_ROLES

    @extend_schema(
        request=PaymentOrchestrationRequestSerializer,
        responses={201: PaymentDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Route, screen and initiate a payment on the best rail",
    )
    def post(self, request: Request) -> Response:
        serializer = PaymentOrchestrationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = organization_required(request)
        conversation = None
        conversation_id = serializer.validated_data.get("conversation")
        if conversation_id:
            from apps.conversations.models import Conversation

            conversation = Conversation.objects.filter(organization=organization, pk=conversation_id).first()
            if conversation is None:
                raise NotFound("Conversation not found.", code="conversation_not_found")
        actor = request_actor(request)
        key = request.headers.get("Idempotency-Key")
        answer: dict[str, Any] = {}

        def respond(done: services.Orchestrated) -> None:
            # The body from the rows the service just wrote (no read-back), stored as the
            # idempotent answer in the payment's own transaction.
            answer["body"] = PaymentDetailSerializer(
                selectors.payment_detail_from_memory(done.payment, events=done.events, attempts=done.attempts)
            ).data
            self.idempotency_store(status_code=status.HTTP_201_CREATED, body=answer["body"])

        done = services.payment_orchestrate_full(
            organization=organization,
            actor=actor,
            request=serializer.to_request(),
            conversation=conversation,
            idempotency_key=f"api:{getattr(actor, 'pk', '-')}:{key}" if key else None,
            before_commit=respond,
        )
        if "body" not in answer:  # the key named a payment made earlier: answer it as it is now
            answer["body"] = PaymentDetailSerializer(_payment_or_404(request, done.payment.pk)).data
        return Response(answer["body"], status=status.HTTP_201_CREATED)


class PaymentQuoteView(IdempotentAPIMixin, APIView):
    required_scope = "read"  # quoting creates nothing

    @extend_schema(
        request=PaymentOrchestrationRequestSerializer,
        responses=RoutingDecisionSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Every eligible rail for a payment, ranked and explained (creates nothing)",
    )
    def post(self, request: Request) -> Response:
        serializer = PaymentOrchestrationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = services.payment_quote(
            organization=organization_required(request),
            request=serializer.to_request(),
            preferences=services.preferences_for(request_person(request)),
        )
        return Response(decision.to_dict())


class PaymentAlternativesView(APIView):
    @extend_schema(responses=AlternativesSerializer, summary="The ranked alternative rails of a payment")
    def get(self, request: Request, payment_id: str) -> Response:
        payment = _payment_or_404(request, payment_id)
        return Response(
            {
                "selected_rail": payment.selected_rail,
                "cost_breakdown": payment.cost_breakdown,
                "alternatives": payment.alternative_rails,
                "tried_rails": [a.rail for a in payment.rail_attempts.all()],
            }
        )


class _PaymentActionView(IdempotentAPIMixin, APIView):
    """POST {reason} on one payment, calling one service; answers with the payment."""

    permission_classes = [*APIView.permission_classes, HasApiKeyScope]
    required_scope = "payments:write"
    allowed_roles = PAYING_ROLES
    default_reason = ""
    success_status: int = status.HTTP_200_OK
    body_serializer: type[ReasonSerializer] = ReasonSerializer

    def act(self, *, payment: OrchestrationPayment, actor: Any, reason: str, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def post(self, request: Request, payment_id: str) -> Response:
        body = self.body_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        payment = _payment_or_404(request, payment_id)
        self.act(
            payment=payment,
            actor=request_actor(request),
            reason=body.validated_data["reason"] or self.default_reason,
            body=body.validated_data,
        )
        return Response(
            PaymentDetailSerializer(_payment_or_404(request, payment_id)).data, status=self.success_status
        )


@extend_schema_view(
    post=extend_schema(
        request=ReasonSerializer,
        responses=PaymentDetailSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Move a payment to the next eligible rail",
    )
)
class PaymentFallbackView(_PaymentActionView):
    default_reason = "manual fallback"

    def act(self, *, payment: OrchestrationPayment, actor: Any, reason: str, body: dict[str, Any]) -> None:
        services.payment_fallback(payment=payment, actor=actor, reason=reason)


@extend_schema_view(
    post=extend_schema(
        request=ReasonSerializer,
        responses=PaymentDetailSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Cancel a payment that has not settled",
    )
)
class PaymentCancelView(_PaymentActionView):
    default_reason = "cancelled"

    def act(self, *, payment: OrchestrationPayment, actor: Any, reason: str, body: dict[str, Any]) -> None:
        services.payment_cancel(payment=payment, actor=actor, reason=reason)


@extend_schema_view(
    post=extend_schema(
        request=RefundRequestSerializer,
        responses={202: PaymentDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Refund a settled payment, in full or in part",
        description=(
            "Accepted (202): the refund (`amount`, or all that is left to refund) is sent to the rail "
            "after commit and listed in `refunds` (requested → pending → succeeded | failed). When "
            "the rail confirms, a refund that completes the payment's amount makes it `refunded` "
            "(`payment_refunded` is broadcast); a partial one leaves it `succeeded` "
            "(`payment_partially_refunded`). One refund at a time. 409 `payment_not_refundable`, "
            "409 `refund_in_progress`, 422 `refund_not_supported`, 422 `refund_amount_invalid`."
        ),
    )
)
class PaymentRefundView(_PaymentActionView):
    default_reason = "refunded"
    success_status = status.HTTP_202_ACCEPTED

    body_serializer = RefundRequestSerializer

    def act(self, *, payment: OrchestrationPayment, actor: Any, reason: str, body: dict[str, Any]) -> None:
        services.payment_refund(payment=payment, actor=actor, reason=reason, amount=body.get("amount"))


class RailListView(APIView):
    pagination_class = None

    @extend_schema(responses=RailSummarySerializer(many=True), summary="The rails and their health")
    def get(self, request: Request) -> Response:
        return Response(RailSummarySerializer(selectors.rail_summaries(), many=True).data)


def _caps_or_404(name: str) -> Any:
    try:
        return rail_catalog().rails[name]
    except KeyError as exc:
        raise NotFound("Unknown rail.", code="rail_not_found") from exc


class RailCapabilitiesView(APIView):
    @extend_schema(responses=RailCapabilitiesSerializer, summary="What a rail can carry and what it costs")
    def get(self, request: Request, name: str) -> Response:
        return Response(_caps_or_404(name).to_dict())


class RailStatusView(APIView):
    @extend_schema(responses=RailStatusSerializer, summary="A rail's health and circuit breaker")
    def get(self, request: Request, name: str) -> Response:
        _caps_or_404(name)
        row = selectors.rail_status_map().get(name)
        if row is None:
            raise NotFound("No status recorded for this rail yet.", code="rail_status_not_found")
        return Response(RailStatusSerializer(row).data)


class UserPreferencesView(APIView):
    def _user(self, request: Request, user_id: str) -> Any:
        person = request_person(request)
        if person is None or str(person.pk) != str(user_id):
            raise Forbidden("You can only see and change your own preferences.", code="not_your_preferences")
        return person

    @extend_schema(responses=UserPreferencesSerializer, summary="A user's routing preferences")
    def get(self, request: Request, user_id: str) -> Response:
        user = self._user(request, user_id)
        return Response(UserPreferencesSerializer(selectors.user_preferences_get(user=user)).data)

    @extend_schema(
        request=UserPreferencesSerializer,
        responses=UserPreferencesSerializer,
        summary="Set preferred rails, cost-versus-speed weight and default currency",
    )
    def put(self, request: Request, user_id: str) -> Response:
        user = self._user(request, user_id)
        body = UserPreferencesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.user_preferences_update(user=user, **body.validated_data)
        return Response(UserPreferencesSerializer(selectors.user_preferences_get(user=user)).data)


class RailWebhookView(APIView):
    """Provider callbacks: verified, stored raw, acknowledged fast, processed in a task."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    @extend_schema(request=None, responses=WebhookAckSerializer, summary="Rail webhook receiver")
    def post(self, request: Request, rail: str) -> Response:
        body = request.body
        try:
            row, created = services.rail_webhook_receive(rail=rail, headers=dict(request.headers), body=body)
        except UnknownRail as exc:
            raise NotFound("Unknown rail.", code="rail_not_found") from exc
        except WebhookVerificationError as exc:
            raise ApplicationError(str(exc), code="invalid_webhook_signature", status_code=400) from exc
        return Response({"received": True, "duplicate": not created, "event_id": row.event_id})
