"""PayTo (Australia's NPP) sandbox client: payment-initiation status events."""

from __future__ import annotations

import uuid
from typing import Any

from apps.payments.rails.sandbox import SandboxClient


class PayToSandboxClient(SandboxClient):
    id_prefix = "npp_"
    signature_header = "X-PayTo-Signature"

    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        ok = state["status"] == "succeeded"
        return {
            "event_id": str(uuid.uuid4()),
            "type": "payment.settled" if ok else "payment.failed",
            "payment_id": state["id"],
            "reference": state["reference"],
            "status": "SETTLED" if ok else "FAILED",
            "reason": "" if ok else state.get("failure_reason", ""),
        }
