"""Fixtures of the web chat / live feed / agents tests (Part B), imported by those modules.

``services_double_install`` stands in for Part A's
``apps.conversations.services.message_receive`` / ``conversation_action``
(contract: issue 6, payload in ``apps/conversations/platforms/webchat.py``)
wherever a test only needs the web chat side.
"""

from __future__ import annotations

import importlib
import sys
import types
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

ORIGIN = (b"origin", b"http://testserver")


async def acreate(factory: Any, **kwargs: Any) -> Any:
    """Create a model with a factory from async test code."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(factory)(**kwargs)


def asgi_application() -> Any:
    from agentpay.asgi import application

    return application


@asynccontextmanager
async def ws_open(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> AsyncIterator[Any]:
    """A connected ``WebsocketCommunicator`` on the real ASGI stack (origin check, auth, routing)."""
    communicator = WebsocketCommunicator(asgi_application(), path, headers=[ORIGIN, *(headers or [])])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def logged_in(user: Any) -> tuple[Any, tuple[bytes, bytes]]:
    """A test client logged in as ``user`` and the ``cookie`` header carrying its session."""
    from asgiref.sync import sync_to_async
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    return client, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def close_code(communicator: Any) -> int | None:
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output.get("code")


def publish(*, event_type: str, data: dict[str, Any], groups: list[str]) -> None:
    """Publish like a service does: inside a transaction, delivered on commit."""
    from django.db import transaction

    from apps.core.events import event_publish

    with transaction.atomic():
        event_publish(event_type=event_type, data=data, groups=groups)


class ServicesDouble:
    """Records calls and answers like Part A's services: store, then broadcast a ``reply``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []

    def message_receive(self, **kwargs: Any) -> Any:
        from django.db import transaction

        from apps.conversations.models import Conversation, ConversationMessage
        from apps.core.events import conversation_group, event_publish

        self.received.append(kwargs)
        with transaction.atomic():
            conversation, _ = Conversation.objects.get_or_create(
                organization=kwargs["organization"],
                platform=kwargs["platform"],
                external_conversation_id=kwargs["external_conversation_id"],
            )
            message = ConversationMessage.objects.create(
                conversation=conversation,
                sender_id=kwargs["sender_id"],
                message_text=kwargs["text"],
                platform_message_id=kwargs.get("platform_message_id", ""),
            )
            event_publish(
                event_type="reply",
                data={
                    "message_id": str(uuid.uuid4()),
                    "conversation_id": str(conversation.pk),
                    "text": "Pay R$ 30.00 to Ana via PIX?",
                    "components": [
                        {"type": "text", "text": "Pay R$ 30.00 to Ana via PIX?"},
                        {
                            "type": "buttons",
                            "buttons": [
                                {
                                    "label": "Confirm",
                                    "action": "confirm",
                                    "token": "confirm:run1:",
                                    "style": "primary",
                                },
                                {
                                    "label": "Cancel",
                                    "action": "cancel",
                                    "token": "cancel:run1:",
                                    "style": "danger",
                                },
                            ],
                        },
                    ],
                    "replaces": None,
                },
                groups=[conversation_group(conversation.pk)],
            )
        return message

    def conversation_action(
        self, *, conversation: Any, sender_id: str, action: str, payload: dict[str, Any]
    ) -> None:
        from django.db import transaction

        from apps.core.events import conversation_group, event_publish

        self.actions.append(
            {"conversation": conversation, "sender_id": sender_id, "action": action, **payload}
        )
        with transaction.atomic():
            event_publish(
                event_type="reply",
                data={
                    "message_id": str(uuid.uuid4()),
                    "conversation_id": str(conversation.pk),
                    "text": "Scan to pay",
                    "components": [
                        {"type": "qr", "format": "pix_emv", "data": "00020126580014br.gov.bcb.pix"}
                    ],
                    "replaces": None,
                },
                groups=[conversation_group(conversation.pk)],
            )


def module_double(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> types.ModuleType:
    """Set ``attributes`` on module ``name`` for one test, creating the module if it does not exist yet
    (another engineer's contract that has not landed)."""
    try:
        module = importlib.import_module(name)
    except Exception:
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        parent_name, _, child = name.rpartition(".")
        monkeypatch.setattr(importlib.import_module(parent_name), child, module, raising=False)
    for attribute, value in attributes.items():
        monkeypatch.setattr(module, attribute, value, raising=False)
    return module


def services_double_install(monkeypatch: pytest.MonkeyPatch) -> ServicesDouble:
    """Patch Part A's services with a ``ServicesDouble`` (call from a fixture of the test module)."""
    double = ServicesDouble()
    module_double(
        monkeypatch,
        "apps.conversations.services",
        message_receive=double.message_receive,
        conversation_action=double.conversation_action,
    )
    return double


class IntentResultDouble:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getattr__(self, name: str) -> Any:
        # ``intent``, ``confidence``, ``tier``, ``language``... like the engine's result
        if name != "data" and name in self.data:
            return self.data[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


class DecisionDouble(IntentResultDouble):
    pass


class AgentBackendDouble:
    """Stands in for ``message_analyze`` (contract 1), ``payment_quote`` and ``payment_orchestrate`` (contract 2).

    ``payment_orchestrate`` stores a real ``OrchestrationPayment`` (status created, PIX EMV in metadata)
    and, like the real one, returns the first payment again for a repeated idempotency key.
    """

    def __init__(self) -> None:
        self.analyzed: list[dict[str, Any]] = []
        self.quoted: list[Any] = []
        self.orchestrated: list[dict[str, Any]] = []
        self.by_key: dict[tuple[Any, str], Any] = {}
        self.contexts: list[dict[str, Any]] = []

    def message_analyze(self, text: str, **kwargs: Any) -> IntentResultDouble:
        self.analyzed.append({"text": text, **kwargs})
        return IntentResultDouble(
            {
                "intent": "send_payment",
                "confidence": 0.93,
                "tier": "rules",
                "language": "pt",
                "amounts": [
                    {
                        "value": "30",
                        "currency": "BRL",
                        "role": "amount",
                        "start": 8,
                        "end": 16,
                        "text": "R$ 30",
                    }
                ],
                "rail_hint": "pix",
            }
        )

    def payment_quote(self, *, organization: Any, request: Any, preferences: Any = None) -> DecisionDouble:
        self.quoted.append(request)
        return DecisionDouble(
            {
                "selected": {"rail": "pix", "score": 0.91, "fee_total": "0.00", "currency": request.currency},
                "alternatives": [{"rail": "stripe", "score": 0.4, "fee_total": "1.17"}],
                "explanation": "PIX is instant and free in Brazil.",
            }
        )

    def context_update(self, context: dict[str, Any], result: Any, *, now: Any) -> dict[str, Any]:
        self.contexts.append(dict(context))
        return {
            **context,
            "turns": int(context.get("turns", 0)) + 1,
            "last_intent": result.to_dict()["intent"],
        }

    def payment_orchestrate(self, *, organization: Any, actor: Any, request: Any, **kwargs: Any) -> Any:
        from djmoney.money import Money

        from apps.payments.models import OrchestrationPayment

        # like the real one: one payment per organisation and idempotency key
        key = (organization.pk, kwargs.get("idempotency_key") or "")
        if key[1] and key in self.by_key:
            return self.by_key[key]
        self.orchestrated.append({"request": request, "actor": actor, **kwargs})
        payment = OrchestrationPayment.objects.create(
            organization=organization,
            conversation=kwargs.get("conversation"),
            conversation_message=kwargs.get("conversation_message"),
            idempotency_key=key[1],
            amount=Money(request.amount, request.currency),  # type: ignore[misc]
            from_country=request.payer_country,
            to_country=request.payee_country,
            payee_name=request.payee_name,
            payee_identifiers=request.payee_identifiers,
            selected_rail=request.preferred_rail or "pix",
            metadata={"pix": {"emv": "00020126580014br.gov.bcb.pix6304ABCD"}},
        )
        self.by_key[key] = payment
        return payment


def agent_backend_install(monkeypatch: pytest.MonkeyPatch) -> AgentBackendDouble:
    double = AgentBackendDouble()
    module_double(
        monkeypatch,
        "apps.intent.services",
        message_analyze=double.message_analyze,
        context_update=double.context_update,
    )
    module_double(
        monkeypatch,
        "apps.payments.services",
        payment_quote=double.payment_quote,
        payment_orchestrate=double.payment_orchestrate,
    )
    return double


# --- live ASGI server + headless Chromium (browser tests) ----------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveAsgiServer:
    """The project's ASGI app (HTTP + WebSockets) served by uvicorn in a thread on 127.0.0.1."""

    def __init__(self) -> None:
        import threading

        import uvicorn
        from django.core.handlers.asgi import ASGIHandler

        from agentpay.asgi import application_build

        # A fresh Django handler, so WhiteNoise picks up WHITENOISE_USE_FINDERS (no collectstatic).
        app = application_build(ASGIHandler())
        self.loop: Any = None

        async def remember_loop(scope: Any, receive: Any, send: Any) -> None:
            import asyncio

            self.loop = asyncio.get_running_loop()
            await app(scope, receive, send)

        config = uvicorn.Config(
            remember_loop,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-asgi", daemon=True)

    def start(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live ASGI server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def publish(self, **kwargs: Any) -> None:
        """``publish(...)`` as the server's own code would: from a worker thread of its event loop."""
        import asyncio

        from asgiref.sync import sync_to_async

        assert self.loop is not None, "no request served yet"
        asyncio.run_coroutine_threadsafe(sync_to_async(publish)(**kwargs), self.loop).result(10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def live_asgi_server_run(settings: Any) -> Any:
    """Start a ``LiveAsgiServer``; returns (server, base_url). Needs ``transactional_db``."""
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    server = LiveAsgiServer()
    return server, server.start()


def chromium_launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
