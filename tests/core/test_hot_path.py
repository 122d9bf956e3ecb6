"""The API's hot path: one Redis round trip for all rate limits, no FilterSet on unfiltered
lists, and the fast list serializer giving exactly DRF's output."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from djmoney.money import Money
from rest_framework import serializers
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.core import throttling
from apps.core.fastserializers import FastRepresentationMixin
from apps.core.throttling import PerIPThrottle, PerUserThrottle
from apps.payments.models import OrchestrationPayment, PaymentEvent
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


class _MoneyColumns(serializers.ModelSerializer):
    """Money as the API renders it: the Decimal column and the currency column."""

    amount = serializers.DecimalField(max_digits=19, decimal_places=4, source="amount.amount")
    currency = serializers.CharField(source="amount_currency")


class _Payment(_MoneyColumns):
    organization_name = serializers.CharField(source="organization.name")
    summary = serializers.SerializerMethodField()

    class Meta:
        model = OrchestrationPayment
        fields = (
            "id",
            "status",
            "amount",
            "currency",
            "payee_ref",
            "payee_identifiers",
            "alternative_rails",
            "attempts",
            "conversation",
            "organization",
            "organization_name",
            "completed_at",
            "created_at",
            "summary",
        )

    def get_summary(self, obj: OrchestrationPayment) -> str:
        return f"{obj.payee_ref}:{obj.status}"


class _FastPayment(FastRepresentationMixin, _Payment):
    pass


class _Event(serializers.ModelSerializer):
    class Meta:
        model = PaymentEvent
        fields = ("id", "payment", "from_status", "to_status", "data", "created_at")


class _FastEvent(FastRepresentationMixin, _Event):
    pass


@pytest.mark.parametrize("tz", ["UTC", "America/Sao_Paulo"])
def test_fast_serializer_output_equals_drf(settings, tz):
    # given payments with nulls, JSON, unicode, decimals and aware datetimes
    settings.TIME_ZONE = tz
    org = OrganizationFactory(name="Açaí Ltda")
    rows = [
        OrchestrationPayment.objects.create(
            organization=org,
            amount=Money(Decimal("1234.5"), "BRL"),
            payee_ref="joão",
            payee_identifiers={"pix_key": "a@b.co"},
            alternative_rails=[{"rail": "wise", "score": 0.4}],
            attempts=2,
            status="succeeded",
            completed_at=datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC),
        ),
        OrchestrationPayment.objects.create(organization=org, amount=Money("0.01", "EUR"), payee_ref=""),
    ]
    rows[1].refresh_from_db()
    events = [
        PaymentEvent.objects.create(
            payment=rows[0], from_status="created", to_status="screening", data={"x": [1]}
        )
    ]
    # when both serializers render them
    with django_timezone(tz):
        drf = _Payment(rows, many=True).data
        fast = _FastPayment(rows, many=True).data
        drf_events = _Event(events, many=True).data
        fast_events = _FastEvent(events, many=True).data
    # then the output is the same, key by key and in order
    assert [list(r.items()) for r in fast] == [list(r.items()) for r in drf]
    assert [list(r.items()) for r in fast_events] == [list(r.items()) for r in drf_events]
    assert fast[1]["completed_at"] is None and fast[0]["summary"] == "joão:succeeded"


def django_timezone(name):
    from django.utils import timezone

    return timezone.override(name)


def test_fast_serializer_fields_are_bound_copies():
    # given one serializer instance already built
    _FastPayment().fields  # noqa: B018
    # when another is built, its fields are copies, bound to the new instance
    first, second = _FastPayment(), _FastPayment()
    assert first.fields["status"] is not second.fields["status"]
    assert first.fields["status"].parent is first and second.fields["status"].parent is second


def test_a_field_drf_renders_is_bound_to_its_own_instance_and_steps_are_built_once(monkeypatch):
    """The steps are built once per class; a field without a fast getter (a method field here)
    is rendered by a copy bound to the instance rendering it, without binding all the others."""
    from apps.core import fastserializers

    payment = OrchestrationPayment(amount=Money("1.00", "BRL"), payee_ref="ana", status="created")
    _FastPayment(payment).data  # noqa: B018 (the class's steps exist from here)
    built: list[Any] = []
    monkeypatch.setattr(fastserializers._Step, "__init__", lambda *a: built.append(a))
    first, second = _FastPayment(payment), _FastPayment(payment)
    assert first.data["summary"] == second.data["summary"] == "ana:created"
    assert built == []
    assert first._bound_field("summary").parent is first
    assert second._bound_field("summary").parent is second
    assert first._bound_field("summary") is not second._bound_field("summary")
    assert "fields" not in first.__dict__  # the other fields were never copied and bound


def test_the_shared_steps_keep_no_instance_alive():
    """The class's steps outlive the instance that built them: they hold no field bound to it."""
    import gc
    import weakref

    if "_fast_class_steps" in _FastPayment.__dict__:  # built by an earlier test: built again here
        delattr(_FastPayment, "_fast_class_steps")
    payment = OrchestrationPayment(amount=Money("1.00", "BRL"), payee_ref="ana", status="created")
    first = _FastPayment(payment)
    assert first.data["summary"] == "ana:created"
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize("tz", ["UTC", "America/Sao_Paulo"])
def test_the_payment_detail_equals_drfs_with_its_nested_rows(settings, tz, organization, monkeypatch):
    """PaymentDetailSerializer and its nested event, attempt and refund serializers (all fast)
    render what DRF's own ``to_representation`` renders with the same fields."""
    from apps.payments.api.serializers import PaymentDetailSerializer
    from apps.payments.models import PaymentAttempt, PaymentRefund

    settings.TIME_ZONE = tz
    payment = OrchestrationPayment.objects.create(
        organization=organization,
        amount=Money("99.9900", "BRL"),
        payee_ref="joão",
        status="succeeded",
        metadata={"b": 1, "a": [1.5, None]},
        completed_at=datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC),
    )
    PaymentEvent.objects.create(payment=payment, to_status="created", data={"k": "v"})
    attempt = PaymentAttempt.objects.create(payment=payment, number=1, rail="pix", status="succeeded")
    PaymentRefund.objects.create(
        payment=payment, attempt=attempt, amount=Money("1.0000", "BRL"), rail="pix", reason="dup"
    )
    stored = OrchestrationPayment.objects.prefetch_related("events", "rail_attempts", "refunds").get(
        pk=payment.pk
    )
    with django_timezone(tz):
        fast = PaymentDetailSerializer(stored).data
        # DRF's path for every serializer, nested ones included
        monkeypatch.setattr(
            FastRepresentationMixin,
            "to_representation",
            lambda self, instance: serializers.Serializer.to_representation(self, instance),
        )
        drf = PaymentDetailSerializer(stored).data
    assert list(fast.items()) == list(drf.items())
    assert [list(e.items()) for e in fast["events"]] == [list(e.items()) for e in drf["events"]]
    assert fast["events"][0]["data"] == {"k": "v"} and fast["refunds"][0]["amount"] == "1.0000"


def test_the_payment_list_renders_through_the_fast_serializer(auth_client, organization):
    # given a payment
    payment = OrchestrationPayment.objects.create(
        organization=organization, amount=Money("10.00", "BRL"), payee_ref="ana", status="succeeded"
    )
    # when the list is read
    body = auth_client.get("/api/v1/payments").json()
    # then the row carries DRF's formats: string ids, 4-decimal amounts, ISO times
    row = body["results"][0]
    assert row["id"] == str(payment.pk) and row["amount"] == "10.0000" and row["currency"] == "BRL"
    assert row["created_at"].endswith("Z") or row["created_at"][-6] in "+-"


class _DrfRowPayment(_MoneyColumns):
    """Every field one column: choices, money, JSON, FK keys, nullable times."""

    class Meta:
        model = OrchestrationPayment
        fields = (
            "id",
            "status",
            "urgency",
            "amount",
            "currency",
            "payee_ref",
            "payee_identifiers",
            "alternative_rails",
            "attempts",
            "conversation",
            "organization",
            "completed_at",
            "created_at",
        )


class _RowPayment(FastRepresentationMixin, _DrfRowPayment):
    pass


@pytest.mark.parametrize("tz", ["UTC", "America/Sao_Paulo"])
def test_row_representation_equals_drf_on_instances(settings, tz):
    # given payments with nulls, choices, JSON, unicode, decimals and aware datetimes
    settings.TIME_ZONE = tz
    org = OrganizationFactory()
    OrchestrationPayment.objects.create(
        organization=org,
        amount=Money(Decimal("1234.5"), "BRL"),
        payee_ref="joão",
        payee_identifiers={"pix_key": "a@b.co", "n": [1, 2.5]},
        alternative_rails=[{"rail": "wise", "score": 0.4}],
        attempts=2,
        status="succeeded",
        urgency="instant",
        completed_at=datetime.datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=datetime.UTC),
    )
    OrchestrationPayment.objects.create(organization=org, amount=Money("0.01", "EUR"), payee_ref="")
    instances = list(OrchestrationPayment.objects.filter(organization=org).order_by("created_at"))
    serializer = _RowPayment()
    steps = serializer.row_steps()
    assert steps is not None
    rows = list(
        OrchestrationPayment.objects.filter(organization=org)
        .order_by("created_at")
        .values(*dict.fromkeys(step.column for step in steps))
    )
    # when DRF renders the instances and the fast path renders the rows
    with django_timezone(tz):
        expected = [list(item.items()) for item in _DrfRowPayment(instances, many=True).data]
        got = [list(serializer.row_representation(row).items()) for row in rows]
    # then they agree key by key and in order
    assert got == expected
    assert dict(got[0])["amount"] == "1234.5000" and dict(got[1])["completed_at"] is None


def test_a_serializer_with_a_method_field_has_no_row_path():
    # given a serializer whose fields read a relation's attribute and a method, it can't render
    # rows (FastRowsMixin then lists instances); one whose fields each read a column can
    assert _FastPayment().row_steps() is None
    assert _RowPayment().row_steps() is not None


def test_the_payment_list_reads_rows_and_pages_with_the_cursor(auth_client, organization, monkeypatch):
    # given 7 payments, and a count of rows rendered without model instances
    rendered = []
    real = FastRepresentationMixin.row_representation
    monkeypatch.setattr(
        FastRepresentationMixin,
        "row_representation",
        lambda self, row, *tz: rendered.append(1) or real(self, row, *tz),
    )
    made = [
        OrchestrationPayment.objects.create(
            organization=organization, amount=Money(f"{i}.50", "BRL"), payee_ref=f"p{i}", status="succeeded"
        )
        for i in range(7)
    ]
    # when the list is read 3 at a time, following the cursor
    seen, url = [], "/api/v1/payments?page_size=3"
    while url:
        body = auth_client.get(url).json()
        seen += body["results"]
        url = body["next"]
    # then every payment comes once, newest first, from rows, each equal to the serializer's output
    assert [r["id"] for r in seen] == [str(p.pk) for p in reversed(made)]
    assert len(rendered) == 7
    from apps.payments.api.serializers import PaymentSerializer

    for row, payment in zip(seen, reversed(made), strict=True):
        payment.refresh_from_db()
        assert row == dict(PaymentSerializer(payment).data)


class _TwoLimits(APIView):
    throttle_classes = [PerIPThrottle, PerUserThrottle]


@pytest.mark.redis
def test_every_rate_limit_of_a_request_costs_one_round_trip(monkeypatch, user):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    # given a view with an IP and a user limit
    calls = []
    real = throttling._hits
    monkeypatch.setattr(throttling, "_hits", lambda keys: calls.append(dict(keys)) or real(keys))
    request = _request(user, ip=f"10.9.{uuid.uuid4().int % 250}.1")
    view = _TwoLimits()
    # when DRF asks both throttles
    allowed = [t.allow_request(request, view) for t in view.get_throttles()]
    # then both counters were counted in one batch
    assert allowed == [True, True]
    assert len(calls) == 1 and {k.split(":")[1] for k in calls[0]} == {"ip", "user"}


def test_each_limit_still_refuses_on_its_own(user, settings):
    # given a user limit of 2 an hour and a generous IP limit (DRF reloads its settings)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"ip": "1000/hour", "user": "2/hour", "conversation": "10/hour"},
    }
    ip = f"10.8.{uuid.uuid4().int % 250}.2"
    results = []
    # when three requests come in
    for _ in range(3):
        request, view = _request(user, ip=ip), _TwoLimits()
        results.append([t.allow_request(request, view) for t in view.get_throttles()])
    # then the third passes the IP limit and is refused by the user limit only
    assert results == [[True, True], [True, True], [True, False]]


def _request(user, *, ip: str):
    from rest_framework.request import Request

    request = Request(APIRequestFactory().get("/", REMOTE_ADDR=ip))
    request.user = user
    return request


def test_unfiltered_list_skips_the_filterset_and_filtered_list_validates(auth_client, monkeypatch):
    # given a FilterSet that records being built
    from apps.payments.filters import PaymentFilter

    built = []
    original = PaymentFilter.__init__

    def spy(self, *args, **kwargs):
        built.append(True)
        original(self, *args, **kwargs)

    monkeypatch.setattr(PaymentFilter, "__init__", spy)
    # when the list is read without filters, nothing is built
    assert auth_client.get("/api/v1/payments?page_size=5").status_code == 200
    assert built == []
    # and with a bad filter value, the FilterSet runs and answers 400
    resp = auth_client.get("/api/v1/payments?amount_min=lots")
    assert resp.status_code == 400 and built
    assert auth_client.get("/api/v1/payments?status=succeeded").status_code == 200


@pytest.mark.redis
def test_cache_backends_of_every_thread_share_one_bounded_pool():
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    import threading

    from django.core.cache import caches

    # given cache calls from many threads (Channels gives each WebSocket consumer its own)
    clients = []

    def use_cache() -> None:
        cache = caches["default"]
        cache.get("pool-probe")
        clients.append(cache._cache.get_client())  # type: ignore[attr-defined]

    threads = [threading.Thread(target=use_cache) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then they all went through one client and one pool, capped at REDIS_MAX_CONNECTIONS
    assert len({id(c) for c in clients}) == 1
    pool = clients[0].connection_pool
    assert type(pool).__name__ == "BlockingConnectionPool"
    assert pool.max_connections == settings.REDIS_MAX_CONNECTIONS
