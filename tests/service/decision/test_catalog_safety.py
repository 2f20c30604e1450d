"""No carousel shows an item whose stock is unknown. With the catalogue empty (a new shop, a
Redis restarted without persistence) or unreadable, a carousel slot shows the policy's
fallback and says why; `/readyz` reports the empty catalogue and stays ready."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.decision.policy import parse
from service.model.manifest import Manifest
from service.storage.server import RedisServer
from tests._support.stack import (
    SECRET,
    SERVICE_ENV,
    Backend,
    RedisClient,
    Service,
    on_one_redis,
    wait_for,
)

# Page types that carry the carousel, for visitors enough to meet the holdout's default
# content too (a carousel of popular items, checked the same way).
PAGES: list[dict[str, Any]] = [
    {"type": "home"},
    {"type": "product", "item_id": "sku-00054"},
    {"type": "cart"},
    {"type": "help"},
]
VISITORS = [f"shopper-{i}" for i in range(12)]
CATALOG_REASONS = {"catalog:empty", "catalog:unavailable"}


def carousels(http: httpx.Client, visitors: list[str] = VISITORS) -> list[dict[str, Any]]:
    """The recommendations slot of a page view of each page type, for each visitor."""
    found = []
    for i, visitor in enumerate(visitors):
        view = {"visitor_id": visitor, "page": PAGES[i % len(PAGES)]}
        answer = http.post("/v1/page-views", json=view)
        assert answer.status_code == 200, answer.text
        found.append(answer.json()["slots"]["recommendations"])
    return found


def shown(slots: list[dict[str, Any]]) -> set[str]:
    return {entry["item_id"] for slot in slots for entry in slot["items"]}


def is_fallback(slot: dict[str, Any], why: str = "catalog:empty", variant: str = "none") -> bool:
    return slot["variant"] == variant and slot["items"] == [] and why in slot["reasons"]


def put(http: httpx.Client, items: list[dict[str, Any]]) -> None:
    answer = http.put("/v1/catalog/items", json={"items": items})
    assert answer.status_code == 200, answer.text


def test_an_empty_catalogue_gives_the_fallback_and_readyz_says_so(
    http: httpx.Client, backend_service: Service
) -> None:
    slots = carousels(http)
    assert all(is_fallback(slot) for slot in slots), slots
    ready = http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["catalog"], body["catalog_items"]) == ("ready", "empty", 0)
    # Without the secret key: ready, and nothing more.
    assert httpx.get(f"{backend_service.url}/readyz").json() == {"status": "ready"}


def test_loaded_items_come_back_and_unknown_or_sold_out_ones_never_show(
    http: httpx.Client, manifest: Manifest
) -> None:
    assert all(is_fallback(slot) for slot in carousels(http, VISITORS[:2]))
    # A third of the items never loaded, a third sold out, a third in stock.
    absent = set(manifest.items[0::3])
    sold_out = manifest.items[1::3]
    in_stock = manifest.items[2::3]
    put(http, [{"item_id": i, "in_stock": False} for i in sold_out])
    put(http, [{"item_id": i, "in_stock": True} for i in in_stock])
    slots = carousels(http)
    assert all(slot["variant"] in {"personalised", "popular"} for slot in slots), slots
    assert all(slot["items"] for slot in slots)
    assert not {r for slot in slots for r in slot["reasons"]} & CATALOG_REASONS
    assert shown(slots) <= set(in_stock)
    reasons = {r for slot in slots for r in slot["reasons"]}
    assert {"filter:not_in_catalog", "filter:out_of_stock"} <= reasons
    body = http.get("/readyz").json()
    assert (body["catalog"], body["catalog_items"]) == ("loaded", len(sold_out) + len(in_stock))
    assert not absent & shown(slots)


def test_an_item_marked_out_of_stock_is_never_shown_again(
    http: httpx.Client, stocked: list[str]
) -> None:
    before = shown(carousels(http))
    assert before
    sold_out = sorted(before)[: len(before) // 2]
    put(http, [{"item_id": item, "in_stock": False} for item in sold_out])
    for _ in range(3):
        after = carousels(http)
        assert all(len(slot["items"]) == 10 for slot in after)
        assert not shown(after) & set(sold_out)


def test_a_flushed_redis_brings_the_fallback_back_within_a_sync(
    http: httpx.Client, redis_client: RedisClient, stocked: list[str]
) -> None:
    assert all(slot["items"] for slot in carousels(http))
    # What a Redis restarted without persistence looks like to the service.
    redis_client.flushall()
    # SERVICE_ENV syncs the catalogue every few ms: the wait is for a loaded test machine.
    wait_for(lambda: all(is_fallback(slot) for slot in carousels(http, VISITORS[:1])), 5)
    assert all(is_fallback(slot) for slot in carousels(http))
    assert http.get("/readyz").json()["catalog"] == "empty"
    put(http, [{"item_id": item, "in_stock": True} for item in stocked])
    assert all(len(slot["items"]) == 10 for slot in carousels(http))


BANNER = 'catalog_fallback = "none"'


@pytest.fixture
def banner_service(tmp_path: Path, backend: Backend) -> Iterator[Service]:
    """The policy's fallback a banner; no catalogue cache, so each page view counts."""
    default = resources.files("service.decision").joinpath("default_policy.toml").read_text()
    assert BANNER in default
    policy = default.replace(BANNER, 'catalog_fallback = "best_sellers"')
    parse(policy, "banner.toml")
    path = tmp_path / "banner.toml"
    path.write_text(policy)
    env = {**SERVICE_ENV, "WITRYNA_POLICY_PATH": str(path), "WITRYNA_CATALOG_SYNC_MS": "0"}
    with Service(backend.url, **env) as service:
        yield service


@on_one_redis
def test_the_policy_names_the_fallback_also_without_the_cache(
    banner_service: Service, redis_client: RedisClient, manifest: Manifest
) -> None:
    with httpx.Client(base_url=banner_service.url, headers=SECRET) as http:
        slots = carousels(http)
        assert all(is_fallback(slot, variant="best_sellers") for slot in slots), slots
        assert http.get("/readyz").json()["catalog_items"] == 0
        put(http, [{"item_id": item, "in_stock": True} for item in manifest.items])
        slots = carousels(http)
        assert all(len(slot["items"]) == 10 for slot in slots)
        assert not {r for slot in slots for r in slot["reasons"]} & CATALOG_REASONS


def test_an_unreadable_catalogue_then_a_restarted_empty_redis_give_the_fallback(
    artefact: Path, manifest: Manifest
) -> None:
    """The incident: Redis away, then back without its data. Neither time may a carousel
    show an item as in stock, and the restarted Redis's empty catalogue is reported."""
    with (
        RedisServer() as redis_server,
        Service(redis_server.url) as service,
        httpx.Client(base_url=service.url, headers=SECRET) as http,
    ):
        put(http, [{"item_id": item, "in_stock": True} for item in manifest.items])
        # No page view yet: this worker has cached none of the items.
        redis_server.stop()
        slots = carousels(http)
        assert all(is_fallback(s, "catalog:unavailable") for s in slots), slots
        assert all("degraded:redis_unavailable" in s["reasons"] for s in slots)
        redis_server.start()
        # Ready again once the breaker's probes find Redis back, a few in a row.
        wait_for(lambda: http.get("/readyz").json().get("catalog") == "empty")
        wait_for(lambda: http.get("/readyz").status_code == 200, timeout_s=5)
        ready = http.get("/readyz")
        assert (ready.status_code, ready.json()["catalog_items"]) == (200, 0)
        assert all(is_fallback(slot) for slot in carousels(http))
