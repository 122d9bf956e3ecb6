from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.utils import OperationalError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from agentpay.logging import mask_text
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def test_healthz():
    resp = Client().get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok(settings):
    resp = Client().get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["checks"]["database"] == "ok"
    assert resp.json()["checks"]["cache"] == "ok"


@pytest.mark.django_db
def test_readyz_503_names_the_database_when_it_is_down():
    with mock.patch("apps.core.views.connection") as conn:
        conn.cursor.side_effect = OperationalError("connection refused")
        resp = Client().get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["code"] == "not_ready"
    assert "database" in body["message"]
    assert body["checks"]["database"].startswith("error")
    assert body["checks"]["cache"] == "ok"


@pytest.mark.django_db
def test_readyz_503_names_the_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with mock.patch("apps.core.views._check_broker", side_effect=ConnectionError("down")):
        resp = Client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["broker"].startswith("error")


@pytest.mark.django_db
def test_role_groups_created_by_migration():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Owner", "Finance", "Compliance reviewer", "Developer"} <= names
    finance = Group.objects.get(name="Finance")
    codenames = set(finance.permissions.values_list("codename", flat=True))
    assert "view_orchestrationpayment" in codenames
    assert "change_orchestrationpayment" in codenames
    reviewer = Group.objects.get(name="Compliance reviewer")
    assert "change_orchestrationpayment" not in set(reviewer.permissions.values_list("codename", flat=True))


@pytest.mark.django_db
def test_admin_requires_a_verified_otp_device():
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    # logged in with a password only: the console refuses
    resp = client.get("/admin/")
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
    # after verifying a TOTP device in the session it opens
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    from django.test import RequestFactory
    from django_otp import login as otp_login

    request = RequestFactory().get("/")
    request.session = client.session
    request.user = staff
    otp_login(request, device)
    request.session.save()
    client.cookies["sessionid"] = request.session.session_key
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_otp_can_be_relaxed_for_local(settings):
    settings.ADMIN_REQUIRE_OTP = False
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_create_staff_user_prints_provisioning_uri_and_qr():
    out = io.StringIO()
    call_command("create_staff_user", "alice", "--password", "s3cret-pass!", stdout=out)
    text = out.getvalue()
    assert "otpauth://totp/" in text
    assert "█" in text or "▀" in text or "▄" in text  # a terminal QR code
    device = TOTPDevice.objects.get(user__username="alice")
    assert device.confirmed and device.user.is_staff


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_every_operation_has_responses():
    from openapi_spec_validator import validate

    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", "--validate", "--fail-on-warn", stdout=out)
    schema = json.loads(out.getvalue())
    validate(schema)
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert op.get("responses"), f"{method.upper()} {path} has no response schema"
            if method in {"post", "put", "patch"} and "{id}" not in path:
                pass
    client = Client()
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/redoc/").status_code == 200


def test_log_masking():
    text = (
        "pay DE89 3704 0044 0532 0130 00 cpf 123.456.789-09 card 4111 1111 1111 1111 phone +55 11 98765-4321"
    )
    masked = mask_text(text)
    assert "3704 0044" not in masked and "DE89****3000" in masked
    assert "123.456.789" not in masked and "***.***.***-09" in masked
    assert "4111 1111 1111 1111" not in masked and "**** 1111" in masked
    assert "98765" not in masked


def test_structlog_json_drops_secrets_and_masks(capsys):
    import structlog

    from agentpay.logging import configure_structlog

    config = configure_structlog(level="INFO", fmt="json")
    logging.config.dictConfig(config)
    structlog.get_logger("t").info("webhook", signature="abc", iban="DE89370400440532013000", payment_id="p1")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["signature"] == "***"
    assert record["iban"] == "DE89****3000"
    assert record["payment_id"] == "p1"


def test_metrics_endpoint_exposes_design_metrics():
    body = Client().get("/metrics").content.decode()
    for name in (
        "intent_classification_latency_seconds",
        "payment_orchestration_latency_seconds",
        "payment_success_rate",
        "rail_availability",
        "conversation_active_count",
    ):
        assert name in body, name


def test_check_deploy_under_production_settings_reports_nothing():
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="agentpay.settings.production",
        SECRET_KEY="x" * 30 + uuid.uuid4().hex + "Y!z#",
        ALLOWED_HOSTS="agentpay.example.com",
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


@pytest.mark.parametrize("module", ["agentpay.wsgi", "agentpay.asgi"])
def test_web_entry_points_load_the_urlconf_before_the_first_request(module):
    """A new web worker's first request used to import the URLconf and every view (about 1 s)."""
    script = (
        f"import gc, sys, {module}\n"
        "print('agentpay.urls' in sys.modules, 'apps.intent.engine.pipeline' in sys.modules,"
        " 'apps.conversations.mcp.server' in sys.modules, gc.get_freeze_count() > 10000)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentpay.settings.test"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True", "True"]


@pytest.mark.celery_worker
def test_celery_round_trip_through_the_real_broker(celery_worker_process):
    from agentpay.celery import app

    token = uuid.uuid4().hex
    result = app.send_task("core.ping", args=[token], queue=celery_worker_process.queue)
    payload = result.get(timeout=60)
    assert payload["token"] == token
    assert payload["pid"] == celery_worker_process.pid


@pytest.mark.django_db
def test_local_login_verifies_the_session_when_a_token_is_typed(settings):
    # given local settings and a reviewer with a TOTP device
    settings.ADMIN_REQUIRE_OTP = False
    reviewer = UserFactory(is_staff=True, username="rev")
    reviewer.set_password("pw-123456789")
    reviewer.save()
    device = TOTPDevice.objects.create(user=reviewer, name="default", confirmed=True)
    from django_otp.oath import totp

    # when they sign in with the password only, the console opens but the session is unverified
    client = Client()
    resp = client.post(
        "/admin/login/", {"username": "rev", "password": "pw-123456789", "next": "/admin/"}, follow=True
    )
    assert resp.status_code == 200 and resp.context["user"].is_authenticated
    assert not resp.context["user"].is_verified()
    # and with the current token as well, the session is verified (cases can be decided)
    client = Client()
    token = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    resp = client.post(
        "/admin/login/",
        {
            "username": "rev",
            "password": "pw-123456789",
            "otp_device": device.persistent_id,
            "otp_token": token,
        },
        follow=True,
    )
    assert resp.context["user"].is_verified()
    # and a wrong token is refused
    resp = Client().post(
        "/admin/login/", {"username": "rev", "password": "pw-123456789", "otp_token": "000000"}
    )
    assert resp.status_code == 200 and resp.context["form"].errors


@pytest.mark.django_db
def test_seed_demo_gives_reviewers_a_totp_device():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "TOTP for reviewer: otpauth://totp/" in text and "TOTP for reviewer2: otpauth://totp/" in text
    assert (
        TOTPDevice.objects.filter(user__username__in=["reviewer", "reviewer2"], confirmed=True).count() == 2
    )
