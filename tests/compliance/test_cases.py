"""The review queue: assign, approve (four eyes), reject, escalate, request information; OTP guards."""

from __future__ import annotations

import pytest
from djmoney.money import Money

from apps.compliance.models import AuditEntry, Case, CaseEvent, KycProfile
from apps.compliance.services import (
    CaseNotOpen,
    CasePermissionDenied,
    FourEyesViolation,
    OtpRequired,
    case_approve,
    case_assign,
    case_escalate,
    case_reject,
    case_request_info,
    payment_compliance_decide,
)
from tests.compliance.factories import KycProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(organization, payment_factory):
    """A payment on hold with an open case; ``big`` needs four eyes (≥ 10,000 USD)."""

    def make(amount="5000.00", currency="USD", **kw):
        if not KycProfile.objects.filter(organization=organization, party_ref="ana").exists():
            KycProfileFactory(organization=organization, party_ref="ana", tier="full")
        payment = payment_factory(
            payer_ref="ana", amount=Money(amount, currency), payee_name="Carlos Souza", **kw
        )
        # "rapid in-out" style review: force review through the large-amount rule threshold
        result = payment_compliance_decide(payment=payment)
        assert result.decision == "review", result.reasons
        payment.status = "on_hold"
        payment.save(update_fields=["status"])
        return Case.objects.get(pk=result.case_id)

    return make


@pytest.fixture(autouse=True)
def _lower_review_threshold(settings):
    # Make a 5,000 USD first payment to a new counterparty reviewable (score 30 ≥ 30).
    settings.COMPLIANCE_REVIEW_SCORE = 30


def test_unverified_reviewer_is_refused(flagged, reviewer_factory, resolved_calls):
    case = flagged()
    reviewer = reviewer_factory(verify=False)
    with pytest.raises(OtpRequired):
        case_approve(case=case, actor=reviewer, reason="ok")
    with pytest.raises(OtpRequired):
        case_reject(case=case, actor=reviewer, reason="no")
    case.refresh_from_db()
    assert case.status == "open" and resolved_calls == []


def test_user_without_permission_is_refused(flagged, reviewer_factory):
    case = flagged()
    developer = reviewer_factory(role="developer")
    with pytest.raises(CasePermissionDenied):
        case_approve(case=case, actor=developer, reason="ok")


def test_single_approval_below_four_eyes_amount_resumes_payment(
    flagged, reviewer_factory, resolved_calls, django_capture_on_commit_callbacks
):
    # given
    case = flagged(amount="5000.00")
    assert case.requires_four_eyes is False
    reviewer = reviewer_factory()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        case = case_approve(case=case, actor=reviewer, reason="Known supplier")
    # then
    assert case.status == "approved" and case.decided_by == reviewer
    assert resolved_calls == [
        {"payment_id": case.payment_id, "approved": True, "actor": reviewer, "reason": "Known supplier"}
    ]
    assert callbacks  # the case_decided broadcast is queued for after commit
    assert AuditEntry.objects.filter(action="case.approved", target_id=str(case.pk)).exists()


def test_four_eyes_needs_two_different_reviewers(flagged, reviewer_factory, resolved_calls):
    # given
    case = flagged(amount="20000.00")
    assert case.requires_four_eyes is True
    first, second = reviewer_factory(), reviewer_factory()
    # when the first reviewer approves
    case = case_approve(case=case, actor=first, reason="looks fine")
    # then the payment still waits
    assert case.status == "awaiting_second" and resolved_calls == []
    # and the same person cannot give the second approval
    with pytest.raises(FourEyesViolation):
        case_approve(case=case, actor=first, reason="again")
    # when a different reviewer approves
    case = case_approve(case=case, actor=second, reason="agreed")
    # then
    assert case.status == "approved"
    assert case.first_approver == first and case.decided_by == second
    assert len(resolved_calls) == 1 and resolved_calls[0]["approved"] is True


def test_creator_of_payment_cannot_approve(flagged, reviewer_factory, resolved_calls):
    reviewer = reviewer_factory()
    case = flagged(created_by=reviewer)
    with pytest.raises(FourEyesViolation):
        case_approve(case=case, actor=reviewer, reason="mine")
    assert resolved_calls == []


def test_reject_blocks_payment_and_needs_a_reason(flagged, reviewer_factory, resolved_calls):
    case = flagged()
    reviewer = reviewer_factory()
    with pytest.raises(Exception, match="why"):
        case_reject(case=case, actor=reviewer, reason="  ")
    case = case_reject(case=case, actor=reviewer, reason="Fake invoice")
    assert case.status == "rejected"
    assert resolved_calls[0]["approved"] is False and resolved_calls[0]["reason"] == "Fake invoice"
    with pytest.raises(CaseNotOpen):
        case_approve(case=case, actor=reviewer_factory(), reason="too late")


def test_assign_escalate_and_request_info(
    flagged, reviewer_factory, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.conversations import services as conversation_services

    notified = []
    monkeypatch.setattr(
        conversation_services, "conversation_payment_notify", lambda **kw: notified.append(kw), raising=False
    )
    case = flagged()
    reviewer = reviewer_factory()
    case = case_assign(case=case, actor=reviewer)
    assert case.status == "in_review" and case.assigned_to == reviewer
    with django_capture_on_commit_callbacks(execute=True):
        case = case_request_info(case=case, actor=reviewer, question="What is this invoice for?")
    assert case.status == "info_requested"
    assert notified == [
        {
            "payment_id": case.payment_id,
            "event": "compliance_info_requested",
            "detail": "What is this invoice for?",
        }
    ]
    case = case_escalate(case=case, actor=reviewer, note="Senior look")
    assert case.status == "escalated" and case.escalated and case.assigned_to is None
    assert list(CaseEvent.objects.filter(case=case).values_list("action", flat=True)) == [
        "opened",
        "assigned",
        "info_requested",
        "escalated",
    ]


def test_real_payments_resolution_resumes_or_blocks(flagged, reviewer_factory):
    from apps.payments import services as payment_services

    if not hasattr(payment_services, "payment_compliance_resolved"):
        pytest.skip("payments has not landed payment_compliance_resolved yet")
    approve_case, reject_case = flagged(), flagged()
    case_reject(case=reject_case, actor=reviewer_factory(), reason="Mule account")
    reject_case.payment.refresh_from_db()
    assert reject_case.payment.status == "blocked"
    case_approve(case=approve_case, actor=reviewer_factory(), reason="ok")
    approve_case.payment.refresh_from_db()
    assert approve_case.payment.status in ("approved", "initiated", "processing", "succeeded")
