"""Periodic tasks of the payments app (synced into django-celery-beat by core)."""

BEAT_SCHEDULE: dict[str, dict] = {
    "payments.rail-health": {"task": "payments.rail_health_refresh", "seconds": 30},
    "payments.outbox-drain": {"task": "payments.outbox_drain", "seconds": 10},
    "payments.poll-stale": {"task": "payments.poll_stale", "seconds": 60},
    "payments.refunds-poll": {"task": "payments.refunds_poll", "seconds": 60},
    "payments.idempotency-purge": {"task": "payments.idempotency_purge", "seconds": 3600},
    # the ECB publishes around 16:00 CET on TARGET working days
    "payments.fx-refresh": {"task": "payments.fx_refresh", "crontab": {"minute": "30", "hour": "15"}},
}
