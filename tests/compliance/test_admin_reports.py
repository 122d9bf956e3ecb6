"""The console (admin) review flow, exports, SAR draft and the daily summary."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from djmoney.money import Money
from openpyxl import load_workbook

from apps.compliance.models import Case, DailySummary
from apps.compliance.reports import case_sar_draft, compliance_report
from apps.compliance.services import payment_compliance_decide
from tests.compliance.conftest import otp_client
from tests.compliance.factories import KycProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(organization, payment_factory, settings):
    settings.COMPLIANCE_REVIEW_SCORE = 30
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    payment = payment_factory(payer_ref="ana", payee_name="Carlos Souza", amount=Money("5000", "USD"))
    result = payment_compliance_decide(payment=payment)
    payment.status = "on_hold"
    payment.save(update_fields=["status"])
    return Case.objects.get(pk=result.case_id)


def test_console_requires_a_verified_otp_session(case, reviewer_factory):
    from django.test import Client

    reviewer = reviewer_factory(verify=False)
    client = Client()
    client.force_login(reviewer)
    # the admin site itself refuses a session without a verified device
    response = client.get(f"/admin/compliance/case/{case.pk}/act/approve/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(f"/admin/compliance/case/{case.pk}/act/approve/", {"text": "ok"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "open"


def test_a_case_whose_context_task_never_ran_is_gathered_when_a_reviewer_opens_it(
    case, reviewer_factory, payment_factory, monkeypatch
):
    from apps.compliance import services

    # given a case the sweep has not reached yet
    assert case.context_at is None and case.counterparty_history == {}
    # when a reviewer opens it
    page = otp_client(reviewer_factory()).get(f"/admin/compliance/case/{case.pk}/change/")
    # then the page shows the gathered context, stored once
    assert page.status_code == 200
    case.refresh_from_db()
    assert case.context_at is not None and case.counterparty_history["payments"] == 0
    assert b"being gathered" not in page.content and b"open_cases" in page.content
    gathered_at = case.context_at
    calls = []
    monkeypatch.setattr(services, "_conversation_excerpt", lambda p: calls.append(p) or [])
    assert services.case_context_gather(case=case).context_at == gathered_at and calls == []


def test_the_sweep_gathers_new_cases_once(
    organization, payment_factory, settings, django_assert_max_num_queries
):
    from apps.compliance.tasks import case_context_sweep_task

    settings.COMPLIANCE_REVIEW_SCORE = 30
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    payment_factory(payer_ref="bia", payee_ref="loja", status="succeeded")
    # given two new review cases and an approval
    cases = [
        payment_compliance_decide(
            payment=payment_factory(payer_ref="ana", payee_ref=payee, amount=Money("5000", "USD"))
        ).case_id
        for payee in ("loja", "feira")
    ]
    assert (
        payment_compliance_decide(payment=payment_factory(payer_ref="bia", payee_ref="loja")).case_id is None
    )
    assert all(c is not None for c in cases)
    # when the beat task runs twice
    assert case_context_sweep_task() == 2
    with django_assert_max_num_queries(1):
        assert case_context_sweep_task() == 0
    # then each case has its context, as of its opening
    loja, feira = (Case.objects.get(pk=pk) for pk in cases)
    assert loja.context_at and feira.context_at
    assert loja.counterparty_history["by_status"] == {"succeeded": 1}
    assert feira.counterparty_history["payments"] == 0


def test_reviewer_approves_from_the_console(case, reviewer_factory, resolved_calls):
    reviewer = reviewer_factory()
    client = otp_client(reviewer)
    page = client.get(f"/admin/compliance/case/{case.pk}/change/")
    assert page.status_code == 200
    assert b"new-counterparty-large" in page.content and b"Approve" in page.content
    response = client.post(f"/admin/compliance/case/{case.pk}/act/approve/", {"text": "Known supplier"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "approved"
    assert resolved_calls and resolved_calls[0]["approved"] is True


def test_reject_without_reason_is_refused_in_console(case, reviewer_factory, resolved_calls):
    client = otp_client(reviewer_factory())
    response = client.post(f"/admin/compliance/case/{case.pk}/act/reject/", {"text": ""})
    assert response.status_code == 200 and b"required" in response.content
    assert resolved_calls == []


def test_queue_filters_and_assign_to_me(case, reviewer_factory):
    reviewer = reviewer_factory()
    client = otp_client(reviewer)
    for params in (
        {"queue": "open"},
        {"age": "sla"},
        {"score": "low"},
        {"status__exact": "open"},
        {"queue": "mine"},
    ):
        assert client.get("/admin/compliance/case/", params).status_code == 200
    response = client.post(
        "/admin/compliance/case/", {"action": "assign_to_me", "_selected_action": [str(case.pk)]}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == reviewer and case.status == "in_review"
    assert str(case.pk)[:8].encode() in client.get("/admin/compliance/case/", {"queue": "mine"}).content


def test_export_actions_csv_and_xlsx(case, reviewer_factory):
    client = otp_client(reviewer_factory())
    data = {"action": "export_csv", "_selected_action": [str(case.pk)]}
    response = client.post("/admin/compliance/case/", data)
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][0] == "case_id" and rows[2][0] == str(case.pk)
    response = client.post("/admin/compliance/case/", {**data, "action": "export_xlsx"})
    wb = load_workbook(io.BytesIO(response.content))
    assert wb["cases"]["A2"].value == str(case.pk)


def test_period_report_has_cases_and_decisions(case, tmp_path):
    today = timezone.now().date()
    xlsx = load_workbook(io.BytesIO(compliance_report(start=today, end=today, fmt="xlsx")))
    assert xlsx["cases"].max_row == 2 and xlsx["decisions"].max_row == 2
    assert xlsx["decisions"]["E2"].value == "review"
    out = tmp_path / "r.csv"
    call_command(
        "compliance_report", "--from", str(today), "--to", str(today), "--format", "csv", "-o", str(out)
    )
    text = out.read_text()
    assert "# cases" in text and "# decisions" in text and str(case.pk) in text
    yesterday = today - timedelta(days=1)
    assert str(case.pk) not in compliance_report(start=yesterday, end=yesterday, fmt="csv").decode()


def test_csv_cells_cannot_inject_formulas(organization, payment_factory, settings):
    settings.COMPLIANCE_REVIEW_SCORE = 0
    result = payment_compliance_decide(payment=payment_factory(payer_ref="=HYPERLINK(1)"))
    assert result.decision == "review"
    today = timezone.now().date()
    assert ",'=HYPERLINK(1)," in compliance_report(start=today, end=today, fmt="csv").decode()


def test_sar_draft(case, reviewer_factory):
    text = case_sar_draft(case=case)
    assert "SUSPICIOUS ACTIVITY REPORT" in text and str(case.payment_id) in text
    assert "First payment to this counterparty" in text
    response = otp_client(reviewer_factory()).get(f"/admin/compliance/case/{case.pk}/sar/")
    assert response.status_code == 200 and b"SUSPICIOUS ACTIVITY REPORT" in response.content


def test_daily_summary_command(case, capsys):
    today = timezone.now().date()
    call_command("compliance_daily_summary", "--day", str(today))
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["decisions"] == {"review": 1} and line["cases_opened"] == 1 and line["open_cases"] == 1
    assert DailySummary.objects.get(day=today).data["top_reasons"][0][0] == "new-counterparty-large"


def test_beat_schedule_declares_weekly_refresh_and_daily_summary():
    from apps.compliance.schedule import BEAT_SCHEDULE
    from apps.core.services import beat_schedule_collect

    collected = beat_schedule_collect()
    assert collected["compliance.sanctions_refresh"] == BEAT_SCHEDULE["compliance.sanctions_refresh"]
    assert BEAT_SCHEDULE["compliance.sanctions_refresh"]["crontab"]["day_of_week"] == "1"
    assert "compliance.daily_summary" in collected


def test_refresh_task_imports_configured_urls(settings, db):
    from pathlib import Path

    from apps.compliance.models import SanctionsList
    from apps.compliance.tasks import sanctions_refresh_task

    data = Path(__file__).resolve().parents[2] / "apps" / "compliance" / "data" / "sanctions"
    settings.COMPLIANCE_SANCTIONS_URLS = {
        "un-xml": str(data / "un" / "consolidated.xml"),
        "eu-xml": "/nonexistent.xml",
    }
    out = sanctions_refresh_task()
    assert out["un-xml"]["changed"] is True and "error" in out["eu-xml"]
    assert SanctionsList.objects.filter(source="un", is_active=True).exists()


def test_refresh_sources_come_from_settings_or_the_environment(settings, monkeypatch, db):
    from apps.compliance import conf
    from apps.compliance.models import SanctionsList
    from apps.compliance.tasks import sanctions_refresh_task

    # given nothing configured, the weekly task imports nothing
    if hasattr(settings, "COMPLIANCE_SANCTIONS_URLS"):
        del settings.COMPLIANCE_SANCTIONS_URLS
    monkeypatch.delenv("COMPLIANCE_SANCTIONS_URLS", raising=False)
    monkeypatch.delenv("COMPLIANCE_SANCTIONS_REFRESH", raising=False)
    assert conf.sanctions_urls() == {}
    assert sanctions_refresh_task() == {} and not SanctionsList.objects.exists()
    # the environment names format=url pairs
    monkeypatch.setenv(
        "COMPLIANCE_SANCTIONS_URLS", "ofac-csv=https://x.test/SDN.CSV,un-xml=https://y.test/c.xml"
    )
    assert conf.sanctions_urls() == {"ofac-csv": "https://x.test/SDN.CSV", "un-xml": "https://y.test/c.xml"}
    # and COMPLIANCE_SANCTIONS_REFRESH=true falls back to the official OFAC, EU and UN lists
    monkeypatch.delenv("COMPLIANCE_SANCTIONS_URLS")
    monkeypatch.setenv("COMPLIANCE_SANCTIONS_REFRESH", "true")
    assert set(conf.sanctions_urls()) == {"ofac-xml", "eu-xml", "un-xml"}
