from __future__ import annotations

import json

from apps.payments.rails.base import RailWebhook, WebhookVerificationError
from apps.payments.rails.sandbox import webhook_rail_status


def usdc_webhook_parse(body: bytes) -> RailWebhook:
    try:
        event = json.loads(body)
        note = event["notification"]
        event_id, external_id, state = str(event["notificationId"]), str(note["id"]), str(note["state"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError("Not a Circle transfers notification.") from exc
    return RailWebhook(
        event_id=event_id,
        event_type=f"transfers.{state}",
        external_id=external_id,
        attempt_id=note.get("idempotencyKey"),
        status=webhook_rail_status(state, succeeded={"complete"}, failed={"failed"}),
        failure_reason=str(note.get("errorCode") or ""),
    )
