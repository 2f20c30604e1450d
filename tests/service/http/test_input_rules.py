"""Input rules against the attacks on record: timestamps from the future, control characters in
free text, bodies declared as something other than JSON. Each is refused and writes nothing;
what a real shop sends still passes."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from service.storage.keys import field_key
from tests._support.stack import RedisClient
from tests.service.http.test_api import history
from tests.service.http.test_bad_input import VIEW, assert_problem, written

YEAR_S = 365 * 24 * 3600
AD_2099 = 4_070_908_800.0
IDENTIFY = {"visitor_id": "anon-1", "customer_id": "cust-1"}
ITEMS = {"items": [{"item_id": "sku-1", "category": "tv", "tags": ["new"]}]}


def event(**fields: Any) -> dict[str, Any]:
    return {"visitor_id": "v-1", "type": "product_view", "item_id": "sku-1", **fields}


def test_an_event_ten_minutes_ahead_is_refused_and_writes_nothing(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    assert written(redis_client) == []
    batch = [event(), event(type="add_to_cart", ts=time.time() + 600)]
    response = http.post("/v1/events", json={"events": batch})
    assert_problem(response, 422, "events[1].ts", "at most 300 s after the server's")
    assert response.json()["errors"][0]["field"] == "events[1].ts"
    assert written(redis_client) == []


def test_a_page_view_ten_minutes_ahead_is_refused_and_writes_nothing(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    response = http.post("/v1/page-views", json={**VIEW, "ts": time.time() + 600})
    assert_problem(response, 422, "ts", "at most 300 s after the server's")
    assert response.json()["errors"][0]["field"] == "ts"
    assert written(redis_client) == []


def test_a_little_clock_skew_and_late_events_are_accepted(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    now = time.time()
    ahead, last_year = now + 240, now - YEAR_S
    batch = [event(item_id="late", ts=last_year), event(item_id="ahead", ts=ahead)]
    assert http.post("/v1/events", json={"events": batch}).status_code == 202
    view = {**VIEW, "page": {"type": "product", "item_id": "viewed"}, "ts": now + 120}
    assert http.post("/v1/page-views", json=view).status_code == 200
    kept = [(e.item_id, e.ts) for e in history(redis_client, "v-1")]
    assert kept == [("late", last_year), ("viewed", now + 120), ("ahead", ahead)]


def test_refused_future_events_leave_the_history_to_real_page_views(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    """The attack: 50 events dated 2099 held a visitor's history, and no real page view ever
    entered it again."""
    pins = [event(item_id=f"pin-{n}", ts=AD_2099 + n) for n in range(50)]
    assert_problem(http.post("/v1/events", json={"events": pins}), 422, "events[0].ts")
    for item in ("sku-1", "sku-2", "sku-3"):
        view = {**VIEW, "page": {"type": "product", "item_id": item}}
        assert http.post("/v1/page-views", json=view).status_code == 200
    kept = history(redis_client, "v-1")
    assert [e.item_id for e in kept] == ["sku-1", "sku-2", "sku-3"]
    assert all(e.ts is not None and e.ts <= time.time() for e in kept)


OTHER_CONTROL = ["\u001b[2J", "\u007f", "\u0085"]


def _controlled(char: str) -> list[tuple[str, dict[str, Any], str]]:
    """Every free-text field of every body, holding ``char``: the route, the body, the field."""
    return [
        ("/v1/page-views", {**VIEW, "visitor_id": f"v-1{char}"}, "visitor_id"),
        ("/v1/page-views", {**VIEW, "session_id": f"s{char}1"}, "session_id"),
        ("/v1/page-views", {**VIEW, "slots": [f"hero{char}"]}, "slots[0]"),
        ("/v1/page-views", {**VIEW, "page": {"type": "product", "item_id": f"{char}a"}},
         "page.item_id"),
        ("/v1/page-views", {**VIEW, "page": {"type": "category", "category": f"tv{char}"}},
         "page.category"),
        ("/v1/page-views", {**VIEW, "page": {"type": "search", "query": f"q{char}q"}},
         "page.query"),
        ("/v1/events", {"events": [event(), event(visitor_id=f"{char}v")]},
         "events[1].visitor_id"),
        ("/v1/events", {"events": [event(session_id=f"s{char}")]}, "events[0].session_id"),
        ("/v1/events", {"events": [event(item_id=f"sku{char}")]}, "events[0].item_id"),
        ("/v1/events", {"events": [event(category=f"tv{char}")]}, "events[0].category"),
        ("/v1/events", {"events": [event(brand=f"{char}acme")]}, "events[0].brand"),
        ("/v1/events", {"events": [event(query=f"red{char}")]}, "events[0].query"),
        ("/v1/catalog/items", {"items": [{"item_id": f"sku{char}"}]}, "items[0].item_id"),
        ("/v1/catalog/items", {"items": [{"item_id": "a", "category": f"tv{char}"}]},
         "items[0].category"),
        ("/v1/catalog/items", {"items": [{"item_id": "a", "tags": ["ok", f"new{char}"]}]},
         "items[0].tags[1]"),
        ("/v1/identify", {**IDENTIFY, "visitor_id": f"anon-1{char}"}, "visitor_id"),
        ("/v1/identify", {**IDENTIFY, "customer_id": f"{char}cust"}, "customer_id"),
    ]  # fmt: skip


# NUL and newline in every field; the other kinds (ESC, DEL, a C1 control) in one field each.
CONTROLLED = [
    pytest.param(*case, id=f"{case[0].rsplit('/', 1)[-1]}:{case[2]}={char!a}")
    for char in ("\u0000", "\n", *OTHER_CONTROL)
    for case in _controlled(char)
    if char in "\u0000\n" or case[2] == "events[0].query"
]


@pytest.mark.parametrize(("path", "body", "field"), CONTROLLED)
def test_control_characters_in_free_text_are_refused(
    http: httpx.Client, redis_client: RedisClient, path: str, body: dict[str, Any], field: str
) -> None:
    method = http.put if path == "/v1/catalog/items" else http.post
    response = method(path, json=body)
    assert_problem(response, 422, field, "matching regex")
    assert response.json()["errors"][0]["field"] == field
    assert written(redis_client) == []


def test_ordinary_unicode_text_is_kept_as_sent(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    text = {"session_id": "sesja-żółw", "item_id": "sku-ąę", "category": "Książki",
            "brand": "Łódź ✨", "query": "gęślą jaźń 🦢\u00a0tanio"}  # fmt: skip
    assert http.post("/v1/events", json={"events": [event(**text)]}).status_code == 202
    (kept,) = history(redis_client, "v-1")
    assert {name: getattr(kept, name) for name in text} == text
    view = {**VIEW, "page": {"type": "search", "query": "pościel 🛏️"}}
    assert http.post("/v1/page-views", json=view).status_code == 200
    items = {"items": [{"item_id": "sku-ą", "category": "Dom", "tags": ["nowość", "🔥"]}]}
    assert http.put("/v1/catalog/items", json=items).status_code == 200
    assert redis_client.hget(field_key("tags"), "sku-ą") == "nowość,🔥".encode()


BODIES: list[tuple[str, str, dict[str, Any], int]] = [
    ("POST", "/v1/page-views", VIEW, 200),
    ("POST", "/v1/events", {"events": [event()]}, 202),
    ("PUT", "/v1/catalog/items", ITEMS, 200),
    ("POST", "/v1/identify", IDENTIFY, 200),
    ("PUT", "/v1/visitors/v-1/consent", {"consent": True}, 200),
    ("POST", "/v1/floor", VIEW, 200),
]


@pytest.mark.parametrize("media", ["application/xml", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(("method", "path", "body", "status"), BODIES)
def test_a_body_declared_as_another_media_type_is_a_415(
    http: httpx.Client,
    redis_client: RedisClient,
    media: str,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
) -> None:
    content = json.dumps(body).encode()
    response = http.request(method, path, content=content, headers={"content-type": media})
    assert_problem(response, 415, media, "application/json or text/plain")
    assert response.json()["title"] == "Unsupported media type"
    assert written(redis_client) == []


@pytest.mark.parametrize(
    "media",
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "text/plain;charset=UTF-8",  # what witryna.js's fetch and sendBeacon send
        None,
    ],
)
@pytest.mark.parametrize(("method", "path", "body", "status"), BODIES[:4])
def test_json_text_plain_and_no_declaration_are_accepted(
    http: httpx.Client,
    redis_client: RedisClient,
    media: str | None,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
) -> None:
    headers = {"content-type": media} if media else {}
    response = http.request(method, path, content=json.dumps(body).encode(), headers=headers)
    assert response.request.headers.get("content-type") == media
    assert response.status_code == status, response.text


def test_the_openapi_document_states_the_rules(http: httpx.Client) -> None:
    paths = http.get("/schema/openapi.json").json()["paths"]
    for method, path, _, _ in BODIES[:5]:
        assert "415" in paths[path.replace("v-1", "{visitor_id}")][method.lower()]["responses"]
    body = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event_schema = body["properties"]["events"]["items"]["properties"]
    (query,) = [kind for kind in event_schema["query"]["anyOf"] if kind["type"] == "string"]
    assert query["pattern"] == r"^[^\x00-\x1f\x7f-\x9f]*$(?!\n)"
