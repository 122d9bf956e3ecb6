from __future__ import annotations

import os
import socket

from celery import shared_task


@shared_task(name="core.ping")
def ping(token: str) -> dict[str, str | int]:
    """Round-trip probe: proves a worker took the task from the broker."""
    return {"token": token, "pid": os.getpid(), "host": socket.gethostname()}
