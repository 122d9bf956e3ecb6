from __future__ import annotations

from apps.payments.rails.base import RailWebhook
from apps.payments.rails.sandbox import SandboxRailAdapter
from apps.payments.rails.sepa.client import SepaSandboxClient
from apps.payments.rails.sepa.webhooks import sepa_webhook_parse


class SepaAdapter(SandboxRailAdapter):
    """SEPA Credit Transfer (next business day) and SCT Inst (seconds); one provider, two rail options."""

    provider = "sepa"
    client_class = SepaSandboxClient

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        return sepa_webhook_parse(body)
