from __future__ import annotations

from apps.payments.rails.base import RailWebhook
from apps.payments.rails.payto.client import PayToSandboxClient
from apps.payments.rails.payto.webhooks import payto_webhook_parse
from apps.payments.rails.sandbox import SandboxRailAdapter


class PayToAdapter(SandboxRailAdapter):
    """PayTo: real-time AUD account-to-account payments over the NPP."""

    provider = "payto"
    client_class = PayToSandboxClient

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        return payto_webhook_parse(body)
