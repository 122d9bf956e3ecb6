"""Shared benchmark plumbing: a PostgreSQL/Redis-backed AgentPay server under
production settings, started on 127.0.0.1 and stopped when the benchmark ends,
and ``wrk`` as the separate load process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

WRK_REPORT = r"""
done = function(summary, latency, requests)
  local out = string.format('{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max)
  io.stderr:write("WRKJSON " .. out .. "\n")
end
"""


def bench_env(db_name: str, redis_db: int = 9) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="agentpay.settings.production",
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{db_name}"),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        JWT_ACCESS_MINUTES="120",
        THROTTLE_USER=os.environ.get("BENCH_THROTTLE_USER", "100000000/min"),
        THROTTLE_IP=os.environ.get("BENCH_THROTTLE_IP", "100000000/min"),
        PYTHONPATH=str(ROOT),
    )
    return env


def ensure_database(env: dict[str, str], *, fresh: bool = False) -> None:
    """The benchmark's database, migrated. ``fresh``: dropped and copied from a migrated, empty
    template first, so every run starts from the same rows (compliance reads each payer's
    history, so what earlier runs left changes what a request reads; 15,000 payments left by
    earlier runs once cost the orchestrate request about a third more CPU — most likely plans
    made without statistics, see ``analyze``)."""
    import psycopg

    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    if fresh:
        template = f"{name}_template"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
                conn.execute(f'CREATE DATABASE "{template}"')
        template_env = {**env, "DATABASE_URL": url.rsplit("/", 1)[0] + "/" + template}
        subprocess.run(
            [PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=template_env, check=True
        )
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    if (ROOT / "staticfiles" / "admin").is_dir() and os.environ.get("BENCH_COLLECTSTATIC") != "1":
        return  # collected already (compressing them again costs about a minute of CPU)
    subprocess.run(
        [PY, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def analyze(env: dict[str, str]) -> None:
    """``ANALYZE`` the benchmark database, once its tables hold the warm-up's rows: what autovacuum
    does on any production server within a minute of a table growing (50 rows + 10 %), and what
    this machine's PostgreSQL never does (its CI configuration turns autovacuum off). Without
    statistics a statement prepared on the nearly empty tables keeps a generic plan that may use
    the wrong index: compliance's history read then walked every payment of the organisation
    (2,862 buffers and 1.0 ms per payment after 2,800 payments, against 30 buffers and 0.12 ms with
    statistics), which doubled PostgreSQL's CPU per payment and grew with every run. ANALYZE
    invalidates the cached plans, so the pooled connections re-plan with statistics."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("ANALYZE")


def manage_shell(env: dict[str, str], code: str) -> str:
    proc = subprocess.run(
        [PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return proc.stdout.strip().splitlines()[-1]


def wsgi_call(app: Any, environ: dict[str, Any]) -> tuple[int, bytes]:
    """One request through a WSGI callable in this process: (status code, body)."""
    status: list[str] = []
    chunks = app(environ, lambda s, h, *a: status.append(s))
    out = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return int(status[0].split()[0]), out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str = "/healthz", timeout: float = 60) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not become ready")


@contextmanager
def server(env: dict[str, str], *, kind: str = "granian", workers: int = 2) -> Iterator[int]:
    """The web tier under production settings on a free port: ``kind`` granian (WSGI, the
    production REST/webhook server), uvicorn (ASGI) or gunicorn (gthread, with ``--reuse-port``;
    not in the requirements: ``pip install gunicorn`` to compare). ``BENCH_THREADS``: granian's
    blocking threads (2) or gunicorn's threads (4) per worker."""
    port = free_port()
    if kind == "uvicorn":
        cmd = [
            PY,
            "-m",
            "uvicorn",
            "agentpay.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    elif kind == "granian":
        cmd = [
            str(Path(PY).parent / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            os.environ.get("BENCH_THREADS", "2"),
            "--no-ws",
            "--log-level",
            "warning",
            "agentpay.wsgi:application",
        ]
    else:
        cmd = [
            PY,
            "-m",
            "gunicorn",
            "agentpay.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            os.environ.get("BENCH_WORKER_CLASS", "gthread"),
            "--threads",
            os.environ.get("BENCH_THREADS", "4"),
            *(["--reuse-port"] if os.environ.get("BENCH_REUSE_PORT", "1") == "1" else []),
            "--log-level",
            "warning",
        ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_http(port)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    headers: dict[str, str],
    threads: int = 1,
    script_extra: str = "",
) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("benchmarks need wrk (Debian package 'wrk'): apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script_extra + WRK_REPORT)
        script = f.name
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "-s",
        script,
        "--timeout",
        "5s",
    ]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON ") :])
    secs = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / secs,
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["errors"],
        "non2xx": data["non2xx"],
        "requests": data["requests"],
    }


def print_table(title: str, rows: list[tuple[int, dict[str, float]]]) -> None:
    print(title)
    print(f"{'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'non2xx':>7}")
    for conc, r in rows:
        print(
            f"{conc:>5} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['errors']:>7.0f} {r['non2xx']:>7.0f}"
        )
