import pytest

from apps.core.services import beat_schedule_collect, periodic_tasks_sync


@pytest.mark.django_db
def test_periodic_tasks_sync_installs_collected_schedule(settings):
    from django_celery_beat.models import PeriodicTask

    settings.CELERY_BEAT_SCHEDULE = {
        "test.every-30s": {"task": "core.ping", "seconds": 30},
        "test.nightly": {"task": "core.ping", "crontab": {"minute": "0", "hour": "3"}},
    }
    assert "test.every-30s" in beat_schedule_collect()
    count = periodic_tasks_sync()
    assert count >= 2
    every = PeriodicTask.objects.get(name="test.every-30s")
    assert every.interval.every == 30 and every.task == "core.ping"
    assert PeriodicTask.objects.get(name="test.nightly").crontab.hour == "3"
    # idempotent
    periodic_tasks_sync()
    assert PeriodicTask.objects.filter(name="test.every-30s").count() == 1
