"""Telegram Bot API client (httpx)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from apps.conversations.platforms.base import SendError, http_send_error, platform_http, qr_png


class TelegramClient:
    def __init__(self, *, bot_token: str, base_url: str, timeout: float = 10.0) -> None:
        self._base = f"{base_url.rstrip('/')}/bot{bot_token}"
        self._http = platform_http(timeout=timeout)

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call a Bot API method; returns ``result``. ``sendPhoto`` params may carry ``qr`` (sent as PNG)."""
        try:
            if "qr" in params:
                fields = {
                    k: (json.dumps(v) if isinstance(v, dict) else str(v))
                    for k, v in params.items()
                    if k != "qr"
                }
                resp = self._http.post(
                    f"{self._base}/{method}",
                    data=fields,
                    files={"photo": ("qr.png", qr_png(params["qr"]), "image/png")},
                )
            else:
                resp = self._http.post(f"{self._base}/{method}", json=params)
        except httpx.HTTPError as exc:
            raise SendError(f"Telegram unreachable: {exc}", transient=True) from exc
        if resp.status_code >= 400:
            raise http_send_error(resp.status_code, resp.text)
        body = resp.json()
        if not body.get("ok"):
            raise SendError(f"Telegram error: {body.get('description')}", transient=False)
        result = body.get("result")
        return result if isinstance(result, dict) else {"value": result}

    def close(self) -> None:
        """Nothing to release: the connections belong to the process's shared client."""
