from __future__ import annotations

from apps.payments.rails.base import RailWebhook
from apps.payments.rails.sandbox import SandboxRailAdapter
from apps.payments.rails.wise.client import WiseSandboxClient
from apps.payments.rails.wise.webhooks import wise_webhook_parse


class WiseAdapter(SandboxRailAdapter):
    """Wise: cross-border transfers at the mid-market rate with a transparent fee."""

    provider = "wise"
    client_class = WiseSandboxClient

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        return wise_webhook_parse(body)
