"""The store on its own, against a real Redis."""

from __future__ import annotations

import asyncio

from service.schema import StoredEvent
from service.storage.client import connect
from service.storage.events import EventStore
from service.storage.keys import events_key
from tests._support.stack import Backend, RedisClient


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


def test_a_page_view_reads_back_its_own_event_even_after_redis_forgot_the_script(
    backend: Backend, redis_client: RedisClient
) -> None:
    def view(i: int) -> StoredEvent:
        return StoredEvent(visitor_id="v-r", type="product_view", item_id=f"i{i}", ts=1.7e9 + i)

    async def scenario() -> list[tuple[list[str | None], dict[str, str]]]:
        client = connect(backend.url, 1000, backend.cluster)
        store = EventStore(client, history_len=3, ttl_s=60, buffer_limit=10)
        read = []
        for i in range(5):
            if i == 4:
                redis_client.script_flush()
            history = await store.append_and_read(view(i))
            assert history is not None
            read.append(([e.item_id for e in history.events], history.profile))
        await store.client.aclose()
        return read

    read = asyncio.run(scenario())
    assert read[0] == (["i0"], {"ch:web": "1", "type:product_view": "1"})
    assert [items for items, _ in read[1:]] == [
        ["i0", "i1"],
        ["i0", "i1", "i2"],
        ["i1", "i2", "i3"],
        ["i2", "i3", "i4"],
    ]
    assert read[4][1] == {"ch:web": "5", "type:product_view": "5"}
