"""MCP server, exercised with the official SDK's own client (in-process and over streamable HTTP)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from apps.conversations.mcp.server import mcp_server_build
from tests.conversations.conftest_b import AgentBackendDouble, acreate, agent_backend_install
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TOOLS = {"analyze_message", "quote_payment", "create_payment", "get_payment", "list_payments"}


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> AgentBackendDouble:
    return agent_backend_install(monkeypatch)


async def new_key(scopes: list[str], **limits: Any) -> tuple[Any, str]:
    from apps.core.services import api_key_create

    org = await acreate(OrganizationFactory, default_currency="BRL", country="BR")
    from asgiref.sync import sync_to_async

    return await sync_to_async(api_key_create)(organization=org, name="agent", scopes=scopes, **limits)


def error_body(result: Any) -> dict[str, Any]:
    # the SDK prefixes a tool error with "Error executing tool <name>: "; the rest is our error body
    assert result.is_error
    text = result.content[0].text
    return dict(json.loads(text[text.index("{") :]))


async def test_lists_the_five_tools_with_schemas(backend: AgentBackendDouble) -> None:
    _, raw = await new_key(["admin"])
    async with Client(mcp_server_build(stdio_api_key=raw)) as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    create = next(t for t in tools if t.name == "create_payment")
    assert {"amount", "currency", "idempotency_key"} <= set(create.input_schema["required"])


async def test_analyze_message_returns_structured_intent(backend: AgentBackendDouble) -> None:
    _, raw = await new_key(["intent"])
    async with Client(mcp_server_build(stdio_api_key=raw)) as client:
        result = await client.call_tool("analyze_message", {"text": "paga a ana R$ 30 via pix"})
    assert not result.is_error
    assert result.structured_content["intent"] == "send_payment"
    assert result.structured_content["confidence"] == 0.93
    assert backend.analyzed[0]["text"] == "paga a ana R$ 30 via pix"


async def test_create_payment_is_idempotent_and_readable(backend: AgentBackendDouble) -> None:
    _, raw = await new_key(["payments:write"])
    args = {"amount": "30.00", "currency": "BRL", "idempotency_key": "mcp-1", "payee_name": "Ana"}
    async with Client(mcp_server_build(stdio_api_key=raw)) as client:
        first = await client.call_tool("create_payment", args)
        again = await client.call_tool("create_payment", args)
        fetched = await client.call_tool("get_payment", {"payment_id": first.structured_content["id"]})
        listed = await client.call_tool("list_payments", {"limit": 5})
    assert first.structured_content["id"] == again.structured_content["id"]
    assert len(backend.orchestrated) == 1
    assert backend.orchestrated[0]["request"].amount == Decimal("30.00")
    assert fetched.structured_content["pix_emv"].startswith("000201")
    assert [p["id"] for p in listed.structured_content["payments"]] == [first.structured_content["id"]]


async def test_create_payment_enforces_scope_and_spending_limit(backend: AgentBackendDouble) -> None:
    _, read_only = await new_key(["read"])
    _, limited = await new_key(["payments:write"], spending_limit_per_payment=Decimal("10"))
    args = {"amount": "30.00", "currency": "BRL", "idempotency_key": "mcp-2"}
    async with Client(mcp_server_build(stdio_api_key=read_only)) as client:
        refused = await client.call_tool("create_payment", args)
    async with Client(mcp_server_build(stdio_api_key=limited)) as client:
        too_big = await client.call_tool("create_payment", args)
        bad_amount = await client.call_tool("create_payment", {**args, "amount": "thirty"})
    assert error_body(refused)["code"] == "scope_required"
    assert error_body(too_big)["code"] == "spending_limit_exceeded"
    assert error_body(bad_amount)["code"] == "invalid_amount"
    assert backend.orchestrated == []


async def test_revoked_key_gets_an_authentication_error(backend: AgentBackendDouble) -> None:
    from asgiref.sync import sync_to_async

    from apps.core.services import api_key_revoke

    key, raw = await new_key(["admin"])
    await sync_to_async(api_key_revoke)(api_key=key)
    async with Client(mcp_server_build(stdio_api_key=raw)) as client:
        result = await client.call_tool("list_payments", {})
    assert error_body(result)["code"] == "authentication_failed"


def http_client(
    headers: dict[str, str], *, base_url: str = "http://testserver", statuses: list[int] | None = None
) -> httpx2.AsyncClient:
    """An HTTP client on the project's ASGI application; ``statuses`` records each answer's status."""
    from agentpay.asgi import application

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=application),
        base_url=base_url,
        headers=headers,
        event_hooks={"response": [record]},
    )


LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


def throttle_rates(settings: Any, **rates: str) -> None:
    framework = dict(settings.REST_FRAMEWORK)
    framework["DEFAULT_THROTTLE_RATES"] = {**framework["DEFAULT_THROTTLE_RATES"], **rates}
    settings.REST_FRAMEWORK = framework


async def test_http_mount_refuses_requests_without_a_valid_key() -> None:
    async with http_client({}) as http:
        missing = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    async with http_client({"X-Api-Key": "nope.nope"}) as http:
        invalid = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert missing.status_code == 401
    assert missing.json()["code"] == "authentication_failed"
    assert invalid.status_code == 401


async def test_http_mount_serves_the_tools_to_the_sdk_client(backend: AgentBackendDouble) -> None:
    key, raw = await new_key(["payments:write", "intent"])
    # a client-supplied key id header must not impersonate another key
    http = http_client({"X-Api-Key": raw, "X-AgentPay-Api-Key-Id": "999"})
    async with http, Client(streamable_http_client("http://testserver/mcp", http_client=http)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        created = await client.call_tool(
            "create_payment", {"amount": "12.00", "currency": "BRL", "idempotency_key": "http-1"}
        )
    assert tools == TOOLS
    assert not created.is_error, created.content
    assert backend.orchestrated[0]["actor"].api_key.pk == key.pk


async def test_django_still_serves_the_rest_of_the_site() -> None:
    async with http_client({}) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200


async def test_two_keys_using_one_idempotency_key_get_their_own_payments(backend: AgentBackendDouble) -> None:
    _, first_key = await new_key(["payments:write"])
    _, second_key = await new_key(["payments:write"])
    args = {"amount": "30.00", "currency": "BRL", "idempotency_key": "shared-1"}
    async with Client(mcp_server_build(stdio_api_key=first_key)) as client:
        first = await client.call_tool("create_payment", args)
    async with Client(mcp_server_build(stdio_api_key=second_key)) as client:
        second = await client.call_tool("create_payment", args)
    assert first.structured_content["id"] != second.structured_content["id"]
    assert len(backend.orchestrated) == 2


async def test_an_agent_pays_by_pix_from_first_message_to_payment_received(sandbox: Any) -> None:
    """The real intent engine, payments (PIX sandbox) and compliance, through the SDK's client."""
    from asgiref.sync import sync_to_async

    from apps.conversations.models import Conversation

    key, raw = await new_key(["intent", "payments:write", "read"])
    async with Client(mcp_server_build(stdio_api_key=raw)) as client:
        # the agent first asks what its user's message means
        analysed = await client.call_tool(
            "analyze_message", {"text": "pay ana R$ 30 via pix", "session_id": "chat-1", "language": "en"}
        )
        understood = analysed.structured_content
        assert understood["intent"] == "send_payment"
        # then, once its user confirmed, pays
        created = await client.call_tool(
            "create_payment",
            {
                "amount": "30.00",
                "currency": "BRL",
                "payee_name": "Ana",
                "payee_identifiers": {"pix_key": "ana@example.com"},
                "preferred_rail": "pix",
                "idempotency_key": "chat-1-pay-ana",
                "session_id": "chat-1",
            },
        )
        assert not created.is_error, created.content
        fetched = await client.call_tool("get_payment", {"payment_id": created.structured_content["id"]})
    payment = fetched.structured_content
    assert payment["status"] == "succeeded" and payment["selected_rail"] == "pix"
    assert payment["conversation"] == understood["conversation_id"]

    @sync_to_async
    def conversation_log() -> tuple[list[str], list[str]]:
        conversation = Conversation.objects.get(pk=understood["conversation_id"])
        assert conversation.external_conversation_id == f"apikey:{key.prefix}:chat-1"
        inbound = list(conversation.messages.filter(direction="inbound").order_by("created_at"))
        replies = list(conversation.outbound_messages.order_by("created_at"))
        return [m.message_text for m in inbound], [o.text for o in replies]

    inbound, replies = await conversation_log()
    assert inbound == ["pay ana R$ 30 via pix", "[create_payment] R$ 30.00 to Ana"]
    # (eager tasks settle the sandbox inside the initiation's own commit, so the order may swap)
    assert sorted(replies) == [
        "Pay R$ 30.00 with PIX: scan the QR code or copy the code below.",
        "Payment received ✓ R$ 30.00 to Ana.",
    ]


async def test_a_host_outside_allowed_hosts_is_refused_before_any_tool_runs(
    backend: AgentBackendDouble, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["pay.example.com"]
    _, raw = await new_key(["payments:write"])
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "create_payment",
            "arguments": {"amount": "1", "currency": "BRL", "idempotency_key": "h"},
        },
    }
    async with http_client({"X-Api-Key": raw, **MCP_ACCEPT}, base_url="http://attacker.example") as http:
        refused = await http.post("/mcp", json=call)
    async with http_client({"X-Api-Key": raw, **MCP_ACCEPT}, base_url="https://pay.example.com") as http:
        allowed = await http.post("/mcp", json=LIST_TOOLS)
    assert refused.status_code == 400
    assert refused.json()["code"] == "disallowed_host"
    assert backend.orchestrated == []
    assert allowed.status_code == 200 and {t["name"] for t in allowed.json()["result"]["tools"]} == TOOLS


async def test_the_per_key_rate_limit_applies_to_the_sdk_client(
    backend: AgentBackendDouble, settings: Any
) -> None:
    throttle_rates(settings, user="4/hour")  # an hour-long window: a slow run never straddles two
    _, raw = await new_key(["read"])
    statuses: list[int] = []
    http = http_client({"X-Api-Key": raw}, statuses=statuses)
    # when the SDK's client keeps calling a tool past the key's budget
    calls = 0
    with pytest.raises(ExceptionGroup) as refused_call:
        async with http, Client(streamable_http_client("http://testserver/mcp", http_client=http)) as client:
            for _ in range(10):
                await client.call_tool("list_payments", {})
                calls += 1
    assert refused_call.group_contains(MCPError)
    # then exactly the first four requests were answered and the fifth refused
    assert len(statuses) == 5 and all(status < 300 for status in statuses[:4]) and statuses[4] == 429
    assert 0 < calls < 4
    async with http_client({"X-Api-Key": raw, **MCP_ACCEPT}) as again:
        refused = await again.post("/mcp", json=LIST_TOOLS)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600


async def test_mcp_and_rest_calls_of_a_key_share_one_budget(
    backend: AgentBackendDouble, settings: Any
) -> None:
    from asgiref.sync import sync_to_async
    from rest_framework.test import APIClient

    throttle_rates(settings, user="3/hour")
    _, raw = await new_key(["read"])
    rest = APIClient()
    rest.credentials(HTTP_X_API_KEY=raw)
    rest_statuses = [(await sync_to_async(rest.get)("/api/v1/agents/payments")).status_code for _ in range(2)]
    async with http_client({"X-Api-Key": raw, **MCP_ACCEPT}) as http:
        third = await http.post("/mcp", json=LIST_TOOLS)
        fourth = await http.post("/mcp", json=LIST_TOOLS)
    assert (rest_statuses, third.status_code, fourth.status_code) == ([200, 200], 200, 429)


async def test_the_per_ip_rate_limit_applies_across_keys(backend: AgentBackendDouble, settings: Any) -> None:
    throttle_rates(settings, ip="3/hour")
    _, first = await new_key(["read"])
    _, second = await new_key(["read"])
    statuses = []
    for raw in (first, first, second, second):
        async with http_client({"X-Api-Key": raw, **MCP_ACCEPT}) as http:
            statuses.append((await http.post("/mcp", json=LIST_TOOLS)).status_code)
    assert statuses == [200, 200, 200, 429]


async def test_bearer_keys_are_accepted_and_requests_are_logged(
    backend: AgentBackendDouble, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    _, raw = await new_key(["read"])
    with caplog.at_level(logging.INFO, logger="django_structlog.middlewares.request"):
        async with http_client({"Authorization": f"Bearer {raw}", **MCP_ACCEPT}) as http:
            answer = await http.post("/mcp", json=LIST_TOOLS)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    finished = [r for r in caplog.records if "request_finished" in str(r.msg)]
    assert finished and "POST /mcp" in str(finished[-1].msg)


async def test_a_wsgi_worker_serves_mcp_too(backend: AgentBackendDouble) -> None:
    """Django's WSGI handler (the WSGI tier's): each request runs the transport on its own loop."""
    import asyncio
    import json as jsonlib

    from django.db import connection
    from django.test import Client as DjangoClient

    _, raw = await new_key(["read"])
    http = DjangoClient(HTTP_X_API_KEY=raw, HTTP_ACCEPT="application/json, text/event-stream")

    def post() -> Any:
        # a plain thread, as a WSGI worker's: no event loop of its own nor one to borrow
        try:
            return http.post("/mcp", data=jsonlib.dumps(LIST_TOOLS), content_type="application/json")
        finally:
            connection.close()

    first, second = await asyncio.to_thread(post), await asyncio.to_thread(post)
    assert (first.status_code, second.status_code) == (200, 200)
    assert {t["name"] for t in second.json()["result"]["tools"]} == TOOLS
