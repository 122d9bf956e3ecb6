"""In-process cost of one authenticated GET /api/v1/payments (20 rows, JWT): the api_baseline
request without the load generator, so its figures do not depend on what else the machine runs.

Calls ``agentpay.wsgi.application`` (what granian serves: the whole middleware stack, JWT, the
throttles on Redis, the page query on PostgreSQL) under production settings and prints per
request the CPU time of this process (``time.process_time``) and the SQL statements; with
``BENCH_PROFILE=1`` the top functions of a cProfile run.

Env: BENCH_DATABASE_URL, BENCH_REDIS_URL (defaults: agentpay_bench, Redis db 9, as ``run.py``),
BENCH_REQUESTS (default 2000), BENCH_PROFILE (0/1), BENCH_PROFILE_SORT (tottime|cumulative),
BENCH_PROFILE_LINES (60), BENCH_PROFILE_OUT (a file for the pstats dump).
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks._lib.harness import bench_env, ensure_database, manage_shell, wsgi_call  # noqa: E402
from benchmarks.api_baseline.run import SEED  # noqa: E402  (the load benchmark's organisation)


def main() -> None:
    env = bench_env("agentpay_bench")
    ensure_database(env)
    token = manage_shell(env, SEED)
    os.environ.update(env)

    import django

    django.setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agentpay.wsgi import application

    def call() -> tuple[int, bytes]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/api/v1/payments",
            "QUERY_STRING": "page_size=20",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
        }
        return wsgi_call(application, environ)

    n = int(os.environ.get("BENCH_REQUESTS", "2000"))
    for _ in range(200):  # warm-up: imports, token cache, page plan, connection pool
        call()
    cpu: list[float] = []
    codes: dict[int, int] = {}
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        call()
    statements = len(queries.captured_queries)
    for _ in range(n):
        t = time.process_time()
        code, _ = call()
        cpu.append((time.process_time() - t) * 1000)
        codes[code] = codes.get(code, 0) + 1
    cpu.sort()
    print(
        f"GET /api/v1/payments (20 rows, JWT) n={n}  CPU/request mean {sum(cpu) / n:.3f} ms  "
        f"p50 {cpu[n // 2]:.3f} ms  p95 {cpu[int(n * 0.95)]:.3f} ms  SQL statements/request {statements}"
    )
    print(f"status codes: {codes}")

    if os.environ.get("BENCH_PROFILE") == "1":
        import cProfile
        import pstats

        prof = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared
        prof.enable()
        for _ in range(500):
            call()
        prof.disable()
        if os.environ.get("BENCH_PROFILE_OUT"):
            prof.dump_stats(os.environ["BENCH_PROFILE_OUT"])
        stats = pstats.Stats(prof)
        stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(
            int(os.environ.get("BENCH_PROFILE_LINES", "60"))
        )
        print(f"total calls per request: {stats.total_calls / 500:.0f}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
