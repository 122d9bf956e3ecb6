from __future__ import annotations

import json

import stripe

from apps.payments.rails.base import RailWebhook, WebhookVerificationError

_STATUS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "failed",
    "payment_intent.processing": "processing",
}


def stripe_webhook_verify(*, body: bytes, header: str | None, secret: str) -> None:
    """Stripe's own verification (HMAC-SHA256 over ``t.payload``, 300 s tolerance)."""
    if not header:
        raise WebhookVerificationError("Missing Stripe-Signature header.")
    try:
        stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=300)
    except stripe.SignatureVerificationError as exc:
        raise WebhookVerificationError(str(exc)) from exc


def stripe_webhook_parse(body: bytes) -> RailWebhook:
    try:
        event = json.loads(body)
        obj = event["data"]["object"]
        event_id, event_type, external_id = str(event["id"]), str(event["type"]), str(obj["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError("Not a Stripe event.") from exc
    error = obj.get("last_payment_error") or {}
    return RailWebhook(
        event_id=event_id,
        event_type=event_type,
        external_id=external_id,
        attempt_id=(obj.get("metadata") or {}).get("agentpay_attempt_id"),
        status=_STATUS.get(event_type, "processing"),
        failure_reason=str(error.get("message") or error.get("code") or ""),
    )
