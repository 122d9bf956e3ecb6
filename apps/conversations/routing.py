"""WebSocket routes of the conversations app (live feed, web chat)."""

from django.urls import path, re_path

from apps.conversations import consumers

websocket_urlpatterns: list = [
    path("api/v1/stream", consumers.StreamConsumer.as_asgi()),
    path("api/v1/conversations/<str:conversation_id>/stream", consumers.StreamConsumer.as_asgi()),
    re_path(r"^ws/chat/(?P<org_slug>[-\w]+)/(?P<session_id>[^/]+)$", consumers.WebChatConsumer.as_asgi()),
]
