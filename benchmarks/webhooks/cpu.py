"""CPU per acknowledged webhook, in one process, measured so that contention on the machine does
not count: ``time.process_time`` (this process's CPU only) around N requests through
``agentpay.wsgi.application`` (what gunicorn calls: the webhooks' fast path in front of Django's WSGI
handler, production settings, the bench PostgreSQL + Redis), repeated in rounds; the lowest round is printed with the median (other
processes on the same cores still slow this one's CPU down through caches, so the lowest round is
the least disturbed). Also the SQL statements and Redis commands each request sends, and the
pieces of a request alone.

Run benchmarks/webhooks/run.py once first (it creates and seeds the bench database). Afterwards
the rows stored here are deleted and the bench Redis db flushed.
Usage: .venv/bin/python benchmarks/webhooks/cpu.py [telegram|whatsapp|slack ...]
Env: CPU_N (requests per round, 500), CPU_ROUNDS (5), BENCH_DATABASE_URL, BENCH_REDIS_URL.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import bench_env

_run = importlib.import_module("benchmarks.webhooks.run")
_profile = importlib.import_module("benchmarks.webhooks.profile_view")

SLACK_SECRET = "bench-slack-signing-secret-0123456789"
SLACK_TEAM = "TBENCH0001"


def slack_request(n: int) -> tuple[str, bytes, dict[str, str]]:
    payload = {
        "token": "x",
        "team_id": SLACK_TEAM,
        "api_app_id": "A0BENCH",
        "type": "event_callback",
        "event_id": f"EvBENCH{n:010d}",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel": "C0BENCH",
            "user": "U0BENCH",
            "text": "pix 50 reais para o João",
            "ts": f"{int(time.time())}.{n % 1000000:06d}",
        },
    }
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return (
        "/api/v1/webhooks/slack",
        body,
        {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": sig},
    )


REQUESTS: dict[str, Callable[[int], tuple[str, bytes, dict[str, str]]]] = {
    "telegram": _profile.telegram_request,
    "whatsapp": _profile.whatsapp_request,
    "slack": slack_request,
}


environ_for = _profile.environ_for


def cpu_per_call(fn: Callable[[int], Any], start: int, n: int, rounds: int) -> tuple[float, float]:
    """(lowest, median) CPU ms per call over ``rounds`` rounds of ``n`` calls."""
    per_round = []
    i = start
    for _ in range(rounds):
        c0 = time.process_time()
        for _ in range(n):
            fn(i)
            i += 1
        per_round.append((time.process_time() - c0) / n * 1000)
    return min(per_round), statistics.median(per_round)


def main() -> None:
    platforms = sys.argv[1:] or ["telegram", "whatsapp"]
    n = int(os.environ.get("CPU_N", "500"))
    rounds = int(os.environ.get("CPU_ROUNDS", "5"))
    env = bench_env(_run.DB_NAME, redis_db=_run.REDIS_DB)
    lock = _run.exclusive_run(env)
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.db import connection

    from apps.conversations import services
    from apps.conversations.models import PlatformAccount, WebhookEvent
    from apps.core.models import Organization

    if "slack" in platforms and not PlatformAccount.objects.filter(platform="slack", external_id=SLACK_TEAM):
        services.platform_account_create(
            organization=Organization.objects.get(slug="bench-webhooks"),
            platform="slack",
            external_id=SLACK_TEAM,
            secrets={"signing_secret": SLACK_SECRET, "bot_token": "xoxb-bench"},
        )
    handler = importlib.import_module("agentpay.wsgi").application
    statuses: Counter[str] = Counter()
    queries: Counter[str] = Counter()

    def count_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[sql.split(" ", 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    raw_redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    trips: Counter[str] = Counter()
    send = redis.connection.AbstractConnection.send_packed_command

    def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
        trips["sent"] += 1
        send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]

    def request(method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        def start_response(status: str, _headers: Any, _exc: Any = None) -> Any:
            statuses[status] += 1
            return lambda _data: None

        response = handler(environ_for(method, path, body, headers), start_response)
        b"".join(response)
        getattr(response, "close", lambda: None)()  # Django's responses; the fast path answers a list

    def healthz(_i: int) -> None:
        request("GET", "/healthz", b"", {})

    last_id = WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    base = int(time.time()) % 1000 * 1_000_000
    print(f"CPU ms per request (process_time, lowest / median of {rounds} rounds of {n}), one process:")
    low, med = cpu_per_call(healthz, 0, n, rounds)
    print(f"  {'GET /healthz (same middleware, no DB, no Redis)':<58} {low:6.3f} / {med:6.3f}")
    for platform in platforms:
        make = REQUESTS[platform]

        def webhook(i: int, make: Callable[[int], tuple[str, bytes, dict[str, str]]] = make) -> None:
            path, body, headers = make(i)
            request("POST", path, body, headers)

        for i in range(50):  # warm-up: imports, pools, cached account lookups
            webhook(base + i)
        base += 100
        queries.clear()
        trips.clear()
        with connection.execute_wrapper(count_sql):
            for i in range(20):
                webhook(base + i)
        round_trips = sum(trips.values()) / 20
        sql = {k: v / 20 for k, v in queries.items()}
        base += 100
        low, med = cpu_per_call(webhook, base, n, rounds)
        base += n * rounds
        print(
            f"  {platform + ' webhook (200, new event)':<58} {low:6.3f} / {med:6.3f}"
            f"   SQL/request {sql}, Redis round trips/request "
            f"{round_trips:.2f}"
        )
    print(f"statuses: {dict(statuses)}")
    stored = WebhookEvent.objects.filter(id__gt=last_id).count()
    print(f"rows stored: {stored}")
    WebhookEvent.objects.filter(id__gt=last_id).delete()
    raw_redis.flushdb()
    lock.close()


if __name__ == "__main__":
    main()
