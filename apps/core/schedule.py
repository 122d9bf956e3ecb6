"""Periodic tasks of the core app (see ``apps.core.services.beat_schedule_collect``)."""

BEAT_SCHEDULE: dict[str, dict] = {}
