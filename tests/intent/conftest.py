from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

NOW = datetime.fromisoformat("2026-03-10T12:00:00-03:00")  # a Tuesday, São Paulo


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(autouse=True)
def _intent_isolation(settings: Any) -> Iterator[None]:
    """Tier assertions must not see another test's cached answer (CI shares one Redis across workers)."""
    from apps.intent.engine import llm

    settings.INTENT_CACHE_ENABLED = False
    settings.INTENT_LLM_BASE_URL = ""
    settings.INTENT_LLM_API_KEY = ""
    llm.breaker.failures, llm.breaker.opened_at = 0, None
    yield
    llm.breaker.failures, llm.breaker.opened_at = 0, None


class FakeLLM:
    """A local OpenAI-compatible /v1/chat/completions server; tests set what it answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: dict[str, Any] = {"intent": "send_payment", "confidence": 0.77}
        self.status = 200
        self.delay = 0.0
        self.raw_content: str | None = None
        self.total_tokens = 150
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if fake.delay:
                    threading.Event().wait(fake.delay)
                content = fake.raw_content if fake.raw_content is not None else json.dumps(fake.answer)
                payload = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 120,
                        "completion_tokens": 30,
                        "total_tokens": fake.total_tokens,
                    },
                }
                data = json.dumps(payload).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_llm(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    import uuid

    from apps.intent.engine import llm

    server = FakeLLM()
    settings.INTENT_LLM_BASE_URL = server.url
    settings.INTENT_LLM_API_KEY = "sk-test"
    settings.INTENT_LLM_TIMEOUT = 0.5
    settings.INTENT_LLM_THRESHOLD = 0.99  # send every model decision to the LLM
    key = f"intent:llm:test:{uuid.uuid4().hex}"
    monkeypatch.setattr(llm, "_cost_key", lambda: key)
    yield server
    server.close()
