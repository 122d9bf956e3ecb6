"""SEPA sandbox client (SCT and SCT Inst). Status reports mirror an ISO 20022
pacs.002 in JSON: ``ACSC`` settled, ``RJCT`` rejected with a reason code."""

from __future__ import annotations

import uuid
from typing import Any

from apps.payments.rails.sandbox import SandboxClient


class SepaSandboxClient(SandboxClient):
    id_prefix = "sepa_"
    signature_header = "X-Sepa-Signature"

    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        ok = state["status"] == "succeeded"
        return {
            "event_id": str(uuid.uuid4()),
            "type": "pacs.002",
            "scheme": "SCT_INST" if self.rail == "sepa_instant" else "SCT",
            "transaction_id": state["id"],
            "end_to_end_id": state["reference"],
            "status": "ACSC" if ok else "RJCT",
            "reason_code": "" if ok else "AM04",
        }
