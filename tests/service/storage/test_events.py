"""The store on its own, against a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.schema import StoredEvent
from service.storage.backlog import drain
from service.storage.keys import events_key
from tests._support.stack import Backend, RedisClient
from tests._support.stores import event_store


def test_concurrent_drains_write_the_journal_once(
    backend: Backend, redis_client: RedisClient, tmp_path: Path
) -> None:
    async def scenario() -> list[bool]:
        store = event_store(backend.url, backend.cluster, tmp_path)
        store.journal.append(
            [StoredEvent(visitor_id="v-b", type="click", query=f"q{i}", ts=1.7e9 + i)
             for i in range(30)]
        )  # fmt: skip
        drained = await asyncio.gather(*(drain(store) for _ in range(8)))
        assert store.journal.waiting == 0
        await store.client.aclose()
        return list(drained)

    assert asyncio.run(scenario()) == [True] * 8
    kept = redis_client.zrange(events_key("v-b"), 0, -1)
    assert len(kept) == 30
    assert redis_client.hget("w:{v-b}:profile", "n") == b"30"


def test_a_page_view_reads_back_its_own_event_even_after_redis_forgot_the_script(
    backend: Backend, redis_client: RedisClient, tmp_path: Path
) -> None:
    def view(i: int) -> StoredEvent:
        return StoredEvent(visitor_id="v-r", type="product_view", item_id=f"i{i}", ts=1.7e9 + i)

    async def scenario() -> list[tuple[list[str | None], dict[str, str]]]:
        store = event_store(backend.url, backend.cluster, tmp_path, history_len=3)
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
