"""PIX sandbox client. The payload shape follows the BCB "API Pix" webhook
(``{"pix": [{"endToEndId", "txid", "valor", "horario"}]}``); the real PSP
client (mTLS + OAuth2) plugs in here later."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apps.payments.rails.sandbox import SandboxClient


class PixSandboxClient(SandboxClient):
    id_prefix = "E"
    signature_header = "X-Pix-Signature"

    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {
            "endToEndId": state["id"],
            "txid": state["reference"].replace("-", "")[:35],
            "valor": f"{float(state['amount']):.2f}",
            "horario": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "status": "CONCLUIDA" if state["status"] == "succeeded" else "NAO_REALIZADA",
        }
        if state["status"] == "failed":
            item["motivo"] = state.get("failure_reason", "")
        return {"pix": [item]}
