"""Catalogue and stock: partial upserts, and nothing sold out is ever recommended."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.decision.carousel import Carousel
from service.decision.policy import Boost, Recommendations, load
from service.model.runtime import ModelRuntime
from service.schema import StoredEvent
from service.storage.catalog import Catalog, ItemUpdate
from service.storage.client import connect
from service.storage.keys import field_key
from service.storage.server import RedisServer
from tests._support.stack import RedisClient

POLICY = load(None)
FIELDS = ("category", "price", "margin", "in_stock", "tags")


def test_partial_updates_keep_the_other_fields(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    full = {"item_id": "sku-1", "category": "tv", "price": 499.0, "margin": 80.0, "tags": ["new"]}
    assert http.put("/v1/catalog/items", json={"items": [full]}).json()["accepted"] == 1
    http.put("/v1/catalog/items", json={"items": [{"item_id": "sku-1", "in_stock": False}]})
    stored = {f: redis_client.hget(field_key(f), "sku-1") for f in FIELDS}
    assert stored == {
        "category": b"tv",
        "price": b"499.0",
        "margin": b"80.0",
        "tags": b"new",
        "in_stock": b"0",
    }
    bad = http.put("/v1/catalog/items", json={"items": [{"item_id": "sku-2", "in_stock": "no"}]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "items[0].in_stock"
    assert not any(redis_client.hexists(field_key(f), "sku-2") for f in FIELDS)


def test_an_item_marked_out_of_stock_leaves_every_answer_at_once(
    http: httpx.Client, stocked: list[str]
) -> None:
    def carousel(visitor: str) -> list[str]:
        body = {"visitor_id": visitor, "page": {"type": "home"}, "slots": ["recommendations"]}
        items = http.post("/v1/page-views", json=body).json()["slots"]["recommendations"]["items"]
        return [entry["item_id"] for entry in items]

    visitors = [f"stock-{i}" for i in range(5)]
    shown = {item for v in visitors for item in carousel(v)}
    sold_out = sorted(shown)[:3]
    updates = [{"item_id": item, "in_stock": False} for item in sold_out]
    assert http.put("/v1/catalog/items", json={"items": updates}).status_code == 200
    for visitor in visitors:
        after = carousel(visitor)
        assert len(after) == POLICY.recommendations.count
        assert not set(after) & set(sold_out)


_loop = asyncio.new_event_loop()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_policy_ever_recommends_a_sold_out_item(
    data: st.DataObject, artefact: Path, redis_server: RedisServer
) -> None:
    runtime = _runtime(artefact)
    pool = runtime.manifest.popular_items[:60] + runtime.vocab.items[:60]
    sold_out = data.draw(st.sets(st.sampled_from(pool), max_size=50), label="sold_out")
    rules = Recommendations(
        count=data.draw(st.integers(1, 20), label="count"),
        per_category=data.draw(st.integers(1, 4), label="per_category"),
        exclude_tags=data.draw(st.lists(st.sampled_from(["hidden", "new"]), max_size=1)),
        boosts=[Boost(tag="new", factor=data.draw(st.floats(0.1, 10.0), label="boost"))],
    )
    policy = msgspec.structs.replace(POLICY, recommendations=rules)
    viewed = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8), label="viewed")
    history = [
        StoredEvent(visitor_id="h", type="product_view", item_id=item, ts=1.7e9 + i)
        for i, item in enumerate(viewed)
    ]
    items = _loop.run_until_complete(
        _recommend(runtime, redis_server.url, pool, sold_out, policy, history)
    )
    assert not set(items) & sold_out
    assert viewed[-1] not in items
    assert len(items) == len(set(items)) <= rules.count
    per_category = Counter(category_of(pool, i) for i in items if i in pool)
    assert max(per_category.values(), default=0) <= rules.per_category


def category_of(pool: list[str], item: str) -> str:
    return f"c{pool.index(item) % 5}"


async def _recommend(
    runtime: ModelRuntime,
    url: str,
    pool: list[str],
    sold_out: set[str],
    policy: object,
    history: list[StoredEvent],
) -> list[str]:
    client = connect(url, timeout_ms=1000)
    catalog = Catalog(client)
    await client.flushall()
    await catalog.upsert(
        ItemUpdate(item_id=item, category=category_of(pool, item), in_stock=item not in sold_out,
                   tags=["new"] if pool.index(item) % 3 == 0 else [])
        for item in dict.fromkeys(pool)
    )  # fmt: skip
    prediction = runtime.predict(runtime.encode([history]))
    slot = await Carousel(runtime, catalog).fill(prediction, history, policy, "personalised", [])  # type: ignore[arg-type]
    await client.aclose()
    return [entry.item_id for entry in slot.items]


_runtimes: dict[Path, ModelRuntime] = {}


def _runtime(artefact: Path) -> ModelRuntime:
    if artefact not in _runtimes:
        _runtimes[artefact] = ModelRuntime(artefact, threads=1, device="cpu")
    return _runtimes[artefact]
