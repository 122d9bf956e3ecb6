"""Slack Web API through slack_sdk's WebClient (``base_url`` is configurable for local fakes)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from apps.conversations.platforms.base import SendError


class SlackClient:
    def __init__(self, *, bot_token: str, base_url: str, timeout: int = 10) -> None:
        self._client = WebClient(token=bot_token, base_url=base_url, timeout=timeout)

    def post(self, *, channel: str, text: str, blocks: list[dict[str, Any]], update_ts: str = "") -> str:
        """``chat.postMessage``, or ``chat.update`` of ``update_ts`` (in-place update); returns the ts."""
        try:
            if update_ts:
                resp = self._client.chat_update(channel=channel, ts=update_ts, text=text, blocks=blocks)
            else:
                resp = self._client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            error = exc.response.get("error") if exc.response is not None else str(exc)
            raise SendError(f"Slack error: {error}", transient=status == 429 or status >= 500) from exc
        except (SlackClientError, OSError) as exc:
            raise SendError(f"Slack unreachable: {exc}", transient=True) from exc
        return str(resp.get("ts", ""))
