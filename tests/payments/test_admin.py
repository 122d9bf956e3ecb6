from __future__ import annotations

import pytest
from django.test import Client

from apps.payments import services
from apps.payments.choices import PaymentStatus
from apps.payments.models import OrchestrationPayment
from tests.factories import UserFactory
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(settings):
    settings.ADMIN_REQUIRE_OTP = False
    user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _doubles(monkeypatch):
    doubles = {
        "payment_compliance_decide": lambda *, payment, actor=None: services.FallbackComplianceDecision(),
        "customer_kyc_tier": lambda *, organization, party_ref: "basic",
        "conversation_payment_notify": None,
    }
    real = services._optional
    monkeypatch.setattr(services, "_optional", lambda m, n: doubles[n] if n in doubles else real(m, n))


def test_payment_list_filters_and_detail(rails, staff, organization, user, django_assert_max_num_queries):
    for amount in ("10.00", "500.00", "20000.00"):
        services.payment_orchestrate(
            organization=organization, actor=user, request=make_request(amount=amount)
        )
    url = "/admin/payments/orchestrationpayment/"
    with django_assert_max_num_queries(12):
        resp = staff.get(url, {"status__exact": "approved", "selected_rail": "pix", "amount_range": "100-1k"})
    assert resp.status_code == 200
    assert resp.context["cl"].result_count == 1
    payment = OrchestrationPayment.objects.get(amount=500)
    detail = staff.get(f"{url}{payment.pk}/change/")
    assert detail.status_code == 200
    html = detail.content.decode().lower()
    assert "ranked alternatives" in html and "cost breakdown" in html and "screening" in html


def test_admin_actions_call_services(rails, staff, organization, user):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    url = "/admin/payments/orchestrationpayment/"
    staff.post(url, {"action": "fallback_selected", "_selected_action": [str(payment.pk)]})
    payment.refresh_from_db()
    assert payment.selected_rail != "pix"
    assert payment.events.last().actor.startswith("user:")
    staff.post(url, {"action": "cancel_selected", "_selected_action": [str(payment.pk)]})
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


def test_money_and_status_are_not_editable(rails, staff, organization, user):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    staff.post(
        f"/admin/payments/orchestrationpayment/{payment.pk}/change/", {"status": "succeeded", "amount_0": "1"}
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED and payment.amount.amount == 100


def test_rail_and_fee_admin_pages(rails, staff):
    assert staff.get("/admin/payments/raildefinition/").status_code == 200
    assert staff.get("/admin/payments/paymentrailstatus/").status_code == 200
    from apps.payments.models import RailDefinition

    pix = RailDefinition.objects.get(name="pix")
    assert staff.get(f"/admin/payments/raildefinition/{pix.pk}/change/").status_code == 200


def test_dead_outbox_rows_are_listed_and_retried_from_the_admin(rails, staff, organization, user, settings):
    from apps.payments.models import OutboxMessage
    from tests.payments.conftest import dead_and_failed

    # given an initiation that died in the outbox and left its payment failed
    payment, message = dead_and_failed(organization, user, settings)
    url = "/admin/payments/outboxmessage/"
    # then staff find it by status
    listed = staff.get(url, {"status__exact": "dead"})
    assert listed.status_code == 200 and [m.pk for m in listed.context["cl"].result_list] == [message.pk]
    # when they retry it
    resp = staff.post(url, {"action": "retry_dead", "_selected_action": [str(message.pk)]}, follow=True)
    # then the service retried the payment, and a second click explains why nothing happens
    assert "Retried 1 message(s)." in resp.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED
    assert OutboxMessage.objects.filter(payment=payment, status="pending").count() == 1
    again = staff.post(url, {"action": "retry_dead", "_selected_action": [str(message.pk)]}, follow=True)
    assert "Only dead messages can be retried." in again.content.decode()


def test_staff_refund_a_settled_payment_from_the_admin(
    rails, staff, organization, user, django_capture_on_commit_callbacks
):
    from apps.payments.models import PaymentRefund

    # given a settled payment
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    url = "/admin/payments/orchestrationpayment/"
    # when staff run the refund action (the rail is asked after commit)
    with django_capture_on_commit_callbacks(execute=True):
        resp = staff.post(
            url, {"action": "refund_selected", "_selected_action": [str(payment.pk)]}, follow=True
        )
    # then the service refunded it and the detail page shows the refund
    assert "Refund requested: 1 payment(s)." in resp.content.decode()
    payment.refresh_from_db()
    refund = PaymentRefund.objects.get(payment=payment)
    assert payment.status == PaymentStatus.REFUNDED and refund.requested_by.startswith("user:")
    detail = staff.get(f"{url}{payment.pk}/change/").content.decode()
    assert refund.external_id in detail and "refunded by staff" in detail
