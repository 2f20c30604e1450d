"""The visitor's cart, as their events tell it: copy that speaks of a cart reaches only a
visitor with something in it, and carousels leave out what the cart holds unless the policy
asks for it ("complete your order")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.decision.experiments import in_holdout
from service.decision.policy import load, parse
from service.storage.server import RedisServer
from tests._support.stack import ROOT, SECRET, SERVICE_ENV, Service, on_one_redis

DEFAULT = resources.files("service.decision").joinpath("default_policy.toml").read_text()
# 2026-11-24 14:00 UTC, a Tuesday: the demo model reads the hour and weekday of each event.
TUESDAY_2PM = 1_795_960_800.0
ITEMS = ("sku-00042", "sku-00030", "sku-00105", "sku-00333")


def visitors(prefix: str, count: int) -> list[str]:
    """Visitors outside the default policy's holdout, whose pages are personalised."""
    policy = load(None)
    found = [f"{prefix}-{n}" for n in range(count * 4) if not in_holdout(policy, f"{prefix}-{n}")]
    return found[:count]


def page(http: httpx.Client, visitor: str, ts: float, **page: Any) -> dict[str, Any]:
    answer = http.post("/v1/page-views", json={"visitor_id": visitor, "page": page, "ts": ts})
    assert answer.status_code == 200, answer.text
    slots: dict[str, Any] = answer.json()
    return slots


def event(http: httpx.Client, visitor: str, kind: str, item: str, ts: float) -> None:
    sent = {"visitor_id": visitor, "type": kind, "item_id": item, "ts": ts}
    assert http.post("/v1/events", json={"events": [sent]}).status_code == 202


EXPRESS = 'name = "checkout_express"'


def served(
    text: str, name: str, tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[httpx.Client]:
    """A service beside the session's, on the same Redis, following the policy ``text``."""
    parse(text, name)
    path: Path = tmp_path_factory.mktemp("policy") / name
    path.write_text(text)
    env = {**SERVICE_ENV, "WITRYNA_POLICY_PATH": str(path)}
    with (
        Service(redis_server.url, **env) as service,
        httpx.Client(headers=SECRET, base_url=service.url) as http,
    ):
        yield http


@pytest.fixture(scope="module")
def eager(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[httpx.Client]:
    """A service whose checkout_express asks nothing but the cart: whatever the model reads
    of a visitor, only the cart rule keeps the cart copy from an empty cart."""
    block = DEFAULT.split(EXPRESS, 1)[1].split("[[", 1)[0]
    conditions = 'intents = ["buy"]\nbuy_prob = [0.8, 1.0]\n'
    assert conditions in block
    text = DEFAULT.replace(EXPRESS + block, EXPRESS + block.replace(conditions, ""))
    yield from served(text, "eager.toml", tmp_path_factory, redis_server)


@on_one_redis
def test_a_new_visitor_whose_first_page_is_a_product_is_not_told_the_cart_is_saved(
    http: httpx.Client, stocked: list[str], eager: httpx.Client
) -> None:
    heroes: dict[str, set[str]] = {"default": set(), "eager": set()}
    for hour in range(0, 24, 3):
        for item, visitor in zip(ITEMS, visitors(f"v-first-{hour}", len(ITEMS)), strict=True):
            ts = TUESDAY_2PM + (hour - 14) * 3600
            for name, client in (("default", http), ("eager", eager)):
                decided = page(client, f"{visitor}-{name}", ts, type="product", item_id=item)
                heroes[name].add(decided["slots"]["hero"]["variant"])
    print(f"heroes {heroes}")
    assert "checkout_express" not in heroes["default"]
    assert "checkout_express" not in heroes["eager"], "the cart rule alone keeps it away"
    # The eager policy shows it to anyone with something in the cart.
    (carted,) = visitors("v-eager-carted", 1)
    event(eager, carted, "add_to_cart", ITEMS[0], TUESDAY_2PM)
    shown = page(eager, carted, TUESDAY_2PM + 5, type="cart")["slots"]["hero"]
    assert shown["variant"] == "checkout_express"


@on_one_redis
def test_with_an_item_in_the_cart_checkout_express_shows_and_goes_with_the_cart(
    http: httpx.Client, stocked: list[str]
) -> None:
    (visitor,) = visitors("v-carted", 1)
    first = page(http, visitor, TUESDAY_2PM, type="product", item_id=ITEMS[0])
    event(http, visitor, "add_to_cart", ITEMS[0], TUESDAY_2PM + 5)
    carted = page(http, visitor, TUESDAY_2PM + 10, type="cart")
    event(http, visitor, "remove_from_cart", ITEMS[0], TUESDAY_2PM + 15)
    emptied = page(http, visitor, TUESDAY_2PM + 20, type="cart")
    assert first["slots"]["hero"]["variant"] != "checkout_express"
    assert carted["slots"]["hero"]["variant"] == "checkout_express"
    assert "rule:cart_items=1" in carted["slots"]["hero"]["reasons"]
    assert emptied["slots"]["hero"]["variant"] != "checkout_express"


def readme_try_it() -> tuple[list[dict[str, Any]], str]:
    """The request bodies of the README's "Try it" curl commands, and the block's text."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", block)], block


@on_one_redis
def test_the_readmes_try_it_visitor_sees_cart_copy_only_once_something_is_carted(
    http: httpx.Client, stocked: list[str]
) -> None:
    (product_view, carted, cart_view), block = readme_try_it()
    assert product_view["page"]["type"] == "product"
    first = http.post("/v1/page-views", json=product_view).json()
    assert http.post("/v1/events", json=carted).status_code == 202
    second = http.post("/v1/page-views", json=cart_view).json()
    print(first["slots"]["hero"], second["slots"]["hero"])
    assert first["slots"]["hero"]["variant"] != "checkout_express"
    if second["slots"]["hero"]["variant"] == "checkout_express":
        assert "rule:cart_items=1" in second["slots"]["hero"]["reasons"]
    # What the README shows for the first page view claims no cart either.
    shown = block.split('"hero":', 1)[1].split("}", 1)[0]
    assert "checkout_express" not in shown


@pytest.fixture(scope="module")
def complete_your_order(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[httpx.Client]:
    """A service whose carousel shows the cart's items too, beside the session's service."""
    name = 'name = "personalised"\nkind = "carousel"'
    assert name in DEFAULT
    text = DEFAULT.replace(name, f"{name}\ninclude_cart_items = true")
    yield from served(text, "complete-your-order.toml", tmp_path_factory, redis_server)


@on_one_redis
def test_the_cart_pages_carousel_leaves_out_what_the_cart_holds_unless_asked(
    http: httpx.Client, stocked: list[str], complete_your_order: httpx.Client
) -> None:
    (visitor,) = visitors("v-before-you-go", 1)
    # The shopper carts the first two items the carousel recommended: sku-A and sku-B.
    first = page(http, visitor, TUESDAY_2PM, type="product", item_id=ITEMS[0])
    carted = [i["item_id"] for i in first["slots"]["recommendations"]["items"][:2]]
    for n, item in enumerate(carted, start=1):
        page(http, visitor, TUESDAY_2PM + 10 * n, type="product", item_id=item)
        event(http, visitor, "add_to_cart", item, TUESDAY_2PM + 10 * n + 5)
    before_you_go = page(http, visitor, TUESDAY_2PM + 30, type="cart")["slots"]["recommendations"]
    asked = page(complete_your_order, visitor, TUESDAY_2PM + 40, type="cart")
    complete = asked["slots"]["recommendations"]
    shown = {i["item_id"] for i in before_you_go["items"]}
    print(f"cart {carted}: before you go {shown}, complete your order {complete['items']}")
    assert before_you_go["variant"] == "personalised"
    assert len(shown) == 10
    assert shown.isdisjoint(carted)
    assert "filter:in_cart" in before_you_go["reasons"]
    # The control: the model ranks the cart's items high enough to be shown when allowed.
    assert {i["item_id"] for i in complete["items"]} & set(carted)
