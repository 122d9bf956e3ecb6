from __future__ import annotations

import json

from apps.payments.rails.base import RailWebhook, WebhookVerificationError
from apps.payments.rails.sandbox import webhook_rail_status


def payto_webhook_parse(body: bytes) -> RailWebhook:
    try:
        event = json.loads(body)
        event_id, external_id, status = str(event["event_id"]), str(event["payment_id"]), str(event["status"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError("Not a PayTo event.") from exc
    return RailWebhook(
        event_id=event_id,
        event_type=str(event.get("type", "")),
        external_id=external_id,
        attempt_id=event.get("reference"),
        status=webhook_rail_status(status, succeeded={"SETTLED"}, failed={"FAILED", "REJECTED"}),
        failure_reason=str(event.get("reason", "")),
    )
