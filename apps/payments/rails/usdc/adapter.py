from __future__ import annotations

from apps.payments.rails.base import RailWebhook
from apps.payments.rails.sandbox import SandboxRailAdapter
from apps.payments.rails.usdc.client import UsdcSandboxClient
from apps.payments.rails.usdc.webhooks import usdc_webhook_parse


class UsdcAdapter(SandboxRailAdapter):
    """USDC on-chain transfer with local off-ramp: minutes, needs full KYC."""

    provider = "usdc"
    client_class = UsdcSandboxClient

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        return usdc_webhook_parse(body)
