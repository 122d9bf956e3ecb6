"""Where a webhook request's time goes: N Telegram (or WhatsApp) webhooks through Django's WSGI
handler in this one process (the same entry point gunicorn calls, full middleware stack,
production settings, the bench PostgreSQL + Redis), under cProfile.

Run benchmarks/webhooks/run.py once first (it creates and seeds the bench database). Prints the
per-request wall/CPU time, the pieces of a request timed alone, and the cProfile tables; afterwards
deletes the rows it stored and flushes the bench Redis db (the queued tasks).
Usage: .venv/bin/python benchmarks/webhooks/profile_view.py [telegram|whatsapp] [N]
Env: PROFILE_TOP (rows printed, 30), PROFILE_SORT (tottime|cumulative, both by default),
PROFILE_OUT (also write the raw profile there, for pstats/snakeviz).
"""

from __future__ import annotations

import cProfile
import hashlib
import hmac
import importlib
import io
import json
import os
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import bench_env

# the bench database, Redis db and seeded secrets of run.py (imported at run time: mypy is given
# both scripts as top-level files, a static import would name run.py twice)
_run = importlib.import_module("benchmarks.webhooks.run")
DB_NAME: str = _run.DB_NAME
REDIS_DB: int = _run.REDIS_DB
TELEGRAM_SECRET: str = _run.TELEGRAM_SECRET
WHATSAPP_APP_SECRET: str = _run.WHATSAPP_APP_SECRET
WHATSAPP_PNID: str = _run.WHATSAPP_PNID


def telegram_request(n: int) -> tuple[str, bytes, dict[str, str]]:
    update = {
        "update_id": 900_000_000 + n,
        "message": {
            "message_id": n,
            "from": {"id": 184662301, "is_bot": False, "first_name": "Ana", "username": "anasouza"},
            "chat": {"id": 184662301, "first_name": "Ana", "username": "anasouza", "type": "private"},
            "date": int(time.time()),
            "text": "pix 50 reais para o João",
        },
    }
    body = json.dumps(update).encode()
    return "/api/v1/webhooks/telegram", body, {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": TELEGRAM_SECRET}


def whatsapp_request(n: int) -> tuple[str, bytes, dict[str, str]]:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": WHATSAPP_PNID,
                            },
                            "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": "5511987654321"}],
                            "messages": [
                                {
                                    "from": "5511987654321",
                                    "id": f"wamid.PROFILE{n:012d}",
                                    "timestamp": str(int(time.time())),
                                    "text": {"body": "pix 50 reais para o João"},
                                    "type": "text",
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()
    sig = hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return "/api/v1/webhooks/whatsapp", body, {"HTTP_X_HUB_SIGNATURE_256": f"sha256={sig}"}


def environ_for(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The WSGI environ gunicorn would pass for this request."""
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        **headers,
    }


def _timed(label: str, fn: Callable[[int], Any], start: int, n: int) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(start, start + n):
        fn(i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {label:<62} {wall / n * 1000:6.3f} ms wall {cpu / n * 1000:6.3f} ms CPU")


def breakdown(call: Callable[[int], None], start: int, n: int, platform: str) -> None:
    """The pieces of one request timed separately (no profiler), each n times."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import transaction

    from apps.conversations import selectors
    from apps.conversations.choices import Platform
    from apps.conversations.models import WebhookEvent
    from apps.conversations.tasks import webhook_event_process_task
    from apps.core.models import Organization

    handler = WSGIHandler()

    def healthz(_i: int) -> None:
        environ = environ_for("GET", "/healthz", b"", {})
        response = handler(environ, lambda *_a: lambda _d: None)
        b"".join(response)
        response.close()

    account = selectors.platform_account_by_webhook_secret(platform=Platform.TELEGRAM, secret=TELEGRAM_SECRET)
    org = Organization.objects.get(pk=account.organization_id) if account else None

    def lookup(_i: int) -> None:
        selectors.platform_account_by_webhook_secret(platform=Platform.TELEGRAM, secret=TELEGRAM_SECRET)

    def store_only(i: int) -> None:  # the INSERT path without the on_commit Celery publish
        with transaction.atomic():
            WebhookEvent.objects.create(
                platform="telegram",
                event_id=f"breakdown:{i}",
                event_type="message",
                account=account,
                organization=org,
                payload={"update_id": i},
            )

    def store_savepoint(i: int) -> None:  # what webhook_event_store does: atomic inside atomic
        with transaction.atomic(), transaction.atomic():
            WebhookEvent.objects.create(
                platform="telegram",
                event_id=f"breakdown-sp:{i}",
                event_type="message",
                account=account,
                organization=org,
                payload={"update_id": i},
            )

    def publish(i: int) -> None:
        webhook_event_process_task.apply_async(args=(0,))

    def publish_ignore_result(i: int) -> None:
        webhook_event_process_task.apply_async(args=(0,), ignore_result=True)

    print(f"breakdown ({platform} run; each piece alone, {n} times, no profiler):")
    _timed(f"full {platform} webhook request (WSGI handler + middleware + view)", call, start, n)
    _timed("GET /healthz through the same middleware (no DB, no Redis)", healthz, 0, n)
    _timed("account lookup by secret hash (ORM SELECT ... JOIN organization)", lookup, 0, n)
    _timed("INSERT WebhookEvent in one transaction (BEGIN/INSERT/COMMIT)", store_only, start, n)
    _timed("same + the nested atomic (SAVEPOINT/RELEASE) the service adds", store_savepoint, start, n)
    _timed("Celery apply_async to Redis (the on_commit hook)", publish, 0, n)
    _timed("Celery apply_async(ignore_result=True)", publish_ignore_result, 0, n)


def main() -> None:
    platform = sys.argv[1] if len(sys.argv) > 1 else "telegram"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    env = bench_env(DB_NAME, redis_db=REDIS_DB)
    lock = _run.exclusive_run(env)  # not while run.py uses the same rows and Redis db
    os.environ.update(env)
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from apps.conversations.models import WebhookEvent

    handler = WSGIHandler()
    make: Callable[[int], tuple[str, bytes, dict[str, str]]] = (
        telegram_request if platform == "telegram" else whatsapp_request
    )
    statuses: Counter[str] = Counter()
    queries: Counter[str] = Counter()

    def count_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[sql.split(" ", 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    def call(i: int) -> None:
        path, body, headers = make(i)
        environ = environ_for("POST", path, body, headers)

        def start_response(status: str, _headers: Any, _exc: Any = None) -> Any:
            statuses[status] += 1
            return lambda _data: None

        response = handler(environ, start_response)
        b"".join(response)
        response.close()

    last_id = WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    base = int(time.time()) % 1000 * 100_000
    for i in range(50):  # warm-up: imports, pool, Redis connections
        call(base + i)
    statuses.clear()
    with connection.execute_wrapper(count_sql):
        call(base + 50)
    per_request_sql = dict(queries)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(51, 51 + n):
        call(base + i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{platform}: {n} sequential requests in one process, no profiler: {wall / n * 1000:.2f} ms/request wall, "
        f"{cpu / n * 1000:.2f} ms/request CPU in this process (max ~{n / cpu:.0f} req/s per core for Django alone)"
    )
    breakdown(call, base + 51 + 2 * n, min(n, 1000), platform)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for i in range(51 + n, 51 + 2 * n):
        call(base + i)
    prof.disable()
    elapsed = time.perf_counter() - t0
    print(f"same under cProfile (inflated by the profiler): {elapsed / n * 1000:.2f} ms/request")
    print(f"statuses: {dict(statuses)}; SQL statements per request: {per_request_sql}")
    print(f"rows stored by this profile run: {WebhookEvent.objects.filter(id__gt=last_id).count()}")
    # leave the bench database and Redis db as run.py expects them (it also resets both itself)
    WebhookEvent.objects.filter(id__gt=last_id).delete()
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    if os.environ.get("PROFILE_OUT"):
        prof.dump_stats(os.environ["PROFILE_OUT"])  # for snakeviz / pstats
    top = int(os.environ.get("PROFILE_TOP", "30"))
    for key in os.environ.get("PROFILE_SORT", "tottime,cumulative").split(","):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(top)
        print(out.getvalue())
    lock.close()


if __name__ == "__main__":
    main()
