"""Instructions per webhook request (valgrind callgrind), a CPU measure that other processes on the
same cores do not disturb: the same script runs N1 and N2 requests through
``agentpay.wsgi.application`` (what gunicorn calls: the webhooks' fast path in front of Django's
WSGI handler; production settings, the bench PostgreSQL + Redis) under ``valgrind --tool=callgrind``; the
difference of the two totals over N2 - N1 is one request's instructions, start-up cancelled out.

Run benchmarks/webhooks/run.py once first (it seeds the bench database).
Usage: .venv/bin/python benchmarks/webhooks/instructions.py [telegram|whatsapp|slack|healthz ...]
Env: INSTR_N1 (50), INSTR_N2 (250), BENCH_DATABASE_URL, BENCH_REDIS_URL.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import PY, ROOT, bench_env

_run = importlib.import_module("benchmarks.webhooks.run")


def child(target: str, n: int) -> None:
    """Inside valgrind: warm up, then ``n`` requests of ``target``."""
    import django

    django.setup()
    cpu = importlib.import_module("benchmarks.webhooks.cpu")
    handler = importlib.import_module("agentpay.wsgi").application
    base = int(time.time() * 1000) % 10_000_000 * 100

    def call(i: int) -> None:
        if target == "healthz":
            environ = cpu.environ_for("GET", "/healthz", b"", {})
        else:
            path, body, headers = cpu.REQUESTS[target](base + i)
            environ = cpu.environ_for("POST", path, body, headers)
        response = handler(environ, lambda *_a: lambda _d: None)
        b"".join(response)
        getattr(response, "close", lambda: None)()

    for i in range(20):
        call(i)
    for i in range(20, 20 + n):
        call(i)


def instructions(env: dict[str, str], target: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            PY,
            __file__,
            "--child",
            target,
            str(n),
        ]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        match = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
        if match is None:
            raise SystemExit(proc.stderr[-3000:])
        return int(match.group(1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    targets = sys.argv[1:] or ["healthz", "telegram", "whatsapp"]
    n1, n2 = int(os.environ.get("INSTR_N1", "50")), int(os.environ.get("INSTR_N2", "250"))
    env: dict[str, Any] = bench_env(_run.DB_NAME, redis_db=_run.REDIS_DB)
    print(f"instructions per request (callgrind, ({n2} - {n1} requests) difference):")
    for target in targets:
        per = (instructions(env, target, n2) - instructions(env, target, n1)) / (n2 - n1)
        print(f"  {target:<10} {per / 1e6:7.2f} M instructions/request")


if __name__ == "__main__":
    main()
