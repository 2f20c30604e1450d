"""The spine, through real HTTP, a real Redis and the real exported model."""

from __future__ import annotations

import math

import httpx
import msgspec

from service.decision.policy import load
from service.model.encoding import INTENTS
from service.model.manifest import Manifest
from service.schema import Decision, StoredEvent
from service.storage.keys import (
    DECISIONS_STREAM,
    EVENTS_STREAM,
    events_key,
    logged_key,
    profile_key,
)
from service.storage.streams import DecisionLog
from tests._support.stack import RedisClient, wait_for

decode_decision = msgspec.json.Decoder(Decision).decode
DEFAULT_POLICY = load(None)
decode_log = msgspec.msgpack.Decoder(DecisionLog).decode


def history(client: RedisClient, visitor: str) -> list[StoredEvent]:
    decoder = msgspec.msgpack.Decoder(StoredEvent)
    return [decoder.decode(raw) for raw in client.zrange(events_key(visitor), 0, -1)]


def test_three_page_views_answer_in_shape_and_leave_exactly_three_events(
    http: httpx.Client, redis_client: RedisClient, manifest: Manifest, stocked: list[str]
) -> None:
    item = manifest.items[3]
    views = [
        {"visitor_id": "v-1", "page": {"type": "home"}},
        {"visitor_id": "v-1", "page": {"type": "product", "item_id": item, "category": "tv"}},
        {"visitor_id": "v-1", "session_id": "s-9", "page": {"type": "cart"}, "channel": "app"},
    ]
    decision_ids = []
    for body in views:
        response = http.post("/v1/page-views", json=body)
        assert response.status_code == 200, response.text
        decision = decode_decision(response.content)
        decision_ids.append(decision.decision_id)
        assert decision.visitor_id == "v-1"
        assert not decision.degraded
        assert decision.model_version == f"{manifest.name}/{manifest.version}"
        assert set(decision.intent.probabilities) == set(INTENTS)
        assert math.isclose(sum(decision.intent.probabilities.values()), 1.0, abs_tol=1e-3)
        assert decision.intent.label == max(
            decision.intent.probabilities, key=decision.intent.probabilities.__getitem__
        )
        assert list(decision.slots) == DEFAULT_POLICY.slots_for(body["page"]["type"])
        assert all(slot.reasons for slot in decision.slots.values())
    carousel = decision.slots["recommendations"]
    assert len(carousel.items) == 10
    assert all(entry.item_id in manifest.items for entry in carousel.items)
    scores = [entry.score for entry in carousel.items]
    assert scores == sorted(scores, reverse=True)

    stored = history(redis_client, "v-1")
    assert [e.type for e in stored] == ["home_view", "product_view", "cart_view"]
    assert stored[1].item_id == item
    assert stored[2].channel == "app"
    assert stored[2].session_id == "s-9"
    assert 0 < redis_client.ttl(events_key("v-1")) <= 30 * 24 * 3600
    # The decisions and the events also reach the streams training reads, after the answers.
    wait_for(lambda: redis_client.xlen(DECISIONS_STREAM) == 3)
    logged = [decode_log(fields[b"d"]) for _, fields in redis_client.xrange(DECISIONS_STREAM)]
    assert [entry.decision_id for entry in logged] == decision_ids
    assert [entry.page_type for entry in logged] == ["home", "product", "cart"]
    assert redis_client.xlen(EVENTS_STREAM) == 3
    # With the index of the person's log entries, written with them.
    assert set(redis_client.keys("w:{v-1}*")) == {
        events_key("v-1").encode(),
        profile_key("v-1").encode(),
        logged_key("v-1").encode(),
    }


def test_decision_ids_are_unique_and_slots_follow_the_request(http: httpx.Client) -> None:
    body = {"visitor_id": "v-2", "page": {"type": "help"}, "slots": ["hero", "offer", "help", "x"]}
    first = decode_decision(http.post("/v1/page-views", json=body).content)
    second = decode_decision(http.post("/v1/page-views", json=body).content)
    assert first.decision_id != second.decision_id
    assert list(second.slots) == ["hero", "offer", "help", "x"]
    assert second.slots["help"].variant == "chat"
    assert second.slots["x"].variant == "default"
    assert second.slots["x"].reasons == ["slot:not_in_policy"]


def test_recommendations_never_repeat_the_item_on_screen_or_one_bought(
    http: httpx.Client, manifest: Manifest, stocked: list[str]
) -> None:
    bought, viewed = manifest.items[0], manifest.items[1]
    purchase = {"visitor_id": "v-3", "type": "purchase", "item_id": bought}
    assert http.post("/v1/events", json={"events": [purchase]}).status_code == 202
    body = {"visitor_id": "v-3", "page": {"type": "product", "item_id": viewed}}
    decision = decode_decision(http.post("/v1/page-views", json=body).content)
    shown = {entry.item_id for entry in decision.slots["recommendations"].items}
    assert shown
    assert bought not in shown
    assert viewed not in shown


def test_history_is_capped_at_the_last_fifty_events(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    events = [{"visitor_id": "v-4", "type": "search", "query": f"q{i}"} for i in range(60)]
    assert http.post("/v1/events", json={"events": events}).json() == {
        "accepted": 60,
        "buffered": 0,
    }
    http.post("/v1/page-views", json={"visitor_id": "v-4", "page": {"type": "home"}})
    stored = history(redis_client, "v-4")
    assert len(stored) == 50
    assert stored[0].query == "q11"
    assert stored[-1].type == "home_view"


def test_events_from_every_channel_keep_their_fields(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    events = [
        {"visitor_id": "v-5", "type": "add_to_cart", "item_id": "a", "price": 9.5, "ts": 1.7e9},
        {"visitor_id": "v-5", "type": "purchase", "item_id": "a", "channel": "pos"},
        {"visitor_id": "v-6", "type": "help", "channel": "call_centre", "session_id": "c1"},
    ]
    response = http.post("/v1/events", json={"events": events})
    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    five = history(redis_client, "v-5")
    assert [(e.type, e.channel, e.price) for e in five] == [
        ("add_to_cart", "web", 9.5),
        ("purchase", "pos", None),
    ]
    assert five[0].ts == 1.7e9
    assert five[1].ts is not None
    assert five[1].ts > 1.7e9
    assert history(redis_client, "v-6")[0].session_id == "c1"


def test_health_readiness_and_openapi(http: httpx.Client, manifest: Manifest) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == f"{manifest.name}/{manifest.version}"
    assert ready.json()["provider"] == "CPUExecutionProvider"
    schema = http.get("/schema/openapi.json").json()
    assert {"/v1/page-views", "/v1/events", "/healthz", "/readyz"} <= set(schema["paths"])
    body = schema["paths"]["/v1/page-views"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["visitor_id", "page"]
    assert body["schema"]["properties"]["page"]["properties"]["type"]["enum"][0] == "cart"
    batch = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["properties"]["events"]["maxItems"] == 1000
