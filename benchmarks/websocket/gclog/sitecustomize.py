"""Garbage-collector log of the WebSocket benchmark's server processes (BENCH_WS_GC_LOG=1).

``run.py`` puts this directory first on the server's ``PYTHONPATH``, so every uvicorn process
(the workers are spawned interpreters) imports it at start-up. Each collection of generation
1 or 2 is appended to ``$BENCH_WS_GC_LOG_FILE`` as ``pid wall-clock generation seconds
collected``; collections of generation 0 are counted and written with the next line.
"""

import gc
import os
import time

_path = os.environ.get("BENCH_WS_GC_LOG_FILE")
_started = 0.0
_young = [0, 0.0]  # generation-0 collections and their seconds since the last line


def _on_gc(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    seconds = time.perf_counter() - _started
    if info["generation"] == 0:
        _young[0] += 1
        _young[1] += seconds
        return
    with open(_path, "a") as f:  # type: ignore[arg-type]
        f.write(f"{os.getpid()} {time.time():.6f} {info['generation']} {seconds:.6f} {info['collected']} ")
        f.write(f"{_young[0]} {_young[1]:.6f}\n")
    _young[0], _young[1] = 0, 0.0


if _path:
    gc.callbacks.append(_on_gc)
