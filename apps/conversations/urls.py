"""Pages served by the conversations app (web chat, live feed) and the AI-agent REST API."""

from django.urls import include, path

from apps.conversations import views

urlpatterns: list = [
    path("chat/", views.webchat_page, name="webchat"),
    path("chat/qr.svg", views.webchat_qr_svg, name="webchat-qr"),
    path("chat/<slug:org_slug>/", views.webchat_page, name="webchat-org"),
    path("live/", views.live_feed_page, name="live-feed"),
    path("api/v1/agents/", include("apps.conversations.agents.urls")),
]
