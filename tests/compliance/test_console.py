"""The compliance console: queue filters and SLA age, organisation scoping, list pages without N+1
queries, rule editing, and how refusals answer."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from apps.compliance.models import (
    Case,
    DailySummary,
    PaymentDecision,
    RiskRule,
    ScreeningResult,
    TierLimit,
)
from apps.compliance.services import CasePermissionDenied, audit_record, case_approve
from tests.compliance.conftest import otp_client
from tests.compliance.factories import KycProfileFactory
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_case(organization, payment_factory):
    def make(*, hours_ago: float = 0, org: Any = None, **fields: Any) -> Case:
        org = org or organization
        payment = payment_factory(organization=org, status="on_hold", amount=Money("500", "USD"))
        fields.setdefault("sla_due_at", timezone.now() + timedelta(hours=24 - hours_ago))
        case = Case.objects.create(organization=org, payment=payment, **fields)
        Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
        return case

    return make


def listed(client: Any, params: dict[str, Any] | None = None) -> set[Any]:
    response = client.get("/admin/compliance/case/", params or {})
    assert response.status_code == 200
    return {c.pk for c in response.context["cl"].result_list}


# --- the queue ----------------------------------------------------------------------------------


def test_queue_filters_by_status_age_score_and_reviewer(make_case, reviewer_factory):
    # given three cases of different age, score, status and reviewer
    reviewer, other = reviewer_factory(), reviewer_factory()
    fresh = make_case(hours_ago=1, risk_score=20)
    overdue = make_case(
        hours_ago=30,
        risk_score=120,
        status="in_review",
        assigned_to=reviewer,
        sla_due_at=timezone.now() - timedelta(hours=6),
    )
    decided = make_case(
        hours_ago=10, risk_score=60, status="approved", decided_by=other, decided_at=timezone.now()
    )
    client = otp_client(reviewer)
    # then every filter keeps exactly the cases it names
    assert listed(client) == {fresh.pk, overdue.pk, decided.pk}
    assert listed(client, {"age": "4h"}) == {fresh.pk}
    assert listed(client, {"age": "24h"}) == {fresh.pk, decided.pk}
    assert listed(client, {"age": "old"}) == {overdue.pk}
    assert listed(client, {"age": "sla"}) == {overdue.pk}
    assert listed(client, {"score": "low"}) == {fresh.pk}
    assert listed(client, {"score": "mid"}) == {decided.pk}
    assert listed(client, {"score": "high"}) == {overdue.pk}
    assert listed(client, {"status__exact": "approved"}) == {decided.pk}
    assert listed(client, {"queue": "open"}) == {fresh.pk, overdue.pk}
    assert listed(client, {"queue": "mine"}) == {overdue.pk}
    assert listed(client, {"queue": "closed"}) == {decided.pk}
    assert listed(client, {"assigned_to__id__exact": reviewer.pk}) == {overdue.pk}
    assert listed(client, {"decided_by__id__exact": other.pk}) == {decided.pk}


def test_queue_is_ordered_by_risk_and_shows_sla_age(make_case, reviewer_factory):
    fresh = make_case(hours_ago=1, risk_score=20)
    overdue = make_case(hours_ago=30, risk_score=120, sla_due_at=timezone.now() - timedelta(hours=6))
    make_case(hours_ago=10, risk_score=60, status="approved", decided_at=timezone.now())
    response = otp_client(reviewer_factory()).get("/admin/compliance/case/")
    rows = list(response.context["cl"].result_list)
    assert [c.risk_score for c in rows] == [120, 60, 20]
    text = response.content.decode().replace("\xa0", " ")
    assert "1 day, 6 hours · overdue by 6 hours" in text  # the overdue case
    assert re.search(r"1 hour · due in 2[23] hours", text)  # the fresh one
    assert rows[0].pk == overdue.pk and rows[2].pk == fresh.pk


# --- organisations ------------------------------------------------------------------------------


def test_reviewers_see_and_decide_only_their_organisations_cases(make_case, reviewer_factory, resolved_calls):
    # given a case of another organisation
    elsewhere = OrganizationFactory()
    mine, theirs = make_case(), make_case(org=elsewhere)
    reviewer = reviewer_factory()
    client = otp_client(reviewer)
    # then the console neither lists nor opens it
    assert listed(client) == {mine.pk}
    assert client.get(f"/admin/compliance/case/{theirs.pk}/act/approve/").status_code == 404
    assert client.post(f"/admin/compliance/case/{theirs.pk}/act/approve/", {"text": "x"}).status_code == 404
    # and the service refuses it too, even though the reviewer holds the permission
    with pytest.raises(CasePermissionDenied):
        case_approve(case=theirs, actor=reviewer, reason="not mine")
    theirs.refresh_from_db()
    assert theirs.status == "open" and resolved_calls == []


def test_a_reviewer_elsewhere_is_only_a_developer_here(make_case, reviewer_factory, resolved_calls):
    from apps.core.services import membership_add

    # given someone who reviews for another organisation and is a developer in ours
    person = reviewer_factory(role="developer")
    membership_add(organization=OrganizationFactory(), user=person, role="compliance_reviewer")
    person = type(person).objects.get(pk=person.pk)
    person.is_verified = lambda: True
    assert person.has_perm("compliance.decide_case")  # the group is global
    # then they still cannot decide our case
    with pytest.raises(CasePermissionDenied):
        case_approve(case=make_case(), actor=person, reason="ok")
    assert resolved_calls == []


# --- list pages: a fixed number of queries however many rows --------------------------------------


def _rows(name: str, n: int, organization: Any, payment_factory: Any) -> None:
    for _ in range(n):
        payment = payment_factory(organization=organization)
        if name == "case":
            Case.objects.create(organization=organization, payment=payment, assigned_to=None, risk_score=10)
        elif name == "kycprofile":
            KycProfileFactory(organization=organization)
        elif name == "paymentdecision":
            PaymentDecision.objects.create(organization=organization, payment=payment, decision="approve")
        elif name == "auditentry":
            audit_record(action="x", target=payment, organization=organization)
        elif name == "riskrule":
            RiskRule.objects.create(
                organization=organization, code=f"r-{payment.pk.hex[:8]}", name="r", kind="amount_threshold"
            )
        elif name == "tierlimit":
            TierLimit.objects.create(
                organization=organization, tier="basic", rail=payment.pk.hex[:8], per_transaction=Decimal(1)
            )
        elif name == "screeningresult":
            profile: Any = KycProfileFactory(organization=organization)
            ScreeningResult.objects.create(
                organization=organization, profile=profile, party_ref=profile.party_ref, outcome="clear"
            )
        elif name == "dailysummary":
            other: Any = OrganizationFactory()
            DailySummary.objects.create(organization=other, day=timezone.now().date(), data={})


@pytest.mark.parametrize(
    "name",
    [
        "case",
        "kycprofile",
        "paymentdecision",
        "auditentry",
        "riskrule",
        "tierlimit",
        "screeningresult",
        "dailysummary",
    ],
)
def test_list_pages_do_not_query_per_row(name, organization, payment_factory, admin_client_verified):
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client_verified.get(f"/admin/compliance/{name}/")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    # given two rows, then seven more
    _rows(name, 2, organization, payment_factory)
    few = page_queries()
    _rows(name, 7, organization, payment_factory)
    # then the page costs the same
    assert page_queries() == few


def test_case_queue_for_a_reviewer_stays_within_a_query_budget(make_case, reviewer_factory):
    for i in range(12):
        make_case(hours_ago=i, risk_score=10 * i)
    client = otp_client(reviewer_factory())
    client.get("/admin/compliance/case/")  # sessions, content types warmed
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/admin/compliance/case/").status_code == 200
    assert len(ctx.captured_queries) <= 14, [q["sql"][:120] for q in ctx.captured_queries]


# --- rules and limits in the console ---------------------------------------------------------------


def _rule_form(**overrides: Any) -> dict[str, Any]:
    return {
        "code": "rapid-48h",
        "name": "Rapid in-out over two days",
        "kind": "rapid_in_out",
        "params": '{"window_hours": 48, "ratio": "0.7"}',
        "score": "40",
        "action": "review",
        "mode": "shadow",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **overrides,
    }


def test_rule_form_refuses_unknown_or_bad_params(admin_client_verified):
    response = admin_client_verified.post(
        "/admin/compliance/riskrule/add/", _rule_form(params='{"window_hour": 48, "ratio": "2"}')
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["params"]
    assert any("window_hour" in e for e in errors) and any("ratio" in e for e in errors)
    assert not RiskRule.objects.filter(code="rapid-48h").exists()


def test_rule_saved_from_the_console_is_versioned_and_audited(admin_client_verified):
    from apps.compliance.models import AuditEntry

    response = admin_client_verified.post("/admin/compliance/riskrule/add/", _rule_form())
    assert response.status_code == 302
    rule = RiskRule.objects.get(code="rapid-48h")
    assert rule.params == {"window_hours": 48, "ratio": "0.7"} and rule.version == 1
    assert rule.versions.get().snapshot["params"] == rule.params
    assert AuditEntry.objects.get(action="compliance.rule_saved").after["code"] == "rapid-48h"


def test_organisation_owners_cannot_change_platform_rules(organization, reviewer_factory):
    owner = reviewer_factory(role="owner")
    client = otp_client(owner)
    platform = RiskRule.objects.get(organization__isnull=True, code="large-amount")
    # the platform rule is visible but read-only
    page = client.get(f"/admin/compliance/riskrule/{platform.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/compliance/riskrule/{platform.pk}/change/", _rule_form()).status_code == 403
    # new rules must belong to the owner's own organisation
    for org in ("", str(OrganizationFactory().pk)):
        response = client.post("/admin/compliance/riskrule/add/", _rule_form(organization=org))
        assert response.status_code == 200 and "organization" in response.context["adminform"].form.errors
    response = client.post("/admin/compliance/riskrule/add/", _rule_form(organization=str(organization.pk)))
    assert response.status_code == 302
    assert RiskRule.objects.get(code="rapid-48h").organization_id == organization.pk
    platform.refresh_from_db()
    assert platform.version == 1


# --- actions in the console --------------------------------------------------------------------------


def test_assign_to_me_from_the_case_page(make_case, reviewer_factory):
    case = make_case()
    reviewer = reviewer_factory()
    response = otp_client(reviewer).post(f"/admin/compliance/case/{case.pk}/act/assign/", {"text": ""})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == reviewer and case.status == "in_review"


def test_refusals_answer_403_and_decided_cases_409(make_case, reviewer_factory, resolved_calls):
    reviewer = reviewer_factory()
    client = otp_client(reviewer)
    # the creator of the payment cannot approve it
    own = make_case(created_by=reviewer)
    response = client.post(f"/admin/compliance/case/{own.pk}/act/approve/", {"text": "mine"})
    assert response.status_code == 403 and b"cannot approve" in response.content
    # a decided case cannot be decided again
    done = make_case(status="rejected", decided_at=timezone.now())
    response = client.post(f"/admin/compliance/case/{done.pk}/act/approve/", {"text": "ok"})
    assert response.status_code == 409
    assert resolved_calls == []


def test_sar_draft_needs_the_export_permission(make_case, reviewer_factory):
    case = make_case()
    assert (
        otp_client(reviewer_factory(role="developer"))
        .get(f"/admin/compliance/case/{case.pk}/sar/")
        .status_code
        == 403
    )
    assert otp_client(reviewer_factory()).get(f"/admin/compliance/case/{case.pk}/sar/").status_code == 200
