"""Linking ids: from the shop's servers, or from a browser with a token the shop signed;
never into a chain; a move cut short is finished by asking again."""

from __future__ import annotations

import time

import httpx
import msgspec

from service.http.auth import link_signature
from service.schema import StoredEvent
from service.storage.keys import alias_key, events_key, moving_key
from tests._support.stack import IDENTIFY_SECRET, SITE_KEY, RedisClient

SITE = {"key": SITE_KEY}
encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(StoredEvent).decode


def signed(visitor: str, customer: str, expires: float) -> dict[str, object]:
    token = link_signature(IDENTIFY_SECRET, visitor, customer, int(expires))
    return {"visitor_id": visitor, "customer_id": customer, "token": token, "expires": int(expires)}


def test_a_browser_links_its_visitor_only_with_the_shops_signature(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    soon = time.time() + 60
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        unsigned = {"visitor_id": "anon-b1", "customer_id": "cust-b1"}
        refused = browser.post("/v1/identify", params=SITE, json=unsigned)
        assert refused.status_code == 403
        assert "needs the shop's token" in refused.json()["detail"]
        forged = {**signed("anon-b1", "cust-other", soon), "customer_id": "cust-b1"}
        wrong = browser.post("/v1/identify", params=SITE, json=forged)
        assert wrong.status_code == 403
        assert "not the shop's signature" in wrong.json()["detail"]
        stale = browser.post(
            "/v1/identify", params=SITE, json=signed("anon-b1", "cust-b1", time.time() - 1)
        )
        assert stale.status_code == 403
        assert "expired" in stale.json()["detail"]
        assert redis_client.get(alias_key("anon-b1")) is None
        linked = browser.post("/v1/identify", params=SITE, json=signed("anon-b1", "cust-b1", soon))
    assert linked.status_code == 200, linked.text
    assert redis_client.get(alias_key("anon-b1")) == b"cust-b1"


def test_a_chain_is_refused_and_the_first_link_keeps_working(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    """Schemathesis found it: A -> B, then B -> C made every page view of A a 500, and A's
    events were acknowledged but stored nowhere."""
    assert http.post("/v1/identify", json={"visitor_id": "ch-a", "customer_id": "ch-b"}).is_success
    chained = http.post("/v1/identify", json={"visitor_id": "ch-b", "customer_id": "ch-c"})
    assert chained.status_code == 409
    assert "has other ids linked to it" in chained.json()["detail"]
    view = http.post("/v1/page-views", json={"visitor_id": "ch-a", "page": {"type": "home"}})
    assert view.status_code == 200, view.text
    sent = http.post("/v1/events", json={"events": [{"visitor_id": "ch-a", "type": "help"}]})
    assert sent.status_code == 202
    kept = [decode(raw).type for raw in redis_client.zrange(events_key("ch-b"), 0, -1)]
    assert kept == ["home_view", "help"]
    assert redis_client.get(alias_key("ch-b")) is None


def test_a_move_cut_short_is_finished_by_asking_again(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    """Linked, and its events in the moving key, as a Redis failure after the link leaves
    them: asking again writes them to the customer, once."""
    events = [StoredEvent(visitor_id="cut-1", type="product_view", item_id=f"i{n}", ts=1.8e9 + n)
              for n in range(3)]  # fmt: skip
    redis_client.set(alias_key("cut-1"), "cust-cut")
    redis_client.zadd(moving_key("cut-1"), {encode(e): e.ts or 0.0 for e in events})
    again = http.post("/v1/identify", json={"visitor_id": "cut-1", "customer_id": "cust-cut"})
    assert again.status_code == 200, again.text
    assert again.json()["already_linked"] is True
    moved = [decode(raw) for raw in redis_client.zrange(events_key("cust-cut"), 0, -1)]
    assert [(e.visitor_id, e.item_id) for e in moved] == [("cust-cut", f"i{n}") for n in range(3)]
    assert not redis_client.exists(moving_key("cut-1"))
    repeat = http.post("/v1/identify", json={"visitor_id": "cut-1", "customer_id": "cust-cut"})
    assert repeat.json()["merged_events"] == 0
    assert redis_client.zcard(events_key("cust-cut")) == 3
