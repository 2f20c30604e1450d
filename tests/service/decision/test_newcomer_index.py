"""A worker's index of catalogue items new to the model: read from a real Redis a page at a
time, bounded per category, its counts those of the whole catalogue."""

from __future__ import annotations

import asyncio

import redis

from service.decision.newcomer_index import PER_CATEGORY, NewcomerIndex
from service.model.encoding import FIRST_ID, Vocabulary
from service.storage.catalog_scan import SCAN_PAGE
from service.storage.client import connect
from service.storage.keys import field_key
from service.storage.server import RedisServer

VOCAB = Vocabulary(["known-1", "known-2"], ["shoes", "hats"])
SHOES, HATS = FIRST_ID, FIRST_ID + 1
# Pages enough that the scan must come back to the event loop between them.
MANY = 3 * SCAN_PAGE


def load(client: redis.Redis) -> None:
    client.flushall()
    categories = {f"shoe-{n}": "shoes" for n in range(MANY)}
    categories |= {f"hat-{n}": "hats" for n in range(3)}
    categories |= {"known-1": "shoes", "known-2": "hats", "sock-1": "socks"}
    client.hset(field_key("category"), mapping=categories)  # type: ignore[arg-type]
    # Stock never set counts as in stock, as a carousel counts it; "0" is sold out.
    stock = {"shoe-0": "0", "shoe-1": "0", "hat-0": "1", "hat-1": "0", "no-category": "1"}
    client.hset(field_key("in_stock"), mapping=stock)  # type: ignore[arg-type]


async def scanned(url: str) -> tuple[NewcomerIndex, int]:
    """The index after one refresh, and how often another task ran meanwhile."""
    client = connect(url, timeout_ms=1000)
    index = NewcomerIndex(client, VOCAB, seed=7)
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    beside = asyncio.create_task(other_work())
    await index.refresh()
    beside.cancel()
    await client.aclose()
    return index, turns


def test_the_index_keeps_in_stock_newcomers_of_known_categories_a_bounded_few_each(
    redis_server: RedisServer,
) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        load(client)
    index, turns = asyncio.run(scanned(redis_server.url))
    assert set(index.counts) == {SHOES, HATS}
    assert index.counts == {SHOES: MANY - 2, HATS: 2}
    assert len(index.by_category[SHOES]) == PER_CATEGORY
    assert len(set(index.by_category[SHOES])) == PER_CATEGORY
    assert set(index.by_category[SHOES]) <= {f"shoe-{n}" for n in range(2, MANY)}
    assert sorted(index.by_category[HATS]) == ["hat-0", "hat-2"]
    assert turns >= 3, "page views get the loop between the scan's pages"
    # A category's chance is split among all its newcomers, not the few listed.
    probs = [0.0, 0.0, 0.5, 0.25]
    best = index.scores(probs, 0.1, 5)
    assert sorted(best[:2]) == [("hat-0", 0.1 * 0.25 / 2), ("hat-2", 0.1 * 0.25 / 2)]
    assert [score for _, score in best[2:]] == [0.1 * 0.5 / (MANY - 2)] * 3


def test_a_refresh_swaps_in_what_the_catalogue_holds_now(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        load(client)
        index, _ = asyncio.run(scanned(redis_server.url))
        assert index.size == MANY
        client.delete(field_key("category"))
        client.hset(field_key("category"), "hat-9", "hats")
        after, _ = asyncio.run(scanned(redis_server.url))
    assert after.by_category == {HATS: ["hat-9"]}
    assert after.size == 1
