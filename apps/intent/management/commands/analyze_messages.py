from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand

from apps.intent import services
from apps.intent.exceptions import InvalidText


class Command(BaseCommand):
    help = (
        'Bulk analysis: JSON Lines on stdin ({"text", "language"?, "now"?, "context"?}) → one JSON result '
        'per line on stdout. A bad line gives {"line": n, "error": {"code", "message"}} and the run goes on.'
    )

    stealth_options = ("stdin",)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--organization-currency", default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        stdin = opts.get("stdin") or sys.stdin
        out = self.stdout
        ok = failed = 0
        for n, raw in enumerate(stdin, start=1):
            if not raw.strip():
                continue
            try:
                out.write(json.dumps(self._one(raw, opts), ensure_ascii=False))
                ok += 1
            except _LineError as exc:
                out.write(
                    json.dumps(
                        {"line": n, "error": {"code": exc.code, "message": exc.message}}, ensure_ascii=False
                    )
                )
                failed += 1
        self.stderr.write(f"analysed {ok} messages, {failed} bad lines")

    def _one(self, raw: str, opts: dict[str, Any]) -> dict[str, Any]:
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _LineError("invalid_json", f"Not JSON: {exc.msg}") from exc
        if not isinstance(item, dict):
            raise _LineError("invalid_line", "Each line must be a JSON object.")
        text = item.get("text")
        if not isinstance(text, str):
            raise _LineError("missing_text", '"text" must be a string.')
        language = item.get("language")
        if language is not None and not isinstance(language, str):
            raise _LineError("invalid_language", '"language" must be a string.')
        now = None
        if item.get("now") is not None:
            try:
                now = datetime.fromisoformat(str(item["now"]))
            except ValueError as exc:
                raise _LineError("invalid_now", '"now" must be an ISO 8601 datetime.') from exc
        context = item.get("context")
        if context is not None and not isinstance(context, dict):
            raise _LineError("invalid_context", '"context" must be an object.')
        try:
            services.text_validate(text)
        except InvalidText as exc:
            raise _LineError(exc.code, exc.message) from exc
        result = services.message_analyze(
            text,
            language=language,
            context=context,
            now=now,
            organization_currency=opts["organization_currency"],
        )
        body = result.to_dict()
        if "id" in item:
            body = {"id": item["id"], **body}
        return body


class _LineError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
