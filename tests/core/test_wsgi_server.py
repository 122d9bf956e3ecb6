"""The production WSGI server (granian, as the README runs it) serving ``agentpay.wsgi.application``
over real HTTP: the webhooks' fast path stores before it acknowledges and acknowledges a retry
without storing it twice; the API answers through Django's handler with its error body."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from apps.conversations.models import WebhookEvent
from tests.conversations.factories import TG_SECRET, telegram_account
from tests.conversations.test_webhooks_telegram import message_update

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def granian_url() -> Iterator[str]:
    """One granian worker on a free port, on this test's (committed) PostgreSQL database."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    database_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentpay.settings.test", "DATABASE_URL": database_url}
    cmd = [str(Path(sys.executable).parent / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--blocking-threads", "2", "--no-ws"]
    proc = subprocess.Popen([*cmd, "agentpay.wsgi:application"], cwd=ROOT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "granian exited"
            assert time.monotonic() < deadline, "granian did not answer /healthz"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def test_webhooks_are_stored_once_and_acknowledged(organization, granian_url):
    account = telegram_account(organization)
    body = json.dumps(message_update(424242, "oi")).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}
    with httpx.Client(base_url=granian_url, timeout=10) as client:
        first = client.post("/api/v1/webhooks/telegram", content=body, headers=headers)
        retry = client.post("/api/v1/webhooks/telegram", content=body, headers=headers)
        refused = client.post(
            "/api/v1/webhooks/telegram",
            content=body,
            headers={**headers, "X-Telegram-Bot-Api-Secret-Token": "x"},
        )
    assert first.status_code == 200 and first.json()["stored"] == 1
    assert retry.status_code == 200 and retry.json()["stored"] == 0
    assert refused.status_code in (401, 403) and refused.json()["code"]
    assert WebhookEvent.objects.filter(account=account).count() == 1


def test_the_api_answers_with_its_json_bodies(user, granian_url):
    token = AccessToken.for_user(user)
    with httpx.Client(base_url=granian_url, timeout=10) as client:
        listed = client.get("/api/v1/payments", headers={"Authorization": f"Bearer {token}"})
        anonymous = client.get("/api/v1/payments")
        missing = client.get("/api/v1/nothing-here", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.json()["results"] == []
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    assert missing.status_code == 404 and missing.json()["code"]
