"""Creating payments from flows (contract 2) and telling the conversation what happened to them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog

from apps.conversations.flows.base import FlowContext
from apps.conversations.flows.messages import money_format, t
from apps.conversations.platforms.base import Receipt, Reply
from apps.core.exceptions import ApplicationError

logger = structlog.get_logger(__name__)


def payment_request_build(
    ctx: FlowContext, *, amount: Decimal, currency: str, payee: dict[str, Any], **fields: Any
) -> Any:
    """Contract 2's ``PaymentRequest`` from a flow's terms (payer in the organisation's country)."""
    from apps.payments.types import PaymentRequest

    country = ctx.conversation.organization.country
    return PaymentRequest(
        amount=amount,
        currency=currency,
        payer_country=country,
        payee_country=payee.get("payee_country") or country,
        payee_identifiers=dict(payee.get("payee_identifiers") or {}),
        payee_ref=str(payee.get("payee_ref") or ""),
        payee_name=str(payee.get("payee_name") or ""),
        language=ctx.language or "en",
        **fields,
    )


def payment_submit(
    ctx: FlowContext,
    *,
    amount: Decimal,
    currency: str,
    payer_ref: str,
    payee: dict[str, Any],
    idempotency_key: str,
    rail: str = "",
    purpose: str = "",
    urgency: str = "normal",
) -> Any:
    """``payment_orchestrate`` for an explicitly confirmed payment; links it to the run.

    Returns the payment, or raises ``ApplicationError`` (the caller tells the user).
    """
    from apps.payments import services as payment_services

    org = ctx.conversation.organization
    request = payment_request_build(
        ctx,
        amount=amount,
        currency=currency,
        payee=payee,
        preferred_rail=rail or None,
        payer_ref=payer_ref,
        purpose=purpose,
        urgency=urgency,
    )
    payment = payment_services.payment_orchestrate(
        organization=org,
        # the chat user is no ``User``: they are the request's ``payer_ref``; the actor is the system
        actor=None,
        request=request,
        conversation=ctx.conversation,
        conversation_message=ctx.message,
        idempotency_key=idempotency_key,
    )
    ctx.run.payments.add(payment)
    return payment


def payment_quote_options(
    ctx: FlowContext, *, amount: Decimal, currency: str, payee: dict[str, Any]
) -> list[dict]:
    """Ranked rail options with costs from ``payment_quote``: ``[{"rail", "fee", "eta", "score"}]``."""
    from apps.payments import services as payment_services

    org = ctx.conversation.organization
    request = payment_request_build(ctx, amount=amount, currency=currency, payee=payee)
    decision = payment_services.payment_quote(organization=org, request=request)
    options: list[dict[str, Any]] = []
    for opt in decision.ranked:
        if any(o["rail"] == opt.rail for o in options):
            continue
        options.append(
            {
                "rail": opt.rail,
                "name": opt.display_name,
                "fee": str(opt.quote.total_cost),
                "eta": opt.eta_text,
                "score": opt.score,
            }
        )
    return options


def payment_failure_reply(ctx: FlowContext, exc: ApplicationError) -> None:
    logger.info("flow_payment_refused", flow_run_id=str(ctx.run.pk), code=exc.code)
    ctx.say(Reply(text=t("payment_error", ctx.language, reason=exc.message)))


def payment_event_reply(
    *, payment: Any, event: str, language: str, payee: str = "", detail: str = ""
) -> Reply | None:
    """What to tell the conversation about a payment event (contract 2's event names)."""
    amount = money_format(payment.amount.amount, str(payment.amount.currency))
    payee = payee or payment.payee_name or payment.payee_ref or "?"
    rail = (payment.selected_rail or "").upper()
    receipt = Receipt(
        payment_id=str(payment.pk),
        amount=f"{payment.amount.amount:.2f}",
        currency=str(payment.amount.currency),
        status=str(payment.status),
        rail=payment.selected_rail or "",
        payee=payee,
        reference=payment.external_payment_id or "",
    )
    meta = {"payment_id": str(payment.pk), "event": event}
    metadata = payment.metadata or {}
    if event == "payment_initiated":
        emv = str((metadata.get("pix") or {}).get("emv") or "")
        link = str(metadata.get("payment_link") or metadata.get("checkout_url") or "")
        if emv:
            return Reply(
                text=t("payment_initiated_pix", language, amount=amount), qr=emv, link=link, metadata=meta
            )
        return Reply(
            text=t("payment_initiated", language, amount=amount, rail=rail), link=link, metadata=meta
        )
    if event == "payment_completed":
        return Reply(
            text=t("payment_completed", language, amount=amount, payee=payee), receipt=receipt, metadata=meta
        )
    if event == "payment_failed":
        reason = payment.failure_reason or "-"
        return Reply(text=t("payment_failed", language, amount=amount, reason=reason), metadata=meta)
    if event == "payment_fallback":
        old = ""
        alternatives = payment.alternative_rails or []
        if isinstance(alternatives, list) and alternatives and isinstance(alternatives[0], dict):
            old = str(alternatives[0].get("rail", ""))
        old = str(metadata.get("previous_rail") or old or "?").upper()
        return Reply(text=t("payment_fallback", language, old=old, amount=amount, rail=rail), metadata=meta)
    if event == "payment_on_hold":
        return Reply(text=t("payment_on_hold", language, amount=amount), metadata=meta)
    if event == "payment_blocked":
        return Reply(text=t("payment_blocked", language, amount=amount, payee=payee), metadata=meta)
    if event == "compliance_info_requested" and detail:
        return Reply(
            text=t("compliance_info_requested", language, amount=amount, question=detail), metadata=meta
        )
    return None
