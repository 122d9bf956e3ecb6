"""Start web (uvicorn), a Celery worker and Celery beat together; print the URLs.

This is what ``make run`` calls. In production run the three as separate
services (see README): N web processes, M workers, exactly one beat.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from honcho.manager import Manager


class Command(BaseCommand):
    help = "Run web + Celery worker + Celery beat in one terminal (honcho)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        py = sys.executable
        env = dict(os.environ)
        env.setdefault(
            "DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "agentpay.settings.local")
        )
        base = f"http://{opts['host']}:{opts['port']}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "AgentPay is starting:",
                    f"  Admin console   {base}/admin/   (login: demo / demo-pass-2026)",
                    "  Reviewers       reviewer, reviewer2 (same password; decide cases with the TOTP"
                    " printed by seed_demo above)",
                    f"  API docs        {base}/api/docs/   (schema: {base}/api/schema/)",
                    f"  Web chat        {base}/chat/",
                    f"  Live feed       {base}/live/",
                    f"  Health          {base}/healthz   {base}/readyz",
                    f"  Database        {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
                    f"  Broker          {settings.CELERY_BROKER_URL.split('@')[-1]}",
                    "",
                ]
            )
        )
        self.stdout.flush()
        manager = Manager()
        manager.add_process(
            "web",
            f"{py} -m uvicorn agentpay.asgi:application --host {opts['host']} --port {opts['port']} --no-access-log --ws-per-message-deflate false",
            env=env,
        )
        manager.add_process(
            "worker",
            f"{py} -m celery -A agentpay worker --loglevel INFO --concurrency {opts['concurrency']} -n worker@%h",
            env=env,
        )
        manager.add_process("beat", f"{py} -m celery -A agentpay beat --loglevel INFO", env=env)
        manager.loop()
        sys.exit(manager.returncode)
