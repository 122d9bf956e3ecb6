"""Pages served by the conversations app (web chat, live feed), the AI-agent REST API and /mcp."""

from django.urls import include, path

from apps.conversations import views
from apps.conversations.mcp.views import MCPView

urlpatterns: list = [
    path("chat/", views.webchat_page, name="webchat"),
    path("chat/qr.svg", views.webchat_qr_svg, name="webchat-qr"),
    path("chat/<slug:org_slug>/", views.webchat_page, name="webchat-org"),
    path("live/", views.live_feed_page, name="live-feed"),
    path("api/v1/agents/", include("apps.conversations.agents.urls")),
    # the MCP server's streamable HTTP (through Django: ALLOWED_HOSTS, request log, rate limits)
    path("mcp", MCPView.as_view(), name="mcp"),
    path("mcp/", MCPView.as_view()),
]
