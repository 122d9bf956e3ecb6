"""What the webhook ingest handed to processing, on either hand-off: with a Redis cache the ids
pushed on the pending list (and the drain tasks sent), otherwise one processing task per event.

``handoff`` (a fixture: import ``handoff_fixture`` into a test module) records the tasks instead of sending them,
so a test sees what would be processed without processing it; ``drain()`` then runs the drain
task the way a worker would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import TestCase

from apps.conversations import services, tasks


class Handoff:
    def __init__(self) -> None:
        self.event_tasks: list[int] = []  # webhook_event_process_task sends (no Redis hand-off)
        self.drains = 0  # webhook_events_drain_task sends

    @property
    def redis(self) -> Any:
        return services._queue_client()

    def pending(self) -> list[int]:
        """Event ids waiting for processing, in hand-off order."""
        if self.redis is None:
            return list(self.event_tasks)
        key = services._queue_key(services.WEBHOOK_QUEUE_KEY)
        return [int(x) for x in self.redis.lrange(key, 0, -1)]

    def drain_flag(self) -> bool:
        return bool(
            self.redis is not None and self.redis.exists(services._queue_key(services.WEBHOOK_DRAIN_FLAG_KEY))
        )

    def drain(self, *, hooks: bool = True) -> int:
        """Process what is pending, as the worker's drain task (or the per-event tasks) would; their
        after-commit hooks (intent analysis, replies) run unless ``hooks`` is False (the test's
        transaction would hold them back)."""
        if not hooks:
            return self._drain()
        with TestCase.captureOnCommitCallbacks(execute=True):
            return self._drain()

    def _drain(self) -> int:
        if self.redis is None:
            ids, self.event_tasks[:] = list(self.event_tasks), []
            for pk in ids:
                tasks.webhook_event_process_task.run(pk)
            return len(ids)
        done = 0
        while self.pending():
            done += tasks.webhook_events_drain_task.run()
        return done


def _clear(handoff: Handoff) -> None:
    if handoff.redis is not None:
        handoff.redis.delete(
            services._queue_key(services.WEBHOOK_QUEUE_KEY),
            services._queue_key(services.WEBHOOK_DRAIN_FLAG_KEY),
        )


@pytest.fixture(name="handoff")
def handoff_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Handoff]:
    recorder = Handoff()
    _clear(recorder)

    def event_task(args: Any = (), **_kw: Any) -> None:
        recorder.event_tasks.append(int(args[0]))

    def drain_task(args: Any = (), **_kw: Any) -> None:
        recorder.drains += 1

    monkeypatch.setattr(tasks.webhook_event_process_task, "apply_async", event_task)
    monkeypatch.setattr(tasks.webhook_events_drain_task, "apply_async", drain_task)
    yield recorder
    _clear(recorder)
