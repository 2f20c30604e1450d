"""Bad input gets a 4xx that names the field, and nothing reaches Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.storage.keys import HOUSEKEEPING
from tests._support.stack import RedisClient

VIEW: dict[str, Any] = {"visitor_id": "v-1", "page": {"type": "home"}}
JSON = {"content-type": "application/json"}


def written(client: RedisClient) -> list[bytes]:
    """Every key but those counting requests whatever they hold: the metrics the workers pool
    each second and the rate limits' counters."""
    return [k for k in client.scan_iter() if not k.decode().startswith(HOUSEKEEPING)]


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (with_(VIEW, visitor_id=42), "visitor_id", ("Expected `str`, got `int`",)),
        (with_(VIEW, page={"type": "basket"}), "page.type", ("Invalid enum value 'basket'",)),
        (with_(VIEW, colour="red"), "colour", ("unknown field `colour`",)),
        (with_(VIEW, page={"type": "home", "x": 1}), "page.x", ("unknown field `x`",)),
        (with_(VIEW, visitor_id="v" * 129), "visitor_id", ("length <= 128",)),
        (with_(VIEW, visitor_id="a{b}"), "visitor_id", ("matching regex",)),
        (with_(VIEW, channel="fax"), "channel", ("Invalid enum value 'fax'",)),
        (with_(VIEW, slots=["Hero!"]), "slots[0]", ("matching regex",)),
        (with_(VIEW, ts=-1), "ts", (">= 0",)),
        ({"page": {"type": "home"}}, "visitor_id", ("missing required field `visitor_id`",)),
        (
            with_(VIEW, page={"type": "search", "query": "q" * 257}),
            "page.query",
            ("length <= 256",),
        ),
    ],
)
def test_invalid_page_view_names_the_field_and_writes_nothing(
    http: httpx.Client,
    redis_client: RedisClient,
    body: dict[str, Any],
    field: str,
    words: tuple[str, ...],
) -> None:
    response = http.post("/v1/page-views", json=body)
    assert_problem(response, 422, field, *words)
    assert response.json()["errors"][0]["field"] == field
    assert written(redis_client) == []


def test_malformed_json_is_a_400(http: httpx.Client, redis_client: RedisClient) -> None:
    response = http.post("/v1/page-views", content=b'{"visitor_id": "v-1", "page": {', headers=JSON)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "body is not valid JSON: Input data was truncated"
    assert written(redis_client) == []


def test_oversized_body_is_a_413(http: httpx.Client, redis_client: RedisClient) -> None:
    events = [{"visitor_id": f"v-{i}", "type": "click", "query": "q" * 200} for i in range(400)]
    response = http.post("/v1/events", json={"events": events})
    assert_problem(response, 413)
    assert written(redis_client) == []


def test_one_bad_event_rejects_the_whole_batch(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    events = [
        {"visitor_id": "v-1", "type": "add_to_cart", "item_id": "a"},
        {"visitor_id": "v-2", "type": "teleport"},
    ]
    response = http.post("/v1/events", json={"events": events})
    assert_problem(response, 422, "events[1].type", "Invalid enum value 'teleport'")
    assert written(redis_client) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": [{"visitor_id": "v", "type": "click", "price": -3}]}, "events[0].price"),
        ({"events": [{"visitor_id": "v", "type": "click", "price": "9"}]}, "events[0].price"),
        ({"evnts": []}, "evnts"),
    ],
)
def test_invalid_event_batches_name_the_field(
    http: httpx.Client, redis_client: RedisClient, body: dict[str, Any], field: str
) -> None:
    response = http.post("/v1/events", json=body)
    assert_problem(response, 422, field)
    assert written(redis_client) == []


def test_unknown_route_and_wrong_method_are_problems(http: httpx.Client) -> None:
    assert_problem(http.get("/v1/nothing"), 404)
    assert_problem(http.get("/v1/page-views"), 405)
