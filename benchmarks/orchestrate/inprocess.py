"""In-process cost of one POST /api/v1/payments/orchestrate (contention-independent figures).

Runs the real request through Django's WSGI handler (the whole middleware stack, JWT,
real compliance checks, the Celery outbox kick to Redis) under production settings on
PostgreSQL + Redis, and prints per request: CPU time of this process
(``time.process_time``), SQL statements (``CaptureQueriesContext``), the CPU of the local
PostgreSQL server's backends for this database (from /proc; left out when the server is elsewhere) and, with
``BENCH_PROFILE=1``, the top functions of a cProfile run.

Env: BENCH_DATABASE_URL, BENCH_REDIS_URL (defaults: agentpay_bench_orchestrate, Redis db 4), BENCH_FRESH_DB
(default 1: the database copied from an empty migrated template, so runs are comparable),
BENCH_REQUESTS (default 300), BENCH_PROFILE (0/1), BENCH_PROFILE_SORT (tottime|cumulative),
BENCH_SHOW_SQL (0/1: print the statements of one request), BENCH_PROFILE_OUT (a file for the
pstats dump), BENCH_PROFILE_LINES (60).
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks._lib.harness import analyze, bench_env, ensure_database, wsgi_call  # noqa: E402
from benchmarks.orchestrate.run import BODY  # noqa: E402  (the load benchmark's payment)


def backend_cpu(database: str) -> float | None:
    """CPU seconds so far of this machine's PostgreSQL backends serving ``database`` (read from
    /proc: a local server only), or None when there are none to read."""
    total, found = 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.startswith("postgres: ") or f" {database} " not in cmd:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        found = True
    return total if found else None


def main() -> None:
    env = bench_env("agentpay_bench_orchestrate", redis_db=int(os.environ.get("BENCH_REDIS_DB", "4")))
    ensure_database(env, fresh=os.environ.get("BENCH_FRESH_DB", "1") == "1")
    os.environ.update(env)

    import django

    django.setup()

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.core.models import Membership, Organization, User
    from apps.payments.rails.registry import rail_catalog_invalidate
    from apps.payments.rails.seed import rail_catalog_seed

    rail_catalog_seed()
    rail_catalog_invalidate()
    org, _ = Organization.objects.get_or_create(
        slug="bench-orchestrate", defaults={"name": "Bench orchestrate"}
    )
    user, _ = User.objects.get_or_create(username="bench-orchestrate")
    Membership.objects.get_or_create(organization=org, user=user, defaults={"role": "owner"})
    token = str(AccessToken.for_user(user))
    handler = WSGIHandler()
    rng = random.Random(11)

    def call(idempotency_key: str | None = None) -> tuple[int, bytes]:
        body = json.dumps(
            {
                **BODY,
                "amount": f"{rng.randint(5, 500)}.{rng.randint(0, 99):02d}",
                "payer_ref": f"payer-{rng.randint(1, 2000)}",
                "payee_ref": f"payee-{rng.randint(1, 500)}",
            }
        ).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/payments/orchestrate",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
        }
        if idempotency_key:
            environ["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        return wsgi_call(handler, environ)

    n = int(os.environ.get("BENCH_REQUESTS", "300"))
    for i in range(30):  # warm-up: imports, catalogue, FX table, connection pool
        call(f"warm-{time.time()}-{i}")
    analyze(env)  # the statistics autovacuum would have gathered by now (harness.analyze)
    codes: dict[int, int] = {}
    for label, with_key in (("without Idempotency-Key", False), ("with Idempotency-Key", True)):
        cpu: list[float] = []
        statements: list[int] = []
        server_before = backend_cpu(connection.settings_dict["NAME"])
        for i in range(n):
            key = f"k-{time.time()}-{i}" if with_key else None
            connection.queries_log.clear()  # a full log (9,000) would make the count 0
            with CaptureQueriesContext(connection) as queries:
                t = time.process_time()
                code, _ = call(key)
                cpu.append((time.process_time() - t) * 1000)
            codes[code] = codes.get(code, 0) + 1
            statements.append(len(queries.captured_queries))
        server_after = backend_cpu(connection.settings_dict["NAME"])
        server = (
            f"  PostgreSQL backend CPU/request {(server_after - server_before) / n * 1000:.2f} ms"
            if server_before is not None and server_after is not None
            else ""
        )
        cpu.sort()
        print(
            f"{label:<24} n={n}  CPU/request mean {sum(cpu) / n:.2f} ms  p50 {cpu[n // 2]:.2f} ms  "
            f"p95 {cpu[int(n * 0.95)]:.2f} ms  SQL statements/request "
            f"min {min(statements)} max {max(statements)} mean {sum(statements) / n:.1f}{server}"
        )
    print(f"status codes: {codes}")

    if os.environ.get("BENCH_SHOW_SQL") == "1":
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            call(f"sql-{time.time()}")
        for q in queries.captured_queries:
            # a prepared, server-bound statement (apps.compliance.sql) has no client-side text
            print(
                "  SQL", (q["sql"] or "(prepared statement, server-side parameters)")[:220], f"{q['time']} s"
            )

    if os.environ.get("BENCH_PROFILE") == "1":
        import cProfile
        import pstats

        prof = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared
        prof.enable()
        for i in range(100):
            call(f"prof-{time.time()}-{i}")
        prof.disable()
        if os.environ.get("BENCH_PROFILE_OUT"):
            prof.dump_stats(os.environ["BENCH_PROFILE_OUT"])
        stats = pstats.Stats(prof)
        stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(
            int(os.environ.get("BENCH_PROFILE_LINES", "60"))
        )
        print(f"total calls per request: {stats.total_calls / 100:.0f}")  # type: ignore[attr-defined]

    import redis

    redis.Redis.from_url(env["REDIS_URL"]).delete("celery")


if __name__ == "__main__":
    main()
