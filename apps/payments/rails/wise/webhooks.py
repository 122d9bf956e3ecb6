from __future__ import annotations

import json

from apps.payments.rails.base import RailWebhook, WebhookVerificationError
from apps.payments.rails.sandbox import webhook_rail_status


def wise_webhook_parse(body: bytes) -> RailWebhook:
    try:
        event = json.loads(body)
        data = event["data"]
        resource = data["resource"]
        state = str(data["current_state"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError("Not a Wise transfer state-change event.") from exc
    return RailWebhook(
        event_id=str(event.get("delivery_id") or f"{resource['id']}:{state}"),
        event_type=str(event.get("event_type", "")),
        external_id=str(resource["id"]),
        attempt_id=resource.get("customer_transaction_id"),
        status=webhook_rail_status(
            state,
            succeeded={"outgoing_payment_sent"},
            failed={"bounced_back", "cancelled", "funds_refunded", "charged_back"},
        ),
        failure_reason=state if state != "outgoing_payment_sent" else "",
    )
