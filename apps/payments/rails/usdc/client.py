"""USDC sandbox client: Circle-style ``transfers`` notifications
(``notification.state`` complete / failed). Circle signs with ECDSA
(``X-Circle-Signature``); the sandbox uses the shared HMAC scheme."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from apps.payments.rails.sandbox import SandboxClient


class UsdcSandboxClient(SandboxClient):
    id_prefix = "usdc_"
    signature_header = "X-Circle-Signature"

    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        ok = state["status"] == "succeeded"
        return {
            "subscriptionId": "sandbox",
            "notificationId": str(uuid.uuid4()),
            "version": 2,
            "notificationType": "transfers",
            "notification": {
                "id": state["id"],
                "idempotencyKey": state["idempotency_key"],
                "state": "complete" if ok else "failed",
                "amount": {"amount": state["amount"], "currency": "USD"},
                "transactionHash": "0x" + secrets.token_hex(32) if ok else None,
                "errorCode": None if ok else "transfer_failed",
            },
        }
