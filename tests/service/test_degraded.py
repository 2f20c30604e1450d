"""Redis goes away mid-run: the storefront still gets 200s, and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from service.model.manifest import Manifest
from service.schema import StoredEvent
from service.storage.backlog import drain
from service.storage.identity import Identities
from service.storage.keys import EVENTS_STREAM, events_key, field_key, profile_key
from service.storage.server import RedisServer
from tests._support.cluster import LocalCluster
from tests._support.stack import SECRET, Backend, Service, wait_for
from tests._support.stores import event_store

decode = msgspec.msgpack.Decoder(StoredEvent).decode


@pytest.fixture(params=["redis", "cluster"])
def own_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer | LocalCluster]:
    server = LocalCluster() if request.param == "cluster" else RedisServer()
    with server:
        print(f"restartable {request.param} on {server.url}")
        yield server


def test_redis_outage_degrades_then_recovers_without_losing_events(
    own_redis: RedisServer | LocalCluster, artefact: Path, manifest: Manifest
) -> None:
    backend = Backend(own_redis.url, cluster=isinstance(own_redis, LocalCluster))
    view = {"visitor_id": "v-7", "page": {"type": "product", "item_id": manifest.items[5]}}
    # Loaded before the service starts, so that no change it learns of later makes it forget
    # what the first page view cached: the outage's carousel is made of those items.
    loader = backend.client()
    loader.hset(field_key("in_stock"), mapping=dict.fromkeys(manifest.items, "1"))
    loader.close()
    with (
        Service(own_redis.url, **backend.env) as service,
        httpx.Client(headers=SECRET, base_url=service.url) as http,
    ):
        assert not http.post("/v1/page-views", json=view).json()["degraded"]

        own_redis.stop()
        answer = http.post("/v1/page-views", json=view)
        assert answer.status_code == 200
        decision = answer.json()
        assert decision["degraded"] is True
        carousel = decision["slots"]["recommendations"]
        assert carousel["variant"] == "popular"
        assert "degraded:redis_unavailable" in carousel["reasons"]
        expected = [i for i in manifest.popular_items if i != manifest.items[5]][:10]
        assert [entry["item_id"] for entry in carousel["items"]] == expected
        # Readiness follows the breaker, which opens after a few failures in a row.
        wait_for(lambda: http.get("/readyz").status_code == 503, timeout_s=5)
        assert http.get("/readyz").json()["redis"] is False
        batch = {"events": [{"visitor_id": "v-7", "type": "add_to_cart", "item_id": "x"}]}
        accepted = http.post("/v1/events", json=batch)
        assert accepted.status_code == 202
        assert accepted.json() == {"accepted": 1, "buffered": 1}
        assert http.get("/readyz").json()["journal_events"] == 2
        link = http.post("/v1/identify", json={"visitor_id": "v-7", "customer_id": "c-7"})
        assert link.status_code == 503
        assert link.headers["content-type"] == "application/problem+json"
        assert link.headers["retry-after"] == "1"
        assert link.json()["title"] == "Redis unavailable"
        assert http.get("/v1/experiments/cart-incentive").status_code == 503

        own_redis.start()
        wait_for(lambda: http.get("/readyz").status_code == 200, timeout_s=5)
        recovered = http.post("/v1/page-views", json=view).json()
        assert recovered["degraded"] is False
        # Nothing of the catalogue came back: within a sync, no carousel claims any stock.
        wait_for(lambda: http.get("/readyz").json()["catalog"] == "empty")
        carousel = http.post("/v1/page-views", json=view).json()["slots"]["recommendations"]
        assert (carousel["variant"], carousel["items"]) == ("none", [])
        assert "catalog:empty" in carousel["reasons"]
        items = [{"item_id": item, "in_stock": True} for item in manifest.items]
        assert http.put("/v1/catalog/items", json={"items": items}).status_code == 200
        carousel = http.post("/v1/page-views", json=view).json()["slots"]["recommendations"]
        assert carousel["variant"] == "personalised"

    client = backend.client()
    kept = [decode(raw).type for raw in client.zrange(events_key("v-7"), 0, -1)]
    # The restarted Redis is empty: what it holds came from the journal, then the new views
    # (three since the restart).
    assert kept == ["product_view", "add_to_cart", *["product_view"] * 3]
    # One Redis comes back whole. Cluster nodes come back one by one: a flush can land before
    # the stream's node is back, and those log entries are dropped with a warning.
    if not backend.cluster:
        wait_for(lambda: client.xlen(EVENTS_STREAM) >= len(kept))
        logged = [decode(fields[b"e"]).type for _, fields in client.xrange(EVENTS_STREAM)]
        # In the order they were written: the journal drains beside the page views after it.
        logged_last = sorted(logged[-len(kept) :])
        assert logged_last == sorted(kept), "journalled events reach the event log too"
        # The view before the outage is there too when its log write (every 100 ms) was
        # still waiting as Redis went away: kept, and written to the Redis that came back.
        assert logged[: -len(kept)] in ([], ["product_view"])
    client.close()


def test_events_that_land_after_their_persons_erasure_are_deleted_again(
    own_redis: RedisServer | LocalCluster, tmp_path: Path
) -> None:
    """Buffered in an outage and written once Redis is back, or sent late by an app: an
    event dated before its id's erasure does not outlive it. What came after does."""
    backend = Backend(own_redis.url, cluster=isinstance(own_redis, LocalCluster))
    before = time.time() - 100

    def event(visitor: str, ts: float) -> StoredEvent:
        return StoredEvent(visitor_id=visitor, type="add_to_cart", item_id="tv", ts=ts)

    after = time.time() + 100

    async def scenario() -> tuple[int, list[StoredEvent], int]:
        store = event_store(own_redis.url, backend.cluster, tmp_path)
        own_redis.stop()
        waiting = [event("v-gone", before), event("v-stays", before), event("v-gone", after)]
        buffered = (await store.append_many(waiting)).buffered
        own_redis.start()
        await store.ping()  # the pool's connection from before the outage is stale
        await Identities(store).erase("v-gone")
        assert await drain(store)
        late = await store.append_many([event("v-gone", before + 1), event("v-stays", after)])
        await store.close()
        return buffered, late.kept, store.journal.waiting

    buffered, kept_late, still_pending = asyncio.run(scenario())
    assert (buffered, still_pending) == (3, 0)
    assert [e.visitor_id for e in kept_late] == ["v-stays"]
    client = backend.client()
    gone = [decode(raw).ts for raw in client.zrange(events_key("v-gone"), 0, -1)]
    stays = [decode(raw).ts for raw in client.zrange(events_key("v-stays"), 0, -1)]
    assert gone == [after], "only what came after the erasure"
    assert len(stays) == 2
    assert not client.exists(profile_key("v-gone"))
    assert client.hget(profile_key("v-stays"), "n") == b"2"
    client.close()


def test_logs_that_could_not_be_written_are_written_on_the_next_try(artefact: Path) -> None:
    """A failed log write keeps its batch: after an outage the first try often meets a
    stale connection, and that must not lose the decisions."""
    from service.services import Services
    from service.settings import Settings
    from service.storage.keys import DECISIONS_STREAM
    from service.storage.streams import DecisionLog

    async def scenario(redis: RedisServer) -> int:
        settings = Settings.from_env({
            "WITRYNA_REDIS_URL": redis.url,
            "WITRYNA_MODELS_DIR": str(artefact.parent.parent),
            "WITRYNA_MODEL_NAME": artefact.parent.name,
            "WITRYNA_MODEL_POLL_S": "0",
        })  # fmt: skip
        services = Services(settings)
        await services.start()
        event = StoredEvent(visitor_id="v-9", type="home_view", ts=1.8e9)
        decision = DecisionLog(
            decision_id="d-9", visitor_id="v-9", ts=1.8e9, model_version="m", page_type="home",
            intent="browse", buy_prob=None, uplift=None, experiments={}, slots=[],
            degraded=False,
        )  # fmt: skip
        redis.stop()
        services.logs.record([event], decision)
        await services.logs.write()  # refused: kept for the next try
        redis.start()
        await services.logs.write()
        written = await services.store.client.xlen(DECISIONS_STREAM)
        await services.stop()
        return int(written)

    with RedisServer() as redis:
        assert asyncio.run(scenario(redis)) == 1
