from __future__ import annotations

import json

from apps.payments.rails.base import RailWebhook, WebhookVerificationError
from apps.payments.rails.sandbox import webhook_rail_status


def sepa_webhook_parse(body: bytes) -> RailWebhook:
    try:
        event = json.loads(body)
        event_id, external_id, status = (
            str(event["event_id"]),
            str(event["transaction_id"]),
            str(event["status"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError("Not a SEPA status report.") from exc
    return RailWebhook(
        event_id=event_id,
        event_type=str(event.get("type", "pacs.002")),
        external_id=external_id,
        attempt_id=event.get("end_to_end_id"),
        status=webhook_rail_status(status, succeeded={"ACSC", "ACCC"}, failed={"RJCT"}),
        failure_reason=str(event.get("reason_code", "")),
    )
