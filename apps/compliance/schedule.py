"""Periodic tasks of compliance (synced into django-celery-beat by core)."""

BEAT_SCHEDULE: dict[str, dict] = {
    "compliance.sanctions_refresh": {
        "task": "compliance.sanctions_refresh",
        "crontab": {"minute": "30", "hour": "3", "day_of_week": "1"},
    },
    # a review case's conversation excerpt and counterparty history, soon after it opens
    "compliance.case_context_sweep": {"task": "compliance.case_context_sweep", "seconds": 15},
    "compliance.daily_summary": {
        "task": "compliance.daily_summary",
        "crontab": {"minute": "10", "hour": "0"},
    },
}
