"""One person across channels and devices: order, merging, races, consent and erasure."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec

from service.schema import StoredEvent
from service.storage.identity import Identities
from service.storage.keys import DECISIONS_STREAM, EVENTS_STREAM, events_key, logged_key
from service.storage.streams import DecisionLog, Logs
from tests._support.stack import SECRET, Backend, RedisClient, wait_for
from tests._support.stores import event_store

T0 = 1_763_900_000.0
decode_event = msgspec.msgpack.Decoder(StoredEvent).decode


class _Whose(msgspec.Struct):
    visitor_id: str


decode_whose = msgspec.msgpack.Decoder(_Whose).decode


def event(visitor: str, kind: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"visitor_id": visitor, "type": kind, "ts": ts, **fields}


def post_events(http: httpx.Client, *events: dict[str, Any]) -> None:
    assert http.post("/v1/events", json={"events": list(events)}).status_code == 202


def history(client: RedisClient, person: str) -> list[StoredEvent]:
    return [decode_event(raw) for raw in client.zrange(events_key(person), 0, -1)]


def identify(http: httpx.Client, visitor: str, customer: str) -> dict[str, Any]:
    response = http.post("/v1/identify", json={"visitor_id": visitor, "customer_id": customer})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_late_events_from_every_channel_are_placed_by_time(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    post_events(
        http,
        event("v-o", "product_view", T0 + 30, item_id="tv-1", channel="web"),
        event("v-o", "purchase", T0 + 90, item_id="tv-1", channel="pos"),
        event("v-o", "help", T0 + 10, channel="call_centre"),
        event("v-o", "click", T0 + 60, channel="email"),
    )
    post_events(http, event("v-o", "product_view", T0 + 45, item_id="tv-2", channel="app"))
    kept = history(redis_client, "v-o")
    assert [(e.ts, e.channel) for e in kept] == [
        (T0 + 10, "call_centre"), (T0 + 30, "web"), (T0 + 45, "app"), (T0 + 60, "email"),
        (T0 + 90, "pos"),
    ]  # fmt: skip
    post_events(http, event("v-o", "help", T0 + 10, channel="call_centre"))
    assert len(history(redis_client, "v-o")) == 5, "a repeated event is kept once"


def test_web_browsing_and_a_store_purchase_shape_the_app_page(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    tvs = [f"tv-{i}" for i in range(4)]
    post_events(http, *(
        event("web-1", "product_view", T0 + i * 60, item_id=tv, category="tv", brand="Lumo",
              price=899.0)
        for i, tv in enumerate(tvs)
    ))  # fmt: skip
    # At the till, the loyalty card names the customer; the web cookie is linked to it.
    linked = identify(http, "web-1", "cust-9")
    assert linked == {
        "visitor_id": "web-1", "customer_id": "cust-9", "merged_events": 4, "already_linked": False
    }  # fmt: skip
    post_events(http, event("cust-9", "purchase", T0 + 3600, item_id="tv-2", category="tv",
                            price=899.0, channel="pos"))  # fmt: skip
    # Back home, the app logs in: its device id joins the same person.
    identify(http, "app-7", "cust-9")
    view = {"visitor_id": "app-7", "channel": "app", "ts": T0 + 7200,
            "page": {"type": "product", "item_id": "tv-3", "category": "tv"}}  # fmt: skip
    decision = http.post("/v1/page-views", json=view).json()

    shown = [entry["item_id"] for entry in decision["slots"]["recommendations"]["items"]]
    assert "tv-2" not in shown, "the item bought in store is not recommended"
    kept = history(redis_client, "cust-9")
    assert [(e.type, e.channel) for e in kept] == [
        *[("product_view", "web")] * 4,
        ("purchase", "pos"),
        ("product_view", "app"),
    ]
    assert not redis_client.exists(events_key("web-1"))
    assert not redis_client.exists(events_key("app-7"))
    profile = http.get("/v1/visitors/app-7/profile").json()
    assert profile["person_id"] == "cust-9"
    assert profile["linked_ids"] == ["app-7", "web-1"]
    assert profile["purchases"] == 1
    assert profile["categories"] == {"tv": 6}
    assert profile["brands"] == {"Lumo": 4}
    assert profile["channels"] == {"web": 4, "pos": 1, "app": 1}
    assert profile["preferred_channel"] == "web"
    assert profile["price_band"] == "premium"
    assert profile["first_seen"] == T0
    assert profile["last_seen"] == T0 + 7200
    assert profile["events_per_day"] == 6.0
    assert profile["recency_s"] > 0
    assert len(profile["history"]) == 6


def test_concurrent_links_of_many_devices_merge_once(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    devices = [f"dev-{i}" for i in range(8)]
    for n, device in enumerate(devices):
        post_events(http, *(event(device, "product_view", T0 + n * 100 + i, item_id=f"i{n}-{i}")
                            for i in range(3)))  # fmt: skip

    def link(device: str) -> dict[str, Any]:
        with httpx.Client(headers=SECRET, base_url=http.base_url) as own:
            return identify(own, device, "cust-race")

    # Every device links at once, and the first device four times over.
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(link, [*devices, devices[0], devices[0], devices[0]]))
    first = [r for r in results if r["visitor_id"] == devices[0]]
    assert sorted(r["already_linked"] for r in first) == [False, True, True, True]
    assert sum(r["merged_events"] for r in results) == 24
    kept = history(redis_client, "cust-race")
    assert len(kept) == 24
    assert [e.ts for e in kept] == sorted(e.ts for e in kept)
    assert {e.item_id for e in kept} == {f"i{n}-{i}" for n in range(8) for i in range(3)}
    assert sorted(http.get("/v1/visitors/cust-race/profile").json()["linked_ids"]) == devices


def test_links_that_would_split_a_person_are_refused(http: httpx.Client) -> None:
    identify(http, "web-2", "cust-a")
    taken = http.post("/v1/identify", json={"visitor_id": "web-2", "customer_id": "cust-b"})
    assert taken.status_code == 409
    assert "visitor_id 'web-2' is linked to another customer" in taken.json()["detail"]
    chained = http.post("/v1/identify", json={"visitor_id": "web-3", "customer_id": "web-2"})
    assert chained.status_code == 409
    bad = http.post("/v1/identify", json={"visitor_id": "web 4", "customer_id": "cust-a"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "visitor_id"


def test_erasure_leaves_nothing_of_the_person_or_its_linked_ids(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    post_events(http, event("web-e", "product_view", T0, item_id="tv-1", channel="web"))
    http.post("/v1/page-views", json={"visitor_id": "web-e", "page": {"type": "cart"}})
    identify(http, "web-e", "cust-e")
    identify(http, "app-e", "cust-e")
    http.post("/v1/page-views", json={"visitor_id": "app-e", "page": {"type": "cart"}})
    post_events(http, event("cust-e", "purchase", T0 + 5, item_id="tv-1", channel="pos"))
    post_events(http, event("bystander", "product_view", T0, item_id="tv-1"))
    # The logs are written a moment after the answers: erasure is asked once all are in.
    wait_for(
        lambda: redis_client.xlen(DECISIONS_STREAM) == 2 and redis_client.xlen(EVENTS_STREAM) == 5
    )

    erased = http.delete("/v1/visitors/app-e")
    assert erased.status_code == 200
    assert erased.json()["ids"] == ["app-e", "cust-e", "web-e"]
    ids = {"app-e", "cust-e", "web-e"}
    everywhere = [key.decode() for key in redis_client.scan_iter("*")]
    assert not [key for key in everywhere if any(i in key for i in ids)]
    for key in everywhere:
        if redis_client.type(key) == b"set":
            assert not {m.decode() for m in redis_client.smembers(key)} & ids
    for stream in (EVENTS_STREAM, DECISIONS_STREAM):
        owners = {decode_whose(next(iter(f.values()))).visitor_id
                  for _, f in redis_client.xrange(stream)}  # fmt: skip
        assert not owners & ids
    assert history(redis_client, "bystander")[0].item_id == "tv-1"
    assert http.get("/v1/visitors/cust-e/profile").status_code == 404, "nothing is kept"


def test_without_consent_nothing_is_stored_and_defaults_are_served(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    assert http.put("/v1/visitors/v-nc/consent", json={"consent": False}).status_code == 200
    answer = http.post("/v1/page-views", json={"visitor_id": "v-nc", "page": {"type": "cart"}})
    decision = answer.json()
    assert answer.status_code == 200
    assert decision["degraded"] is False
    assert decision["intent"]["label"] == "unknown"
    assert all("consent:off" in slot["reasons"] for slot in decision["slots"].values())
    post_events(http, event("v-nc", "add_to_cart", T0, item_id="x"))
    assert set(redis_client.keys("w:{v-nc}*")) == {b"w:{v-nc}:consent"}
    assert redis_client.xlen(EVENTS_STREAM) == 0
    assert http.put("/v1/visitors/v-nc/consent", json={"consent": True}).status_code == 200
    http.post("/v1/page-views", json={"visitor_id": "v-nc", "page": {"type": "cart"}})
    assert len(history(redis_client, "v-nc")) == 1


def test_log_writes_still_waiting_when_a_person_is_erased_are_taken_back(
    backend: Backend, redis_client: RedisClient, tmp_path: Path
) -> None:
    """The race the erasure mark closes: a worker's batch lands after the scrub has passed."""

    def decision(visitor: str, ts: float) -> DecisionLog:
        return DecisionLog(
            decision_id=f"d-{visitor}-{ts}", visitor_id=visitor, ts=ts, model_version="m",
            page_type="cart", intent="buy", buy_prob=0.9, uplift=None,
            experiments={"exp": "a"}, slots=[], degraded=False,
        )  # fmt: skip

    def batch(visitor: str, ts: float) -> tuple[StoredEvent, DecisionLog]:
        return StoredEvent(visitor_id=visitor, type="purchase", item_id="tv", ts=ts), decision(
            visitor, ts
        )

    async def scenario() -> tuple[int, int]:
        store = event_store(backend.url, backend.cluster, tmp_path)
        client = store.client
        waiting = Logs()
        for visitor in ("v-gone", "v-stays"):
            bought, decided = batch(visitor, T0)
            waiting.events([bought])
            waiting.decision(decided)
            waiting.member("w:{exp:exp}:a:exposed", visitor, T0)
        erased = await Identities(store).erase("v-gone")
        taken_back = await waiting.forget_erased(client, await waiting.write(client, 60))
        later = Logs()
        bought, decided = batch("v-gone", time.time() + 5)
        later.events([bought])
        later.decision(decided)
        kept_later = await later.forget_erased(client, await later.write(client, 60))
        await store.close()
        return taken_back + 10 * kept_later, erased.stream_entries

    taken_back, scrubbed = asyncio.run(scenario())
    assert (taken_back, scrubbed) == (3, 0)
    for stream in (EVENTS_STREAM, DECISIONS_STREAM):
        owners = [decode_whose(next(iter(f.values()))).visitor_id
                  for _, f in redis_client.xrange(stream)]  # fmt: skip
        # The bystander's entries stay, and so does what the erased id did afterwards (the
        # shared service may still be logging an earlier test's page views).
        assert [o for o in owners if o in ("v-gone", "v-stays")] == ["v-stays", "v-gone"]
    assert redis_client.smembers("w:{exp:exp}:a:exposed") == {b"v-stays"}
    # What it logged afterwards is indexed under its id, and nothing from before.
    assert [key for key in redis_client.scan_iter("*") if b"v-gone" in key] == [
        logged_key("v-gone").encode()
    ]
    later_ids = {entry_id for stream in (EVENTS_STREAM, DECISIONS_STREAM)
                 for entry_id, f in redis_client.xrange(stream)
                 if decode_whose(next(iter(f.values()))).visitor_id == "v-gone"}  # fmt: skip
    assert {m.split(b"|")[1] for m in redis_client.smembers(logged_key("v-gone"))} == later_ids
