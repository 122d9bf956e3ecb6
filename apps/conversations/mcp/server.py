"""The AgentPay MCP server: tools for AI agents (official ``mcp`` SDK).

Tools: ``analyze_message``, ``quote_payment``, ``create_payment``,
``get_payment``, ``list_payments``. Each resolves the calling API key (over
HTTP from the header the mount verified, over stdio from ``AGENTPAY_API_KEY``)
and calls ``apps.conversations.agents.services`` in a worker thread. Domain
errors come back as tool errors whose text is the JSON error body
``{"code", "message", "errors"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from asgiref.sync import sync_to_async
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from apps.core.exceptions import ApplicationError

# Set by the HTTP mount after verifying the caller's key; a client-sent value is always replaced.
KEY_ID_HEADER = "x-agentpay-api-key-id"

INSTRUCTIONS = (
    "AgentPay moves money for an organisation. Use analyze_message to understand a chat message, "
    "quote_payment to compare rails and costs, and create_payment (with a unique idempotency_key) only "
    "after the human confirmed. Amounts are decimal strings. Poll get_payment for the status."
)


SESSION_HELP = (
    "Your own id for this conversation or session (e.g. the chat thread): activity with one id is "
    "kept together in one AgentPay conversation; without it, in the API key's own conversation."
)


class CallerUnknown(ApplicationError):
    code = "authentication_failed"
    status_code = 401
    message = "A valid API key is required."


def _key_by_id(key_id: str) -> Any:
    from apps.core.models import OrganizationAPIKey

    key = OrganizationAPIKey.objects.select_related("organization").filter(pk=key_id).first()
    if key is None or key.revoked or key.has_expired or not key.organization.is_active:
        raise CallerUnknown()
    return key


def _key_by_raw(raw: str) -> Any:
    from apps.core.authentication import api_key_resolve

    key = api_key_resolve(raw)
    if key is None:
        raise CallerUnknown()
    return key


def _error_text(exc: ApplicationError) -> str:
    return json.dumps({"code": exc.code, "message": exc.message, "errors": exc.errors, **exc.extra})


def mcp_server_build(*, stdio_api_key: str | None = None) -> MCPServer:
    """A new MCP server. ``stdio_api_key`` authenticates callers that carry no HTTP headers."""
    server: MCPServer = MCPServer("AgentPay", instructions=INSTRUCTIONS, version="1.0.0")

    def resolve(ctx: Context) -> Any:
        headers = ctx.headers if ctx.request_context.request is not None else None
        if headers is not None:
            key_id = headers.get(KEY_ID_HEADER)
            if not key_id:
                raise CallerUnknown()
            return _key_by_id(key_id)
        if stdio_api_key:
            return _key_by_raw(stdio_api_key)
        raise CallerUnknown()

    async def call(ctx: Context, operation: Callable[[Any], Any]) -> Any:
        def run() -> Any:
            key = resolve(ctx)
            return operation(key)

        try:
            return await sync_to_async(run, thread_sensitive=True)()
        except ApplicationError as exc:
            raise ToolError(_error_text(exc)) from exc

    @server.tool()
    async def analyze_message(
        text: Annotated[str, Field(description="The chat message, e.g. 'pay ana R$ 30 via pix'.")],
        ctx: Context,
        language: Annotated[str | None, Field(description="en, pt or es; detected when omitted.")] = None,
        session_id: Annotated[str | None, Field(description=SESSION_HELP, max_length=128)] = None,
    ) -> dict[str, Any]:
        """Understand a payment-related chat message: intent, confidence, amounts, dates, parties.

        The message is kept in the agent's AgentPay conversation (per session_id)."""
        from apps.conversations.agents import services

        return await call(
            ctx,
            lambda key: services.agent_message_analyze(
                organization=key.organization,
                api_key=key,
                text=text,
                language=language,
                session_id=session_id or "",
            ),
        )

    @server.tool()
    async def quote_payment(
        amount: Annotated[str, Field(description="Decimal string, e.g. '30.00'.")],
        currency: Annotated[str, Field(description="ISO 4217 code (or USDC) the payer pays in.")],
        ctx: Context,
        payee_country: Annotated[str | None, Field(description="ISO 3166 alpha-2.")] = None,
        payer_country: Annotated[str | None, Field(description="ISO 3166 alpha-2.")] = None,
        payee_currency: str | None = None,
        urgency: Annotated[str, Field(description="instant, normal or low.")] = "normal",
        payee_identifiers: Annotated[
            dict[str, str] | None, Field(description="e.g. {'pix_key': '...'} or {'iban': '...'}.")
        ] = None,
        preferred_rail: str | None = None,
        language: str = "en",
    ) -> dict[str, Any]:
        """Rank the payment rails for a payment (cost, speed, explanation) without creating anything."""
        from apps.conversations.agents import services

        def op(key: Any) -> Any:
            request = services.agent_payment_request(
                organization=key.organization,
                amount=amount,
                currency=currency,
                payee_country=payee_country,
                payer_country=payer_country,
                payee_currency=payee_currency,
                urgency=urgency,
                payee_identifiers=payee_identifiers,
                preferred_rail=preferred_rail,
                language=language,
            )
            return services.agent_payment_quote(organization=key.organization, api_key=key, request=request)

        return await call(ctx, op)

    @server.tool()
    async def create_payment(
        amount: Annotated[str, Field(description="Decimal string, e.g. '30.00'.")],
        currency: Annotated[str, Field(description="ISO 4217 code (or USDC).")],
        idempotency_key: Annotated[
            str,
            Field(
                description="Unique per intended payment; a retry with the same key returns the same payment."
            ),
        ],
        ctx: Context,
        payee_name: str = "",
        payee_ref: str = "",
        payee_identifiers: Annotated[
            dict[str, str] | None, Field(description="e.g. {'pix_key': '...'} or {'iban': '...'}.")
        ] = None,
        payee_country: str | None = None,
        payer_country: str | None = None,
        payee_currency: str | None = None,
        urgency: str = "normal",
        preferred_rail: str | None = None,
        purpose: str = "",
        payer_ref: str = "",
        language: str = "en",
        session_id: Annotated[str | None, Field(description=SESSION_HELP, max_length=128)] = None,
    ) -> dict[str, Any]:
        """Create a payment (needs scope payments:write; within the key's spending limits). Idempotent.

        Its notices (QR code, receipt, failure) go to the agent's AgentPay conversation (per session_id)."""
        from apps.conversations.agents import services
        from apps.core.authentication import ApiKeyPrincipal

        def op(key: Any) -> Any:
            request = services.agent_payment_request(
                organization=key.organization,
                amount=amount,
                currency=currency,
                payee_country=payee_country,
                payer_country=payer_country,
                payee_currency=payee_currency,
                urgency=urgency,
                payee_identifiers=payee_identifiers,
                preferred_rail=preferred_rail,
                payer_ref=payer_ref,
                payee_ref=payee_ref,
                payee_name=payee_name,
                purpose=purpose,
                language=language,
            )
            actor = ApiKeyPrincipal(api_key=key, organization=key.organization, scopes=list(key.scopes))
            payment = services.agent_payment_create(
                organization=key.organization,
                api_key=key,
                actor=actor,
                request=request,
                idempotency_key=idempotency_key,
                session_id=session_id or "",
            )
            return services.agent_payment_data(payment)

        return await call(ctx, op)

    @server.tool()
    async def get_payment(
        payment_id: Annotated[str, Field(description="The payment's id (UUID).")], ctx: Context
    ) -> dict[str, Any]:
        """A payment of the key's organisation: status, rail, costs, PIX code or payment link."""
        from apps.conversations.agents import services

        return await call(
            ctx,
            lambda key: services.agent_payment_data(
                services.agent_payment_get(organization=key.organization, api_key=key, payment_id=payment_id)
            ),
        )

    @server.tool()
    async def list_payments(
        ctx: Context,
        status: Annotated[str | None, Field(description="Only this status, e.g. succeeded.")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """The organisation's most recent payments, newest first."""
        from apps.conversations.agents import services

        def op(key: Any) -> Any:
            payments = services.agent_payment_list(
                organization=key.organization, api_key=key, status=status, limit=limit
            )
            return {"payments": [services.agent_payment_data(p) for p in payments]}

        return await call(ctx, op)

    return server
