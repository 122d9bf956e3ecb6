"""What AI agents may do, shared by the MCP tools and the REST endpoints.

Each operation takes the calling ``OrganizationAPIKey`` (``api_key``; ``None``
for a signed-in person, whose organisation role already allows it) and calls
the intent (contract 1) and payments (contract 2) services. Agents only create
payments with a key that has the ``payments:write`` scope, always with an
idempotency key, within the key's ``spending_limit_per_payment`` and
``spending_limit_daily``.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.core.exceptions import ApplicationError, Forbidden, NotFound
from apps.core.models import Organization, OrganizationAPIKey

MAX_IDEMPOTENCY_KEY = 200
# Payments that never moved money do not count against a key's daily budget.
NOT_SPENT_STATUSES = ("failed", "blocked", "cancelled")


def _contract(module: str) -> Any:
    """Another app's contract module (issue 6 contracts 1 and 2), imported when first used."""
    import importlib

    return importlib.import_module(module)


class SpendingLimitExceeded(ApplicationError):
    code = "spending_limit_exceeded"
    status_code = 403
    message = "This payment exceeds the API key's spending limit."


class ScopeRequired(Forbidden):
    code = "scope_required"
    message = "This API key lacks the scope this operation requires."


def agent_scope_check(*, api_key: OrganizationAPIKey | None, scope: str) -> None:
    """Refuse an API key without ``scope`` (``read`` also grants read-only operations)."""
    if api_key is None:
        return
    # A key allowed to create payments may also look at them (status polling).
    accepted = (scope, "payments:write") if scope == "read" else (scope,)
    if any(api_key.has_scope(s) for s in accepted):
        return
    raise ScopeRequired(f"This API key needs the '{scope}' scope.", extra={"scope": scope})


def _decimal(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ApplicationError(
            "Amount must be a decimal number.", code="invalid_amount", errors={field: ["Not a decimal."]}
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise ApplicationError(
            "Amount must be positive.", code="invalid_amount", errors={field: ["Must be greater than zero."]}
        )
    return amount


def agent_payment_request(
    *,
    organization: Organization,
    amount: Any,
    currency: str,
    payee_country: str | None = None,
    payer_country: str | None = None,
    payee_currency: str | None = None,
    urgency: str = "normal",
    payee_identifiers: dict[str, str] | None = None,
    preferred_rail: str | None = None,
    payer_ref: str = "",
    payee_ref: str = "",
    payee_name: str = "",
    purpose: str = "",
    language: str = "en",
) -> Any:
    """Validate an agent's arguments into the payments ``PaymentRequest`` (contract 2)."""
    PaymentRequest = _contract("apps.payments.types").PaymentRequest

    errors: dict[str, list[str]] = {}
    if not (isinstance(currency, str) and 3 <= len(currency) <= 4 and currency.isalpha()):
        errors["currency"] = ["ISO 4217 code (or USDC)."]
    for name, value in (("payer_country", payer_country), ("payee_country", payee_country)):
        if value is not None and not (isinstance(value, str) and len(value) == 2 and value.isalpha()):
            errors[name] = ["ISO 3166 alpha-2 code."]
    if urgency not in ("instant", "normal", "low"):
        errors["urgency"] = ["One of instant, normal, low."]
    if errors:
        raise ApplicationError("Invalid payment request.", code="validation_error", errors=errors)
    return PaymentRequest(
        amount=_decimal(amount, "amount"),
        currency=currency,
        payer_country=payer_country or organization.country,
        payee_country=payee_country or payer_country or organization.country,
        payee_currency=payee_currency,
        urgency=urgency,
        payee_identifiers=dict(payee_identifiers or {}),
        preferred_rail=preferred_rail,
        payer_ref=payer_ref,
        payee_ref=payee_ref,
        payee_name=payee_name,
        purpose=purpose,
        language=language,
    )


def agent_message_analyze(
    *, organization: Organization, api_key: OrganizationAPIKey | None, text: str, language: str | None = None
) -> dict[str, Any]:
    """Intent and entities of ``text`` with the engine's confidence (contract 1)."""
    intent_services = _contract("apps.intent.services")

    agent_scope_check(api_key=api_key, scope="intent")
    if not isinstance(text, str) or not text.strip():
        raise ApplicationError("Text is required.", code="validation_error", errors={"text": ["Required."]})
    result = intent_services.message_analyze(
        text[:4000], language=language, organization_currency=organization.default_currency
    )
    return dict(result.to_dict())


def agent_payment_quote(
    *, organization: Organization, api_key: OrganizationAPIKey | None, request: Any
) -> dict[str, Any]:
    """The ranked rails, costs and explanation for ``request``; nothing is created."""
    payment_services = _contract("apps.payments.services")
    agent_scope_check(api_key=api_key, scope="read")
    decision = payment_services.payment_quote(organization=organization, request=request)
    return dict(decision.to_dict())


def _day_start(organization: Organization) -> datetime:
    try:
        zone = ZoneInfo(organization.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    today = timezone.now().astimezone(zone).date()
    return datetime.combine(today, time.min, tzinfo=zone)


def _spending_limits_check(*, key: OrganizationAPIKey, request: Any) -> None:
    per_payment, daily = key.spending_limit_per_payment, key.spending_limit_daily
    if per_payment is None and daily is None:
        return
    limit_currency = (key.spending_limit_currency or key.organization.default_currency).upper()
    if request.currency != limit_currency:
        raise SpendingLimitExceeded(
            f"This API key may only pay in {limit_currency}.",
            code="spending_limit_currency",
            extra={"limit_currency": limit_currency},
        )
    if per_payment is not None and request.amount > per_payment:
        raise SpendingLimitExceeded(
            f"At most {per_payment:f} {limit_currency} per payment with this API key.",
            extra={"period": "payment", "limit": f"{per_payment:f}", "currency": limit_currency},
        )
    if daily is not None:
        from apps.payments.models import OrchestrationPayment

        spent = OrchestrationPayment.objects.filter(
            created_by_api_key=key,
            amount_currency=limit_currency,
            created_at__gte=_day_start(key.organization),
        ).exclude(status__in=NOT_SPENT_STATUSES).aggregate(total=Sum("amount"))["total"] or Decimal("0")
        if spent + request.amount > daily:
            raise SpendingLimitExceeded(
                f"This payment would take today's spending with this API key past {daily:f} {limit_currency}.",
                extra={
                    "period": "day",
                    "limit": f"{daily:f}",
                    "spent": f"{Decimal(spent).quantize(Decimal('0.0001')):f}",
                    "currency": limit_currency,
                },
            )


def _payment_by_idempotency_key(organization: Organization, idempotency_key: str) -> Any:
    from apps.payments.models import OrchestrationPayment

    fields = {f.name for f in OrchestrationPayment._meta.get_fields()}
    if "idempotency_key" not in fields:
        return None
    return OrchestrationPayment.objects.filter(
        organization=organization, idempotency_key=idempotency_key
    ).first()


@transaction.atomic
def agent_payment_create(
    *,
    organization: Organization,
    api_key: OrganizationAPIKey | None,
    actor: Any,
    request: Any,
    idempotency_key: str,
) -> Any:
    """Create (orchestrate) a payment for an agent; a repeated ``idempotency_key`` returns the first one.

    The key's row is locked while its daily spending is summed, so two
    concurrent calls with one key cannot both slip under the limit.
    """
    payment_services = _contract("apps.payments.services")
    agent_scope_check(api_key=api_key, scope="payments:write")
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ApplicationError(
            "An idempotency key (1-200 characters) is required to create a payment.",
            code="idempotency_key_required",
            errors={"idempotency_key": ["Required."]},
        )
    existing = _payment_by_idempotency_key(organization, idempotency_key)
    if existing is not None:
        return existing
    if api_key is not None:
        key = (
            OrganizationAPIKey.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=api_key.pk)
        )
        _spending_limits_check(key=key, request=request)
    payment = payment_services.payment_orchestrate(
        organization=organization, actor=actor, request=request, idempotency_key=idempotency_key
    )
    if api_key is not None and payment.created_by_api_key_id is None:
        # Provenance for the daily budget: which key asked for this payment.
        type(payment).objects.filter(pk=payment.pk).update(created_by_api_key=api_key)
        payment.created_by_api_key = api_key
    return payment


def agent_payment_get(
    *, organization: Organization, api_key: OrganizationAPIKey | None, payment_id: Any
) -> Any:
    import uuid

    from apps.payments.selectors import payment_get

    agent_scope_check(api_key=api_key, scope="read")
    try:
        pk = uuid.UUID(str(payment_id))
    except ValueError:
        raise NotFound("Payment not found.", code="payment_not_found") from None
    payment = payment_get(organization=organization, payment_id=pk)
    if payment is None:
        raise NotFound("Payment not found.", code="payment_not_found")
    return payment


def agent_payment_list(
    *,
    organization: Organization,
    api_key: OrganizationAPIKey | None,
    status: str | None = None,
    limit: int = 20,
) -> list[Any]:
    from apps.payments.selectors import payment_list

    agent_scope_check(api_key=api_key, scope="read")
    filters = {"status": status} if status else {}
    qs = payment_list(organization=organization, filters=filters).order_by("-created_at")
    return list(qs[: max(1, min(int(limit), 100))])


def agent_payment_data(payment: Any) -> dict[str, Any]:
    """A payment as agents see it: the REST payment body plus what a payer needs next."""
    from apps.payments.api.serializers import PaymentSerializer

    data = dict(PaymentSerializer(payment).data)
    metadata = payment.metadata or {}
    pix = metadata.get("pix") or {}
    data["pix_emv"] = pix.get("emv") or None
    data["payment_link"] = metadata.get("payment_link") or metadata.get("checkout_url") or None
    return data
