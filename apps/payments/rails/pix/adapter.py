from __future__ import annotations

from typing import Any

from apps.payments.rails.base import RailWebhook
from apps.payments.rails.pix.brcode import brcode_build
from apps.payments.rails.pix.client import PixSandboxClient
from apps.payments.rails.pix.webhooks import pix_webhook_parse
from apps.payments.rails.sandbox import SandboxRailAdapter


class PixAdapter(SandboxRailAdapter):
    """PIX (Banco Central do Brasil): instant BRL, 24x7, QR "copia e cola"."""

    provider = "pix"
    client_class = PixSandboxClient

    def initiate_extra(self, *, payment: Any, attempt: Any) -> dict[str, Any]:
        return {"pix_key": (payment.payee_identifiers or {}).get("pix_key", "")}

    def initiate_metadata(self, *, payment: Any, attempt: Any, state: dict[str, Any]) -> dict[str, Any]:
        key = (payment.payee_identifiers or {}).get("pix_key") or str(payment.organization_id)
        emv = brcode_build(
            pix_key=key,
            merchant_name=payment.payee_name or payment.payee_ref or "Recebedor",
            merchant_city=str((payment.metadata or {}).get("payee_city") or "SAO PAULO"),
            amount=payment.amount.amount,
            txid=attempt.id.hex[:25],
            single_use=True,
        )
        return {"pix": {"emv": emv, "end_to_end_id": state["id"], "txid": attempt.id.hex[:25]}}

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        return pix_webhook_parse(body)
