from prometheus_client import Gauge, Histogram

payment_orchestration_latency = Histogram(
    "payment_orchestration_latency_seconds",
    "Time to route, screen and record one payment",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
payment_success_rate = Gauge(
    "payment_success_rate", "Share of payments that succeeded in the last hour", ["rail"]
)
rail_availability = Gauge(
    "rail_availability", "1 when the rail is available (circuit closed), else 0", ["rail_name"]
)
