"""The worker's catalogue cache: page views stop reading the catalogue from Redis, and a
stock change made through any worker still reaches every worker."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from service.model.manifest import Manifest
from service.storage.catalog import COUNTED, Catalog, CatalogItem, ItemUpdate
from service.storage.catalog_cache import CatalogCache
from service.storage.client import connect
from service.storage.keys import CHANGES_KEY, field_key
from service.storage.server import RedisServer
from tests._support.monitor import monitored
from tests._support.stack import SECRET, SERVICE_ENV, Service, wait_for

CATEGORY_READ = "HMGET w:{catalog}:category"
HOME = {"page": {"type": "home"}, "slots": ["recommendations"]}


def items_read(redis_server: RedisServer, http: httpx.Client, views: int) -> Counter[str]:
    """How often each item's category was read from Redis while page views were answered."""
    with monitored([redis_server.port]) as seen:
        for i in range(views):
            carousel(http, f"monitored-{i % 3}")
    reads = [c.split()[2:] for c in seen[redis_server.port] if c.startswith(CATEGORY_READ)]
    return Counter(item for items in reads for item in items)


def carousel(http: httpx.Client, visitor: str) -> list[str]:
    answer = http.post("/v1/page-views", json={"visitor_id": visitor, **HOME}).json()
    return [entry["item_id"] for entry in answer["slots"]["recommendations"]["items"]]


@pytest.fixture
def plain_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def two_workers(
    redis_server: RedisServer, plain_redis: redis.Redis, manifest: Manifest
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two services on one Redis: a change made through one must reach the other. The
    catalogue is there before they start, so no change of its loading makes either forget
    what it read."""
    plain_redis.hset(field_key("in_stock"), mapping=dict.fromkeys(manifest.items, "1"))
    env = {**SERVICE_ENV, "WITRYNA_CATALOG_SYNC_MS": "100"}
    with (
        Service(redis_server.url, **env) as a,
        Service(redis_server.url, **env) as b,
        httpx.Client(headers=SECRET, base_url=a.url) as http_a,
        httpx.Client(headers=SECRET, base_url=b.url) as http_b,
    ):
        yield http_a, http_b


def test_page_views_read_each_item_once_then_from_memory(
    two_workers: tuple[httpx.Client, httpx.Client], redis_server: RedisServer
) -> None:
    _, http = two_workers
    reads = items_read(redis_server, http, 20)
    assert reads, "the first page views read the catalogue"
    assert max(reads.values()) == 1


def test_a_stock_change_through_one_worker_reaches_the_other(
    two_workers: tuple[httpx.Client, httpx.Client], plain_redis: redis.Redis
) -> None:
    http_a, http_b = two_workers
    shown = carousel(http_b, "other-worker")
    sold_out = shown[:3]
    updates = [{"item_id": item, "in_stock": False} for item in sold_out]
    assert http_a.put("/v1/catalog/items", json={"items": updates}).status_code == 200
    # The worker that made the change sees it at once; the other within its sync interval.
    assert not set(carousel(http_a, "other-worker")) & set(sold_out)
    wait_for(lambda: not set(carousel(http_b, "other-worker")) & set(sold_out), timeout_s=5)
    assert not set(carousel(http_b, "other-worker")) & set(sold_out)


def test_without_the_cache_every_page_view_reads_the_catalogue(
    redis_server: RedisServer, plain_redis: redis.Redis
) -> None:
    env = {**SERVICE_ENV, "WITRYNA_CATALOG_SYNC_MS": "0"}
    with (
        Service(redis_server.url, **env) as service,
        httpx.Client(headers=SECRET, base_url=service.url) as http,
    ):
        assert max(items_read(redis_server, http, 5).values()) == 5


ITEM = CatalogItem(item_id="sku-1", category="tv")


def test_a_read_that_overlapped_a_change_is_not_kept(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        cache: CatalogCache[CatalogItem] = CatalogCache(connect(redis_server.url, 1000), 10, 60)
        await cache.sync()
        began = cache.generation
        cache.forget(["sku-1"])  # a change lands while the read is in flight
        cache.keep({"sku-1": ITEM}, began)
        assert cache.items == {}
        cache.keep({"sku-1": ITEM}, cache.generation)
        assert cache.items == {"sku-1": ITEM}
        await cache.client.aclose()

    asyncio.run(scenario())


def test_flushed_or_skipped_changes_clear_the_cache(
    redis_server: RedisServer, plain_redis: redis.Redis
) -> None:
    async def scenario() -> None:
        client = connect(redis_server.url, 1000)
        cache: CatalogCache[CatalogItem] = CatalogCache(client, 10, 60)
        catalog = Catalog(client, cache)
        await catalog.upsert([ItemUpdate(item_id="sku-1", category="tv")])
        await cache.sync()
        assert await catalog.lookup(["sku-1", "sku-2"]) == {"sku-1": ITEM}
        assert cache.items == {"sku-1": ITEM, "sku-2": None}
        # A version that skips one: changes were trimmed away before this worker read them.
        plain_redis.incr("w:{catalog}:version", 2)
        plain_redis.xadd(CHANGES_KEY, {"v": 3, "ids": b"\x90"})
        await cache.sync()
        assert cache.items == {}
        await catalog.lookup(["sku-1"])
        assert cache.items == {"sku-1": ITEM}
        # Redis flushed behind the API: the version goes back and nothing cached survives.
        plain_redis.flushall()
        await cache.sync()
        assert cache.items == {}
        assert not cache.ready
        await cache.sync()
        assert cache.ready
        assert await catalog.lookup(["sku-1"]) == {}
        await client.aclose()

    asyncio.run(scenario())


def test_the_cache_never_grows_past_its_limit(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = connect(redis_server.url, 1000)
        cache: CatalogCache[CatalogItem] = CatalogCache(client, 5, 60)
        await cache.sync()
        catalog = Catalog(client, cache)
        for start in range(0, 30, 3):
            found = await catalog.lookup([f"sku-{i}" for i in range(start, start + 3)])
            assert found == {}
            assert len(cache.items) <= 5
        await client.aclose()

    asyncio.run(scenario())


def test_page_views_on_an_empty_catalogue_read_none_of_it(
    service: Service, redis_server: RedisServer, plain_redis: redis.Redis
) -> None:
    """The sync counts the catalogue in the background: a page view asks Redis nothing."""
    with httpx.Client(headers=SECRET, base_url=service.url) as http:
        wait_for(lambda: http.get("/readyz").json()["catalog"] == "empty")
        assert items_read(redis_server, http, 5) == Counter()
        assert carousel(http, "monitored-0") == []


def test_syncs_and_upserts_count_the_catalogue(
    redis_server: RedisServer, plain_redis: redis.Redis
) -> None:
    async def scenario() -> None:
        client = connect(redis_server.url, 1000)
        cache: CatalogCache[CatalogItem] = CatalogCache(client, 10, 60, COUNTED)
        catalog = Catalog(client, cache)
        assert (cache.size, catalog.state) == (None, "unknown")
        await cache.sync()
        assert (cache.size, catalog.state, catalog.empty) == (0, "empty", True)
        # The worker that took the upsert counts at once, before any sync: the items of the
        # largest field hash.
        updates = [
            ItemUpdate(item_id="sku-1", category="tv"),
            ItemUpdate(item_id="sku-2", category="tv", in_stock=False),
        ]
        await catalog.upsert(updates)
        assert (cache.size, catalog.state) == (2, "loaded")
        assert await catalog.lookup(["sku-1", "sku-3"]) == {"sku-1": ITEM}
        # A count that was in flight while an upsert landed is not kept.
        began = cache.generation
        cache.forget(["sku-1"])
        cache.counted_at(0, began)
        assert cache.size == 2
        plain_redis.flushall()
        await cache.sync()
        assert (cache.size, catalog.state) == (0, "empty")
        await client.aclose()

    asyncio.run(scenario())
