"""Periodic tasks of the conversations app (synced into django-celery-beat by core)."""

BEAT_SCHEDULE = {
    # confirmation expiries, idle flows and recurring occurrences (backs up the countdown tasks)
    "conversations-flow-timeouts": {"task": "conversations.flow_timeouts_sweep", "seconds": 15},
    # webhook events stored while the broker was unreachable
    "conversations-webhook-retry": {"task": "conversations.webhook_events_retry_stale", "seconds": 60},
}
