from prometheus_client import Gauge

conversation_active_count = Gauge(
    "conversation_active_count", "Conversations with a message in the last 24 hours"
)
