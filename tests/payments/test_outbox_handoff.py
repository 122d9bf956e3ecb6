"""The hand-off from a committed outbox row to its initiation.

With a Redis cache a row due now sets a drain flag and a drain task is sent once per burst (not
per payment); the drain initiates every due row it can lock. A delayed row, a local-memory cache
or Redis failing send the row's own task. Either way each row is initiated once, and a row the
kick missed is still taken (by the drain's second look, or the beat drain)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test import TestCase
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.core.cache import shared_key, shared_redis
from apps.payments import services, tasks
from apps.payments.choices import PaymentStatus
from apps.payments.models import OutboxMessage, PaymentAttempt
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db


class Sent:
    """The outbox tasks the kicks sent (recorded, not run)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float]] = []  # payments.outbox_process: (message id, countdown)
        self.drains = 0  # payments.outbox_drain_kicked

    @staticmethod
    def flag() -> bool:
        client = shared_redis()
        return bool(client is not None and client.exists(shared_key(services.OUTBOX_DRAIN_FLAG_KEY)))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    recorder = Sent()

    def row_task(args: Any = (), countdown: float = 0, **_kw: Any) -> None:
        recorder.rows.append((int(args[0]), countdown))

    def drain_task(*_a: Any, **_kw: Any) -> None:
        recorder.drains += 1

    monkeypatch.setattr(tasks.outbox_process, "apply_async", row_task)
    monkeypatch.setattr(tasks.outbox_drain_kicked, "apply_async", drain_task)
    return recorder


def pay(organization: Any, user: Any, amount: str = "50.00") -> Any:
    """One approved payment, committed as in production (its after-commit kick runs)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.payment_orchestrate(
            organization=organization, actor=user, request=make_request(amount=Decimal(amount))
        )


def statuses() -> set[str]:
    return set(OutboxMessage.objects.values_list("status", flat=True))


@pytest.mark.redis
def test_a_burst_of_payments_sends_one_drain_that_initiates_them_all(
    rails, organization, user, compliance, sent
):
    payments = [pay(organization, user, f"{10 + i}.00") for i in range(5)]
    # one drain task for the whole burst, no task per row, and the flag says a drain is coming
    assert sent.drains == 1 and sent.rows == [] and sent.flag()
    assert statuses() == {"pending"}
    # the drain (as a worker runs it) initiates every row once, then releases the flag
    assert tasks.outbox_drain_kicked.run() == 5
    assert statuses() == {"done"} and not sent.flag()
    for payment in payments:
        payment.refresh_from_db()
        assert payment.status in (PaymentStatus.INITIATED, PaymentStatus.SUCCEEDED)
        assert PaymentAttempt.objects.filter(payment=payment).count() == 1
    # a drain run again (a redelivery) finds nothing to do
    assert tasks.outbox_drain_kicked.run() == 0
    # the next payment starts a new burst
    pay(organization, user)
    assert sent.drains == 2


@pytest.mark.redis
def test_a_full_batch_sends_another_drain_for_the_rest(rails, organization, user, compliance, sent):
    for i in range(3):
        pay(organization, user, f"{20 + i}.00")
    assert sent.drains == 1
    # a batch of 2 out of 3: another drain is sent for what may be left, the flag stays
    assert services.outbox_drain_kicked(batch=2) == 2
    assert sent.drains == 2 and sent.flag()
    assert OutboxMessage.objects.filter(status="pending").count() == 1
    # the last one: nothing left, no further drain, the flag released
    assert services.outbox_drain_kicked(batch=2) == 1
    assert sent.drains == 2 and not sent.flag() and statuses() == {"done"}


@pytest.mark.redis
def test_a_payment_committed_while_the_drain_finishes_is_not_stranded(
    rails, organization, user, compliance, sent, monkeypatch
):
    # A row committed after the drain's query, while the flag is still set, sends no drain of its
    # own; the drain must see it when it releases the flag, and send one.
    pay(organization, user)
    process = services.outbox_message_process
    late: list[Any] = []

    def process_then_another_arrives(*, message_id: int) -> str:
        outcome = process(message_id=message_id)
        if not late:
            late.append(pay(organization, user, "77.00"))
            assert sent.drains == 1  # the flag was set: nothing sent for it
        return outcome

    monkeypatch.setattr(services, "outbox_message_process", process_then_another_arrives)
    assert services.outbox_drain_kicked() == 1
    assert sent.drains == 2 and sent.flag()
    assert OutboxMessage.objects.get(payment=late[0]).status == "pending"
    monkeypatch.setattr(services, "outbox_message_process", process)
    assert services.outbox_drain_kicked() == 1 and not sent.flag()


@pytest.mark.redis
def test_a_failing_drain_still_releases_the_flag(rails, organization, user, compliance, sent, monkeypatch):
    pay(organization, user)

    def boom(*, message_id: int) -> str:
        raise RuntimeError("worker bug")

    monkeypatch.setattr(services, "outbox_message_process", boom)
    with pytest.raises(RuntimeError):
        services.outbox_drain_kicked()
    # the row is still pending and the flag released; no drain was sent straight back for a row
    # that keeps failing (the next payment's kick or the beat drain takes it, as for a failed task)
    assert statuses() == {"pending"} and sent.drains == 1 and not sent.flag()
    pay(organization, user, "70.00")
    assert sent.drains == 2 and sent.flag()


@pytest.mark.redis
def test_a_delayed_row_gets_its_own_task_with_its_countdown(
    organization, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services._outbox_kick(41, delay=8.0)
    assert sent.rows == [(41, 8.0)] and sent.drains == 0 and not sent.flag()


def test_without_a_shared_cache_each_row_gets_its_own_task(
    rails, organization, user, compliance, sent, monkeypatch
):
    monkeypatch.setattr(services, "shared_redis", lambda: None)
    first, second = pay(organization, user), pay(organization, user, "60.00")
    ids = [OutboxMessage.objects.get(payment=p).pk for p in (first, second)]
    assert sent.rows == [(ids[0], 0.0), (ids[1], 0.0)] and sent.drains == 0


class FailingRedis:
    def set(self, *_a: Any, **_kw: Any) -> Any:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_redis_failing_falls_back_to_the_rows_own_task(
    rails, organization, user, compliance, sent, monkeypatch
):
    monkeypatch.setattr(services, "shared_redis", lambda: FailingRedis())
    payment = pay(organization, user)
    assert sent.rows == [(OutboxMessage.objects.get(payment=payment).pk, 0.0)] and sent.drains == 0


@pytest.mark.redis
def test_a_broker_refusing_the_drain_releases_the_flag_and_sends_the_rows_task(
    rails, organization, user, compliance, sent, monkeypatch
):
    from kombu.exceptions import OperationalError

    def refused(*_a: Any, **_kw: Any) -> None:
        raise OperationalError("Error 111 connecting to broker")

    monkeypatch.setattr(tasks.outbox_drain_kicked, "apply_async", refused)
    payment = pay(organization, user)
    assert sent.rows == [(OutboxMessage.objects.get(payment=payment).pk, 0.0)] and not sent.flag()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_drain_skips_a_row_another_worker_holds_and_does_not_spin_on_it(
    rails, organization, user, compliance, sent
):
    # given two committed rows, the first held (row-locked) by another worker mid-initiation
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    held, free = pay(organization, user), pay(organization, user, "61.00")
    held_row = OutboxMessage.objects.get(payment=held)
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                OutboxMessage.objects.select_for_update().get(pk=held_row.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        # when the kicked drain runs
        assert services.outbox_drain_kicked() == 1
        # then it initiated the free row, left the held one to its worker, and sent no new drain
        # for it (the held row is not "due and unclaimed": no drain loop while it is processed)
        assert OutboxMessage.objects.get(payment=free).status == "done"
        assert OutboxMessage.objects.get(pk=held_row.pk).status == "pending"
        assert sent.drains == 1 and not sent.flag()
    finally:
        release.set()
        thread.join(10)


@pytest.mark.celery_worker
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_initiates_a_burst_through_one_kicked_drain(
    rails, organization, user, compliance, monkeypatch, celery_worker_process
):
    import time

    # the kicks' drain tasks go to this test's worker (the row tasks would too, and are counted)
    drains_sent: list[str] = []
    rows_sent: list[int] = []
    send_drain = tasks.outbox_drain_kicked.apply_async
    monkeypatch.setattr(
        tasks.outbox_drain_kicked,
        "apply_async",
        lambda *a, **kw: drains_sent.append(send_drain(queue=celery_worker_process.queue).id),
    )
    monkeypatch.setattr(tasks.outbox_process, "apply_async", lambda args=(), **kw: rows_sent.append(args[0]))
    monkeypatch.setattr("apps.payments.rails.sandbox.sandbox_settlement_schedule", lambda **kw: None)
    monkeypatch.setattr(services, "_notify_conversation", lambda payment_id, event: None)
    # when a burst of payments commits (autocommit: each kick runs at its commit)
    payments = [
        services.payment_orchestrate(
            organization=organization, actor=user, request=make_request(amount=Decimal(f"{30 + i}.00"))
        )
        for i in range(4)
    ]
    # then the real worker initiates every one of them, through the drain(s) the burst sent
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and statuses() != {"done"}:
        time.sleep(0.2)
    assert statuses() == {"done"} and rows_sent == []
    assert 1 <= len(drains_sent) <= 4
    for payment in payments:
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.INITIATED
        assert PaymentAttempt.objects.get(payment=payment).status == "initiated"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Sent.flag():
        time.sleep(0.1)
    assert not Sent.flag()  # released once the table was empty
