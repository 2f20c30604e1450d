"""The store on its own, against a real Redis."""

from __future__ import annotations

import asyncio

from service.keys import events_key
from service.redis_client import connect
from service.schema import StoredEvent
from service.store import EventStore
from tests.conftest import Backend, RedisClient


def test_concurrent_flushes_write_the_buffer_once_and_in_order(
    backend: Backend, redis_client: RedisClient
) -> None:
    async def scenario() -> list[bool]:
        client = connect(backend.url, 1000, backend.cluster)
        store = EventStore(client, history_len=50, ttl_s=60, buffer_limit=100)
        store.pending.extend(
            StoredEvent(visitor_id="v-b", type="click", query=f"q{i}", ts=1.7e9 + i)
            for i in range(30)
        )
        flushed = await asyncio.gather(*(store.flush() for _ in range(8)))
        await store.client.aclose()
        return list(flushed)

    assert asyncio.run(scenario()) == [True] * 8
    kept = redis_client.zrange(events_key("v-b"), 0, -1)
    assert len(kept) == 30
    assert redis_client.hget("w:{v-b}:profile", "n") == b"30"
