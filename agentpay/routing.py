"""WebSocket routes, collected from the apps that own them."""

from apps.conversations.routing import websocket_urlpatterns as conversation_ws

websocket_urlpatterns = [*conversation_ws]
