"""Stripe sandbox client: PaymentIntents answered with Stripe-format events
(``payment_intent.succeeded`` / ``payment_intent.payment_failed``), signed with
Stripe's ``Stripe-Signature: t=..,v1=..`` scheme. The real client (the
``stripe`` SDK with an ``idempotency_key`` per attempt) plugs in here."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from apps.payments.constants import minor_units
from apps.payments.rails.sandbox import SandboxClient


class StripeSandboxClient(SandboxClient):
    id_prefix = "pi_"
    signature_header = "Stripe-Signature"

    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        ok = state["status"] == "succeeded"
        amount_minor = int(Decimal(state["amount"]).scaleb(minor_units(state["currency"])))
        intent: dict[str, Any] = {
            "id": state["id"],
            "object": "payment_intent",
            "amount": amount_minor,
            "currency": state["currency"].lower(),
            "status": "succeeded" if ok else "requires_payment_method",
            "metadata": {"agentpay_attempt_id": state["reference"]},
            "last_payment_error": None
            if ok
            else {"code": "card_declined", "message": state["failure_reason"]},
        }
        return {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": "payment_intent.succeeded" if ok else "payment_intent.payment_failed",
            "data": {"object": intent},
        }
