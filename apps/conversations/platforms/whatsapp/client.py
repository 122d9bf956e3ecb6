"""WhatsApp Cloud API client (httpx): send messages and upload QR images."""

from __future__ import annotations

from typing import Any

import httpx

from apps.conversations.platforms.base import SendError, http_send_error, platform_http, qr_png


class WhatsAppClient:
    def __init__(
        self, *, access_token: str, phone_number_id: str, base_url: str, timeout: float = 10.0
    ) -> None:
        self.phone_number_id = phone_number_id
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._http = platform_http(timeout=timeout)

    def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = self._http.post(f"{self.base_url}{path}", headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise SendError(f"WhatsApp unreachable: {exc}", transient=True) from exc
        if resp.status_code >= 400:
            raise http_send_error(resp.status_code, resp.text)
        return dict(resp.json())

    def media_upload_png(self, data: bytes) -> str:
        result = self._post(
            f"/{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": "image/png"},
            files={"file": ("qr.png", data, "image/png")},
        )
        return str(result["id"])

    def message_send(self, message: dict[str, Any]) -> str:
        """POST one message; returns its ``wamid``."""
        if message.get("type") == "image" and "qr" in message.get("image", {}):
            media_id = self.media_upload_png(qr_png(message["image"]["qr"]))
            message = {**message, "image": {"id": media_id, "caption": message["image"].get("caption", "")}}
        result = self._post(f"/{self.phone_number_id}/messages", json=message)
        return str((result.get("messages") or [{}])[0].get("id", ""))

    def close(self) -> None:
        """Nothing to release: the connections belong to the process's shared client."""
