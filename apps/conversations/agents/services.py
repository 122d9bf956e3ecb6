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
from apps.payments.idempotency import IdempotencyKeyReused

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


MAX_SESSION_ID = 128


def agent_session_id(value: Any) -> str:
    """The agent's own conversation or session id (optional; up to 128 printable characters)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > MAX_SESSION_ID or not value.isprintable():
        raise ApplicationError(
            "session_id must be up to 128 printable characters.",
            code="validation_error",
            errors={"session_id": ["Up to 128 printable characters."]},
        )
    return value.strip()


def _caller_name(api_key: OrganizationAPIKey | None, actor: Any) -> str:
    if api_key is not None:
        return str(api_key.name or api_key.prefix)
    return str(getattr(actor, "get_username", lambda: "")() or getattr(actor, "pk", ""))


def agent_conversation(
    *, organization: Organization, api_key: OrganizationAPIKey | None, actor: Any, session_id: str = ""
) -> Any:
    """The caller's ``agent`` conversation for ``session_id`` (created on first use)."""
    from apps.conversations.services import agent_conversation_upsert

    return agent_conversation_upsert(
        organization=organization,
        caller_ref=agent_caller_ref(api_key=api_key, actor=actor),
        caller_name=_caller_name(api_key, actor),
        session_id=agent_session_id(session_id),
    )


def agent_message_analyze(
    *,
    organization: Organization,
    api_key: OrganizationAPIKey | None,
    text: str,
    language: str | None = None,
    actor: Any = None,
    session_id: str = "",
) -> dict[str, Any]:
    """Intent and entities of ``text`` with the engine's confidence (contract 1).

    The message is stored in the caller's ``agent`` conversation (and broadcast as
    ``message_received``) before it is analysed, then the result is written on it
    (``intent_detected``), as for every platform; no flow runs: the agent decides. With a
    ``session_id`` the conversation's multi-turn context is used ("make it 45" after "pay ana
    30"); without one each message is analysed on its own.
    """
    from apps.conversations import services as conversation_services

    agent_scope_check(api_key=api_key, scope="intent")
    if not isinstance(text, str) or not text.strip():
        raise ApplicationError("Text is required.", code="validation_error", errors={"text": ["Required."]})
    session = agent_session_id(session_id)
    conversation = agent_conversation(
        organization=organization, api_key=api_key, actor=actor, session_id=session
    )
    caller = agent_caller_ref(api_key=api_key, actor=actor)
    message = conversation_services.inbound_message_store(
        conversation=conversation,
        sender_id=caller,
        sender_name=_caller_name(api_key, actor),
        text=text.strip()[:4000],
        language=language or "",
        raw={"tool": "analyze_message", "session_id": session},
    )
    message = conversation_services.message_process(
        message_id=message.pk, dispatch=False, use_context=bool(session)
    )
    return {
        **dict(message.extracted_entities or {}),
        "conversation_id": str(conversation.pk),
        "message_id": str(message.pk),
    }


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


def agent_caller_ref(*, api_key: OrganizationAPIKey | None, actor: Any) -> str:
    """Who is calling: ``apikey:<prefix>`` for an API key, ``user:<pk>`` for a signed-in person.

    Idempotency keys and agent conversations are scoped to it, so two agents (or two people)
    of one organisation never share them.
    """
    if api_key is not None:
        return f"apikey:{api_key.prefix}"
    pk = getattr(actor, "pk", None)
    if pk is None:
        raise Forbidden("An API key or a signed-in person is required.", code="authentication_failed")
    return f"user:{pk}"


def agent_idempotency_key(*, caller_ref: str, idempotency_key: str) -> str:
    """The payments idempotency key of a caller's key (like ``api:<caller>:<key>`` of REST payments)."""
    return f"agent:{caller_ref}:{idempotency_key}"


def _payment_by_idempotency_key(
    *,
    organization: Organization,
    scoped_key: str,
    raw_key: str,
    api_key: OrganizationAPIKey | None,
    actor: Any,
) -> Any:
    from apps.payments.models import OrchestrationPayment

    payments = OrchestrationPayment.objects.filter(organization=organization)
    found = payments.filter(idempotency_key=scoped_key).first()
    if found is None:
        # Payments created before keys were scoped stored the caller's key as is: a retry of one of
        # those by the same caller still gets it (another caller's never).
        legacy = payments.filter(idempotency_key=raw_key)
        if api_key is not None:
            legacy = legacy.filter(created_by_api_key=api_key)
        else:
            legacy = legacy.filter(created_by_id=getattr(actor, "pk", None), created_by_api_key=None)
        found = legacy.first()
    return found


def _same_payment(payment: Any, request: Any) -> bool:
    return bool(
        payment.amount.amount == request.amount
        and str(payment.amount.currency).upper() == str(request.currency).upper()
    )


def _payment_message_store(
    *, conversation: Any, caller: str, caller_name: str, request: Any, idempotency_key: str
) -> Any:
    """The agent's payment request as an inbound message (no identifiers: they stay on the payment)."""
    from apps.conversations.flows.messages import money_format
    from apps.conversations.services import inbound_message_store

    payee = request.payee_name or request.payee_ref or "?"
    return inbound_message_store(
        conversation=conversation,
        sender_id=caller,
        sender_name=caller_name,
        text=f"[create_payment] {money_format(request.amount, request.currency)} to {payee}",
        detected_intent="action",
        raw={
            "tool": "create_payment",
            "idempotency_key": idempotency_key,
            "amount": f"{request.amount:f}",
            "currency": request.currency,
            "payee_name": request.payee_name,
            "payee_ref": request.payee_ref,
            "preferred_rail": request.preferred_rail,
        },
    )


@transaction.atomic
def agent_payment_create(
    *,
    organization: Organization,
    api_key: OrganizationAPIKey | None,
    actor: Any,
    request: Any,
    idempotency_key: str,
    session_id: str = "",
) -> Any:
    """Create (orchestrate) a payment for an agent; a repeated ``idempotency_key`` returns the first one.

    Idempotency keys belong to the caller (the API key, or the person): another key of the
    organisation using the same ``idempotency_key`` gets its own payment. The same key with
    another amount or currency is refused (422 ``idempotency_key_reused``).

    The payment belongs to the caller's ``agent`` conversation for ``session_id``: the request
    is stored there as an inbound message first, and the payment's notices (QR code, receipt,
    failure) are replies in that conversation, on its stream and the organisation's live feed.

    The key's row is locked before the idempotency key is looked up and while its daily
    spending is summed, so two concurrent calls with one key can neither both create a
    payment for one idempotency key nor both slip under the limit.
    """
    payment_services = _contract("apps.payments.services")
    agent_scope_check(api_key=api_key, scope="payments:write")
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ApplicationError(
            "An idempotency key (1-200 characters) is required to create a payment.",
            code="idempotency_key_required",
            errors={"idempotency_key": ["Required."]},
        )
    caller = agent_caller_ref(api_key=api_key, actor=actor)
    scoped_key = agent_idempotency_key(caller_ref=caller, idempotency_key=idempotency_key)
    key = None
    if api_key is not None:
        # one call of a key at a time from here: a concurrent retry waits, then finds the payment
        key = (
            OrganizationAPIKey.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=api_key.pk)
        )
    existing = _payment_by_idempotency_key(
        organization=organization,
        scoped_key=scoped_key,
        raw_key=idempotency_key,
        api_key=api_key,
        actor=actor,
    )
    if existing is not None:
        if not _same_payment(existing, request):
            raise IdempotencyKeyReused(
                "This idempotency key was already used for a payment of another amount or currency.",
                extra={"payment_id": str(existing.pk)},
            )
        return existing
    if key is not None:
        _spending_limits_check(key=key, request=request)
    conversation = agent_conversation(
        organization=organization, api_key=api_key, actor=actor, session_id=session_id
    )
    if not conversation.language and request.language in ("en", "pt", "es"):
        # the payment's notices are written in the language the agent asked in
        conversation.language = request.language
        conversation.save(update_fields=["language"])
    message = _payment_message_store(
        conversation=conversation,
        caller=caller,
        caller_name=_caller_name(api_key, actor),
        request=request,
        idempotency_key=idempotency_key,
    )
    payment = payment_services.payment_orchestrate(
        organization=organization,
        actor=actor,
        request=request,
        conversation=conversation,
        conversation_message=message,
        idempotency_key=scoped_key,
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
