"""Prometheus metrics are registered by the app that owns them: see each app's metrics.py."""
