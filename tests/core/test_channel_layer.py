"""The Redis channel layer survives idle consumers (redis-py 8's 5 s default socket timeout
equals channels-redis's blocking pop, which used to kill every idle receive loop)."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer


@pytest.mark.redis
@pytest.mark.slow
async def test_an_idle_receive_outlives_the_blocking_pop_and_still_gets_the_message() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()

    async def send_late() -> None:
        await asyncio.sleep(6.5)  # longer than one 5 s BZPOPMIN round
        await layer.send(channel, {"type": "ping", "n": 1})

    sender = asyncio.create_task(send_late())
    message = await asyncio.wait_for(layer.receive(channel), timeout=15)
    await sender
    assert message == {"type": "ping", "n": 1}
