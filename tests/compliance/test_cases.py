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


def test_real_payments_resolution_resumes_or_blocks_and_tells_the_conversation(
    flagged, reviewer_factory, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.conversations import services as conversation_services
    from apps.payments.models import OutboxMessage, PaymentEvent

    told: list[dict] = []
    monkeypatch.setattr(conversation_services, "conversation_payment_notify", lambda **kw: told.append(kw))
    approve_case, reject_case = flagged(), flagged()
    # when a reviewer rejects: the payment is blocked and the conversation is told
    with django_capture_on_commit_callbacks(execute=True):
        case_reject(case=reject_case, actor=reviewer_factory(), reason="Mule account")
    reject_case.payment.refresh_from_db()
    assert reject_case.payment.status == "blocked"
    assert reject_case.payment.failure_reason == "blocked_by_compliance"
    assert [t["payment_id"] for t in told] == [reject_case.payment_id]
    assert told[0]["event"] in ("payment_failed", "payment_blocked")
    event = PaymentEvent.objects.filter(payment_id=reject_case.payment_id).latest("id")
    assert (event.from_status, event.to_status) == ("on_hold", "blocked")
    # when another approves: the payment resumes with an initiation queued for after commit
    with django_capture_on_commit_callbacks() as callbacks:
        case_approve(case=approve_case, actor=reviewer_factory(), reason="ok")
    approve_case.payment.refresh_from_db()
    assert approve_case.payment.status == "approved"
    assert OutboxMessage.objects.filter(payment_id=approve_case.payment_id, kind="initiate").exists()
    assert callbacks


def test_four_eyes_amount_is_configurable(flagged, settings):
    settings.COMPLIANCE_FOUR_EYES_USD = "4000"
    assert flagged(amount="5000.00").requires_four_eyes is True
    settings.COMPLIANCE_FOUR_EYES_USD = "6000"
    assert flagged(amount="5000.00").requires_four_eyes is False


def test_creator_of_the_case_cannot_approve_and_one_person_cannot_give_both_approvals(
    flagged, reviewer_factory, resolved_calls
):
    # given a four-eyes case opened by a reviewer (e.g. raised by hand)
    creator, first = reviewer_factory(), reviewer_factory()
    case = flagged(amount="20000.00")
    Case.objects.filter(pk=case.pk).update(created_by=creator)
    case.refresh_from_db()
    # then its creator cannot approve at all
    with pytest.raises(FourEyesViolation):
        case_approve(case=case, actor=creator, reason="mine")
    # and after a first approval, neither the first approver nor the creator completes it
    case = case_approve(case=case, actor=first, reason="ok")
    for person in (first, creator):
        with pytest.raises(FourEyesViolation):
            case_approve(case=case, actor=person, reason="again")
    case.refresh_from_db()
    assert case.status == "awaiting_second" and resolved_calls == []


def test_a_rescreen_case_is_decided_without_touching_payments(organization, reviewer_factory, resolved_calls):
    case = Case.objects.create(organization=organization, kind="rescreen", party_ref="pak", risk_score=100)
    case = case_approve(case=case, actor=reviewer_factory(), reason="Different person: other DOB")
    assert case.status == "approved" and resolved_calls == []
