from __future__ import annotations

import json
import uuid

from apps.payments.rails.base import RailWebhook, WebhookVerificationError
from apps.payments.rails.sandbox import webhook_rail_status


def pix_webhook_parse(body: bytes) -> RailWebhook:
    try:
        item = json.loads(body)["pix"][0]
        txid = str(item["txid"])
        external_id = str(item["endToEndId"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise WebhookVerificationError("Not a Pix webhook payload.") from exc
    status = webhook_rail_status(
        item.get("status", "CONCLUIDA"), succeeded={"CONCLUIDA"}, failed={"NAO_REALIZADA"}
    )
    attempt_id = str(uuid.UUID(txid)) if len(txid) == 32 else None
    return RailWebhook(
        event_id=f"{external_id}:{status}",
        event_type=f"pix.{status}",
        external_id=external_id,
        attempt_id=attempt_id,
        status=status,
        failure_reason=str(item.get("motivo", "")),
    )
