"""Wise sandbox client: transfers answered with ``transfers#state-change`` v2
events (``outgoing_payment_sent`` / ``bounced_back`` / ``cancelled``). Wise
signs with RSA (``X-Signature-SHA256``); the sandbox uses the shared HMAC
scheme instead, and the real client will verify Wise's public key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from apps.payments.rails.sandbox import SandboxClient


class WiseSandboxClient(SandboxClient):
    id_prefix = "wise_"
    signature_header = "X-Signature-SHA256"

    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {
            "data": {
                "resource": {
                    "id": state["id"],
                    "type": "transfer",
                    "customer_transaction_id": state["reference"],
                },
                "current_state": "outgoing_payment_sent"
                if state["status"] == "succeeded"
                else "bounced_back",
                "previous_state": "processing",
                "occurred_at": now,
            },
            "subscription_id": "sandbox",
            "event_type": "transfers#state-change",
            "schema_version": "2.0.0",
            "sent_at": now,
            "delivery_id": str(uuid.uuid4()),
        }
