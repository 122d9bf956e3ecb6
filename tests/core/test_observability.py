"""Sentry and OpenTelemetry are switched on by their variables and really export.

Each runs in a subprocess (global SDK state) against a local fake collector.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from apps.core.services import api_key_create

ROOT = Path(__file__).resolve().parents[2]


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector():
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, DJANGO_SETTINGS_MODULE="agentpay.settings.test", PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True, timeout=120
    )


def test_opentelemetry_exports_spans_over_otlp_when_configured(collector):
    code = (
        "import django; django.setup()\n"
        "from agentpay.observability import init_tracing\n"
        "assert init_tracing('test')\n"
        "from opentelemetry import trace\n"
        "with trace.get_tracer('t').start_as_current_span('orchestrate_payment'): pass\n"
        "trace.get_tracer_provider().force_flush()\n"
    )
    proc = _run(code, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector}")
    assert proc.returncode == 0, proc.stderr
    paths = [p for p, _ in _Collector.received]
    assert "/v1/traces" in paths
    assert any(b"orchestrate_payment" in body for _, body in _Collector.received)


def test_tracing_is_off_without_the_endpoint():
    proc = _run(
        "import django; django.setup()\nfrom agentpay.observability import init_tracing\nprint(init_tracing('x'))"
    )
    assert proc.stdout.strip() == "False"


def test_sentry_reports_errors_when_dsn_is_set(collector):
    code = (
        "import django; django.setup()\n"
        "import sentry_sdk\n"
        "sentry_sdk.capture_exception(ValueError('boom-agentpay'))\n"
        "sentry_sdk.flush(5)\n"
    )
    proc = _run(code, SENTRY_DSN=f"http://publickey@127.0.0.1:{collector}/42")
    assert proc.returncode == 0, proc.stderr
    assert any(path.startswith("/api/42/") and b"boom-agentpay" in body for path, body in _Collector.received)


@pytest.mark.django_db
def test_api_key_without_the_endpoint_scope_is_refused(organization):
    from rest_framework.test import APIClient

    _, raw = api_key_create(organization=organization, name="reader", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get("/api/v1/payments").status_code == 200
    resp = client.post("/api/v1/api-keys", {"name": "x", "scopes": ["admin"]}, format="json")
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_request_logs_carry_request_id_user_and_organization(auth_client, organization, capsys):
    import json
    import logging.config

    from django.conf import settings

    from agentpay.logging import configure_structlog

    logging.config.dictConfig(configure_structlog(level="INFO", fmt="json"))
    try:
        auth_client.get("/api/v1/payments")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        logging.config.dictConfig(settings.LOGGING)
    finished = [x for x in lines if x.get("event") == "request_finished"]
    assert finished, lines
    assert finished[-1]["organization_id"] == str(organization.pk)
    assert finished[-1]["request_id"]
    assert finished[-1]["user_id"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("num_proxies", "expected"),
    [(0, "10.0.0.7"), (1, "203.0.113.9")],
)
def test_request_logs_name_the_ip_the_rate_limits_count(auth_client, capsys, settings, num_proxies, expected):
    import json
    import logging.config

    from agentpay.logging import configure_structlog

    # given a client that claims an address in X-Forwarded-For
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    logging.config.dictConfig(configure_structlog(level="INFO", fmt="json"))
    try:
        auth_client.get(
            "/api/v1/me", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9"
        )
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        logging.config.dictConfig(settings.LOGGING)
    finished = [x for x in lines if x.get("event") == "request_finished"]
    # then without trusted proxies the header is ignored; with one, its last hop is the client
    assert finished[-1]["ip"] == expected


def _json_log_lines(capsys, level, request):
    import json
    import logging.config

    from django.conf import settings

    from agentpay.logging import configure_structlog

    logging.config.dictConfig(configure_structlog(level=level, fmt="json"))
    try:
        response = request()
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        logging.config.dictConfig(settings.LOGGING)
    return response, lines


@pytest.mark.django_db
def test_request_log_events_have_django_structlogs_fields(auth_client, user, capsys):
    response, lines = _json_log_lines(
        capsys,
        "INFO",
        lambda: auth_client.get("/api/v1/me?x=1", HTTP_USER_AGENT="probe/1", HTTP_X_REQUEST_ID="up-1"),
    )
    assert response.status_code == 200
    [started] = [x for x in lines if x.get("event") == "request_started"]
    [finished] = [x for x in lines if x.get("event") == "request_finished"]
    assert started["request"] == finished["request"] == "GET /api/v1/me?x=1"
    assert started["user_agent"] == "probe/1" and finished["code"] == 200
    assert (
        started["request_id"] == finished["request_id"] != "up-1"
    )  # upstream ids are not trusted by default
    assert started["ip"] == finished["ip"] == "127.0.0.1"
    assert "user_id" not in started  # the API authenticates in the view: nobody knows the user yet
    assert finished["user_id"] == str(user.pk)


@pytest.mark.django_db
def test_an_upstream_request_id_is_kept_when_trusted(auth_client, capsys, settings):
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    _, lines = _json_log_lines(
        capsys, "INFO", lambda: auth_client.get("/api/v1/me", HTTP_X_REQUEST_ID="up-1")
    )
    assert {x["request_id"] for x in lines if x.get("event", "").startswith("request_")} == {"up-1"}


@pytest.mark.django_db
def test_logging_a_request_does_not_look_up_its_session_user(
    client, django_user_model, capsys, django_assert_num_queries
):
    """django-structlog evaluates Django's lazy user to log its id (a session and a user query on a
    request that never needed them); the request log only names a user the request already knows."""
    client.force_login(django_user_model.objects.create_user("staff-reader", password="x"))
    with django_assert_num_queries(0):
        response, lines = _json_log_lines(capsys, "INFO", lambda: client.get("/healthz"))
    assert response.status_code == 200
    assert [x.get("user_id", "-") for x in lines if x.get("event") == "request_finished"] == ["-"]


@pytest.mark.django_db
def test_signal_receivers_get_the_events_fields_when_the_events_are_not_logged(auth_client, capsys):
    from django_structlog import signals

    seen = []

    def started(sender, request, logger, log_kwargs, **kwargs):
        seen.append(("started", log_kwargs["request"]))

    def finished(sender, request, logger, response, log_kwargs, **kwargs):
        seen.append(("finished", log_kwargs["code"]))

    signals.bind_extra_request_metadata.connect(started)
    signals.bind_extra_request_finished_metadata.connect(finished)
    try:
        _, lines = _json_log_lines(capsys, "WARNING", lambda: auth_client.get("/api/v1/me"))
    finally:
        signals.bind_extra_request_metadata.disconnect(started)
        signals.bind_extra_request_finished_metadata.disconnect(finished)
    assert seen == [("started", "GET /api/v1/me"), ("finished", 200)]
    assert not [x for x in lines if x.get("event", "").startswith("request_")]
