"""ASGI entry point: HTTP through Django (the MCP server for AI agents included), WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.local")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from agentpay.observability import init_tracing  # noqa: E402
from agentpay.routing import websocket_urlpatterns  # noqa: E402
from agentpay.startup import web_process_ready  # noqa: E402
from apps.core import relay  # noqa: E402
from apps.core.websocket_auth import WebSocketAuthMiddlewareStack  # noqa: E402

init_tracing("agentpay-web")
relay.IS_WEB_PROCESS = True


class BrowserOriginValidator(OriginValidator):
    """Browsers always send ``Origin``: check it against ALLOWED_HOSTS (cross-site
    WebSocket hijacking). Server-side clients (integrations, agents, the load
    benchmark) send none and authenticate with a token or API key instead."""

    def valid_origin(self, parsed_origin):  # type: ignore[no-untyped-def]
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def _allowed_origins() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    return ["localhost", "127.0.0.1", "[::1]"] if (settings.DEBUG and not hosts) else hosts


def application_build(http_app):  # type: ignore[no-untyped-def]
    """The project's ASGI router around ``http_app`` (Django, which also serves /mcp) and WebSockets."""
    return ProtocolTypeRouter(
        {
            "http": http_app,
            "websocket": BrowserOriginValidator(
                WebSocketAuthMiddlewareStack(URLRouter(websocket_urlpatterns)), _allowed_origins()
            ),
        }
    )


application = application_build(django_asgi_app)

web_process_ready()  # the URLconf loaded and the heap frozen before the first request
