"""The policy file: checked on load with the line and field named; reloaded while serving."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest

from service.decision.policy import PolicyError, load, parse
from service.storage.server import RedisServer
from tests._support.stack import SECRET, Service, wait_for

DEFAULT = resources.files("service.decision").joinpath("default_policy.toml").read_text()


def test_the_default_policy_loads_and_covers_every_page_type() -> None:
    policy = load(None)
    assert policy.version == "default-1"
    assert policy.slots_for("cart") == ["hero", "offer", "help", "recommendations"]
    assert policy.slots_for("search") == ["hero", "recommendations"]  # from pages.default
    assert policy.experiments_in(["offer"]) == {"cart-incentive"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "cost = 8.0",
            "cost = -8.0",
            "shop.toml:71: slots.offer.variants[1].cost: Expected `float` >= 0.0",
        ),
        (
            'slots = ["offer", "help"]',
            'slots = ["offer", "helpp"]',
            "shop.toml:26: pages.checkout.slots[1]: no slot named 'helpp'",
        ),
        (
            'name = "ten_percent_off"',
            'name = "ten_percent_off"\ncolour = 1',
            "shop.toml:69: slots.offer.variants[1].colour: Object contains unknown field `colour`",
        ),
        (
            "control = 0.5,",
            "control = 0.6,",
            "shop.toml:33: experiments[0].arms: shares must add up to 1",
        ),
        (
            "buy_prob = [0.0, 0.8]",
            "buy_prob = [0.9, 0.8]",
            "shop.toml:46: slots.hero.variants[1].buy_prob: low is above high",
        ),
        (
            'intents = ["buy"]',
            'intents = ["buyer"]',
            "shop.toml:39: slots.hero.variants[0].intents[0]: Invalid enum value 'buyer'",
        ),
        (
            'experiment = "cart-incentive"\narms = ["incentive"]',
            'experiment = "cart"\narms = ["incentive"]',
            "shop.toml:64: slots.offer.variants[0].experiment: no experiment 'cart'",
        ),
        ("holdout = 0.05", "holdout = 5", "shop.toml:5: holdout: Expected `float` <= 1.0"),
        (
            "cart_items = [1, inf]\n",
            "",
            "shop.toml:36: slots.hero.variants[0].cart_items: 'checkout_express' speaks of the "
            "cart (named checkout_* or cart_*): it needs cart_items = [1, inf], so that a "
            "visitor with an empty cart never sees it",
        ),
        (
            "cart_items = [1, inf]",
            "cart_items = [0, inf]",
            "shop.toml:38: slots.hero.variants[0].cart_items: 'checkout_express' speaks of the "
            "cart (named checkout_* or cart_*): it needs cart_items = [1, inf], so that a "
            "visitor with an empty cart never sees it",
        ),
        (
            'name = "inspiration"',
            'name = "inspiration"\nneeds_cart = true',
            "shop.toml:49: slots.hero.variants[2].cart_items: 'inspiration' speaks of the "
            "cart (needs_cart = true): it needs cart_items = [1, inf], so that a visitor with "
            "an empty cart never sees it",
        ),
        (
            'name = "best_sellers"',
            'name = "best_sellers"\ninclude_cart_items = true',
            "shop.toml:56: slots.hero.variants[3].include_cart_items: only a carousel shows items",
        ),
        (
            'catalog_fallback = "none"',
            'catalog_fallback = "personalised"',
            "shop.toml:14: recommendations.catalog_fallback: 'personalised' is a carousel variant",
        ),
        (
            'catalog_fallback = "none"',
            'catalog_fallback = "Best Sellers"',
            "shop.toml:14: recommendations.catalog_fallback: Expected `str` matching regex "
            r"'^[a-z0-9_\\-]+$'",
        ),
        (
            "version = ",
            "version == ",
            "shop.toml:4: not valid TOML: Invalid value",
        ),
    ],
)
def test_a_bad_policy_names_the_line_and_the_field(old: str, new: str, message: str) -> None:
    assert old in DEFAULT
    with pytest.raises(PolicyError) as raised:
        parse(DEFAULT.replace(old, new, 1), "shop.toml")
    assert raised.value.detail == message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"nowhere\.toml: cannot read"):
        load(str(tmp_path / "nowhere.toml"))


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT.replace("holdout = 0.05", "holdout = 0.0"))
    return path


@pytest.fixture
def served(policy_file: Path, redis_server: RedisServer) -> Iterator[httpx.Client]:
    env = {"WITRYNA_POLICY_PATH": str(policy_file), "WITRYNA_MODEL_POLL_S": "0.1"}
    with (
        Service(redis_server.url, **env) as service,
        httpx.Client(headers=SECRET, base_url=service.url) as http,
    ):
        yield http


def hero(http: httpx.Client) -> str:
    body = {"visitor_id": "v-p", "page": {"type": "home"}, "slots": ["hero"]}
    variant: str = http.post("/v1/page-views", json=body).json()["slots"]["hero"]["variant"]
    return variant


def test_an_edited_policy_is_followed_and_a_broken_one_is_refused(
    policy_file: Path, served: httpx.Client
) -> None:
    assert served.get("/readyz").json()["policy_version"] == "default-1"
    edited = policy_file.read_text().replace('version = "default-1"', 'version = "one-hero"')
    unconditional = 'name = "only_hero"'
    conditions = 'cart_items = [1, inf]\nintents = ["buy"]\nbuy_prob = [0.8, 1.0]'
    assert conditions in edited
    edited = edited.replace(conditions, "").replace('name = "checkout_express"', unconditional)
    edited = edited.replace("priority = 30", "priority = 99")
    policy_file.write_text(edited)
    wait_for(lambda: served.get("/readyz").json()["policy_version"] == "one-hero")
    assert hero(served) == "only_hero"

    policy_file.write_text(edited.replace("priority = 99", "priority = 'high'"))
    wait_for(lambda: served.get("/readyz").json()["policy_reload_error"] is not None)
    ready = served.get("/readyz").json()
    assert ready["policy_version"] == "one-hero"
    assert (
        "slots.hero.variants[0].priority: Expected `int`, got `str`" in ready["policy_reload_error"]
    )
    assert hero(served) == "only_hero"
