from prometheus_client import Gauge, Histogram

intent_classification_latency = Histogram(
    "intent_classification_latency_seconds",
    "Time to classify one message, by deciding tier",
    ["tier"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.3, 1, 3),
)
intent_classification_accuracy = Gauge(
    "intent_classification_accuracy", "Macro-F1 of the last evaluate_intent run on the held-out test file"
)
