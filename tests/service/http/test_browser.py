"""The demo store and witryna.js in real headless Chromium, against the real service.

Screenshots of every step land in build/screenshots/ as the run's artefacts.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
import redis

from service.decision.experiments import assign
from service.decision.policy import load
from service.http.storefront import STATIC
from service.model.encoding import INTENTS
from service.model.manifest import Manifest
from service.storage.keys import events_key
from service.storage.server import RedisServer, free_port
from tests._support.chromium import Browser, ShopHost, Unanswering, browser_for
from tests._support.stack import SECRET, SITE_KEY, Service, on_one_redis, wait_for

# witryna.js leaves the default content after its 150 ms budget: these hold that budget too.
pytestmark = [pytest.mark.browser, pytest.mark.serial]

SLOTS_JS = """
return Array.from(document.querySelectorAll('[data-witryna-slot]')).map(function (e) {
  return [e.getAttribute('data-witryna-slot'), e.getAttribute('data-witryna-variant'),
          e.getAttribute('data-witryna-state'), e.innerText,
          Array.from(e.querySelectorAll('[data-witryna-item]')).map(function (i) {
            return i.getAttribute('data-witryna-item'); })];
});
"""
DEFAULT_HERO = "Welcome to the Witryna demo store"
LAPTOPS = [f"sku-{n:05d}" for n in range(25, 50)]


@pytest.fixture(scope="module")
def steady_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default policy without its 5% random offers, and with free shipping cheaper to
    give (0.5 instead of 4): the demo model's uplift head is weak and moves with the hour
    and the pace of the clicks, and the test is about the page following the decision."""
    text = (STATIC.parents[1] / "decision" / "default_policy.toml").read_text()
    for old, new in (("exploration = 0.05", "exploration = 0.0"), ("cost = 4.0", "cost = 0.5")):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(text)
    return path


# The demo model reads the hour and weekday of each event, and the simulated shoppers it
# learned from buy more readily at night: at 03:00 a visitor browsing laptops reads as a buyer.
# So the store's clock starts on a weekday afternoon (libfaketime, Debian's faketime), and
# the test means the same at whatever hour it runs.
STORE_CLOCK = {
    "LD_PRELOAD": next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), ""),
    "FAKETIME": "@2026-11-24 14:00:00",
    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
}


@pytest.fixture(scope="module")
def store(redis_server: RedisServer, steady_policy: Path) -> Iterator[Service]:
    assert STORE_CLOCK["LD_PRELOAD"], "libfaketime is missing: `make browser` installs it"
    policy = str(steady_policy)
    env = {
        "WITRYNA_POLICY_PATH": policy,
        "WITRYNA_DEMO": "1",
        "WITRYNA_OPENAPI": "1",
        **STORE_CLOCK,
    }
    with Service(redis_server.url, **env) as running:
        yield running


@pytest.fixture
def stocked_store(store: Service, manifest: Manifest, request: pytest.FixtureRequest) -> Service:
    """The store with every item in stock, loaded after the flush of a test that asks for one:
    carousels show only items whose stock the catalogue holds."""
    if "redis_client" in request.fixturenames:
        request.getfixturevalue("redis_client")
    items = [{"item_id": item, "in_stock": True} for item in manifest.items]
    with httpx.Client(headers=SECRET, base_url=store.url) as http:
        assert http.put("/v1/catalog/items", json={"items": items}).status_code == 200
    return store


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    yield from browser_for(request.node.name)


def incentive_visitors(policy_path: Path, count: int) -> list[str]:
    """Visitors outside the holdout who get the cart incentive arm: they can be shown offers."""
    policy = load(str(policy_path))
    found = []
    for n in range(10_000):
        visitor = f"v-browser-test-{n}"
        if assign(policy, visitor).get("cart-incentive") == "incentive":
            found.append(visitor)
        if len(found) == count:
            return found
    raise AssertionError("no visitors in the incentive arm")


def as_visitor(browser: Browser, origin: str, visitor: str) -> None:
    browser.open(f"{origin}/demo/demo.css")  # same origin, no SDK: set the id before any call
    browser.js("localStorage.setItem('witryna_vid', arguments[0]);", visitor)


def view(browser: Browser, url: str) -> dict[str, tuple[Any, ...]]:
    browser.open(url)
    status = browser.decided()
    assert status == "personalised", status
    return {row[0]: tuple(row[1:]) for row in browser.js(SLOTS_JS)}


def product(origin: str, item: str) -> str:
    return f"{origin}/demo?p=product&id={item}"


def abandon_cart(browser: Browser, origin: str) -> dict[str, tuple[Any, ...]]:
    """Cart the product on show, look at another, the cart, two more, the cart again, and
    away to a laptop without buying: the slots of that last page."""
    browser.driver.find_element("id", "add").click()
    assert browser.wait("witryna.pending() === 0 && document.getElementById('added').textContent")
    view(browser, product(origin, LAPTOPS[3]))
    view(browser, f"{origin}/demo?p=cart")
    for item in LAPTOPS[5:7]:
        view(browser, product(origin, item))
    view(browser, f"{origin}/demo?p=cart")  # back to the cart, and away again without buying
    return view(browser, product(origin, LAPTOPS[4]))


def browse(browser: Browser, origin: str, items: list[str]) -> None:
    view(browser, f"{origin}/demo")
    view(browser, f"{origin}/demo?p=category&c=laptops")
    for item in items:
        view(browser, product(origin, item))


@on_one_redis
def test_slots_follow_intent_from_browsing_to_an_abandoned_cart(
    browser: Browser, stocked_store: Service, steady_policy: Path, redis_client: redis.Redis
) -> None:
    store = stocked_store
    browser_visitor, abandoner = incentive_visitors(steady_policy, 2)
    origin = store.url

    as_visitor(browser, origin, browser_visitor)
    browse(browser, origin, LAPTOPS[:4] + LAPTOPS[5:7])
    browsing = view(browser, product(origin, LAPTOPS[4]))
    browser.screenshot("browsing-visitor")

    as_visitor(browser, origin, abandoner)
    browse(browser, origin, LAPTOPS[:2])
    before_cart = view(browser, product(origin, LAPTOPS[2]))
    abandoning = abandon_cart(browser, origin)
    browser.screenshot("cart-abandoner")

    print({"browsing": browsing, "before_cart": before_cart, "abandoning": abandoning})
    for slot in ("hero", "offer", "recommendations"):
        assert browsing[slot][0] != abandoning[slot][0] or browsing[slot][3] != abandoning[slot][3]
    assert browsing["hero"][0] != abandoning["hero"][0], "the hero follows the intent"
    assert browsing["offer"][0] == "none"
    assert abandoning["offer"][1] == "filled"
    assert abandoning["recommendations"][3] != browsing["recommendations"][3]
    assert before_cart["hero"][0] != abandoning["hero"][0], "carting changed the hero"
    assert DEFAULT_HERO not in abandoning["hero"][2]
    # The add-to-cart went through the SDK's event batch into the visitor's history.
    assert redis_client.exists(f"w:{{{abandoner}}}:events")
    assert browser.script_errors() == []


@on_one_redis
def test_a_carousel_click_leaves_by_beacon_as_the_page_unloads(
    browser: Browser, stocked_store: Service, redis_client: redis.Redis
) -> None:
    store = stocked_store
    slots = view(browser, product(store.url, LAPTOPS[8]))
    assert slots["recommendations"][1] == "filled", "the card is Witryna's, not the shop's"
    visitor = browser.js("return witryna.visitorId();")
    # No timer flush for ten minutes: only the pagehide beacon can deliver the click.
    browser.js("witryna('init', {flushMs: 600000});")
    card = browser.driver.find_element(
        "css selector", "[data-witryna-slot=recommendations] [data-witryna-item]"
    )
    clicked = card.get_attribute("data-witryna-item")
    card.find_element("css selector", "a").click()  # navigates away at once

    def clicks() -> list[str]:
        raw = redis_client.zrange(events_key(visitor), 0, -1)
        events = [msgspec.msgpack.decode(r) for r in raw]
        return [e["item_id"] for e in events if e["type"] == "click"]

    wait_for(lambda: bool(clicks()))
    assert clicks() == [clicked]
    assert browser.script_errors() == []


@on_one_redis
def test_with_the_catalogue_empty_the_carousel_keeps_the_shops_own_content(
    browser: Browser, store: Service, redis_client: redis.Redis
) -> None:
    with httpx.Client(headers=SECRET, base_url=store.url) as http:
        wait_for(lambda: http.get("/readyz").json()["catalog"] == "empty")
    slots = view(browser, product(store.url, LAPTOPS[8]))
    browser.screenshot("empty-catalogue")
    variant, state, _, items = slots["recommendations"]
    assert (variant, state) == ("none", "default")
    assert items, "the shop's own cards stay"
    assert browser.script_errors() == []


def test_debug_drawer_explains_the_decision(
    browser: Browser, store: Service, steady_policy: Path
) -> None:
    # A fixed visitor outside the holdout: a random one lands there one time in twenty,
    # and a holdout decision has no intent reasons to show.
    as_visitor(browser, store.url, incentive_visitors(steady_policy, 1)[0])
    view(browser, f"{store.url}/demo?p=category&c=tv")
    browser.driver.find_element("id", "drawer-toggle").click()
    status = browser.driver.find_element("id", "drawer-status").text
    intents = browser.js(
        "return Array.from(document.querySelectorAll('#drawer-intent .bar'))"
        ".map(function (b) { return b.getAttribute('data-intent'); });"
    )
    reasons = browser.driver.find_element("id", "drawer-slots").text
    browser.screenshot("drawer")
    assert re.match(r"Intent \w+ · model demo/\S+ · \d+ ms", status), status
    assert intents == list(INTENTS)
    assert "hero" in reasons
    assert "intent:" in reasons
    assert browser.script_errors() == []


def test_across_origins_and_with_the_service_stopped_pages_keep_their_default_content(
    browser: Browser, redis_server: RedisServer
) -> None:
    with ShopHost() as shop:
        env = {"WITRYNA_CORS_ORIGINS": shop.origin}
        with Service(redis_server.url, **env) as running:
            browser.open(
                f"{shop.origin}/demo?endpoint={running.url}&sdk={shop.origin}/sdk/witryna.js"
                f"&key={SITE_KEY}"
            )
            assert browser.decided() == "personalised", "CORS lets the shop's origin through"
        stopped = f"http://127.0.0.1:{free_port()}"
        for page in ("", "?p=product&id=sku-00030", "?p=cart", "?p=help"):
            browser.open(f"{shop.origin}/demo{page}{'&' if page else '?'}endpoint={stopped}")
            assert browser.decided() == "fallback"
            slots = {row[0]: row for row in browser.js(SLOTS_JS)}
            assert all(row[2] is None for row in slots.values()), "no slot was touched"
            if "hero" in slots:
                assert DEFAULT_HERO in slots["hero"][3]
            browser.screenshot(f"stopped{page.replace('?', '-').replace('&', '-')}")
        browser.driver.find_element("id", "drawer-toggle").click()
        assert "did not answer" in browser.driver.find_element("id", "drawer-status").text
        browser.open(f"{shop.origin}/demo?p=product&id=sku-00030")
        browser.decided()
        browser.driver.find_element("id", "add").click()
        assert browser.wait("document.getElementById('added').textContent"), "the shop still works"
        assert browser.wait("witryna.pending() === 1"), "the undelivered event is kept for later"
        browser.open(f"{shop.origin}/demo?p=cart")  # leaving while the service is down...
        browser.decided()
        assert browser.wait("witryna.pending() === 1"), "...the next page takes the event over"
        visitor = browser.js("return witryna.visitorId();")
        with Service(redis_server.url, **env) as back:
            browser.open(f"{shop.origin}/demo?p=cart&endpoint={back.url}")
            assert browser.decided() == "personalised"
            assert browser.wait("witryna.pending() === 0"), "delivered once the service is back"
        raw = redis.Redis(port=redis_server.port).zrange(
            events_key(visitor), 0, -1
        )  # after the stop
        assert "add_to_cart" in [msgspec.msgpack.decode(r)["type"] for r in raw]
        assert browser.script_errors() == []


def test_events_still_on_their_way_to_a_hanging_service_go_with_the_visitor_to_the_next_page(
    browser: Browser, store: Service, redis_server: RedisServer
) -> None:
    with Unanswering() as hanging:
        sdk = f"{store.url}/sdk/witryna.js"
        browser.open(f"{store.url}/demo?p=product&id={LAPTOPS[1]}&endpoint={hanging.url}&sdk={sdk}")
        assert browser.decided() == "fallback"
        browser.driver.find_element("id", "add").click()
        # A second later the flush posts the event, and the post hangs: it is in flight
        # when the visitor leaves, and the page that sent it is gone before it could fail.
        wait_for(lambda: any(urlsplit(url).path == "/v1/events" for url in browser.requests()))
        assert any(urlsplit(url).path == "/v1/events" for url in browser.requests()), (
            "the SDK posted"
        )
        visitor = browser.js("return witryna.visitorId();")
        browser.open(f"{store.url}/demo?p=cart")
        browser.decided()
        assert browser.wait("witryna.pending() === 1"), "the next page took the event over"
        browser.open(f"{store.url}/demo?p=cart&endpoint={store.url}")
        assert browser.decided() == "personalised"
        assert browser.wait("witryna.pending() === 0"), "delivered to the service that answers"
    raw = redis.Redis(port=redis_server.port).zrange(events_key(visitor), 0, -1)
    types = [msgspec.msgpack.decode(r)["type"] for r in raw]
    assert types.count("add_to_cart") == 1, types
    assert browser.script_errors() == []


def test_two_windows_left_while_the_service_is_down_both_hand_their_events_on(
    browser: Browser, store: Service, redis_server: RedisServer
) -> None:
    stopped = f"http://127.0.0.1:{free_port()}"
    sdk = f"{store.url}/sdk/witryna.js"
    carted = LAPTOPS[2:4]
    windows: list[str] = []
    for item in carted:
        if windows:  # a window of its own: both pages stay visible, neither hands over early
            browser.driver.switch_to.new_window("window")
        browser.open(f"{store.url}/demo?p=product&id={item}&endpoint={stopped}&sdk={sdk}")
        assert browser.decided() == "fallback"
        browser.driver.find_element("id", "add").click()
        assert browser.wait("witryna.pending() === 1"), "its own event only, nothing taken over"
        windows.append(browser.driver.current_window_handle)
    visitor = browser.js("return witryna.visitorId();")
    for window in windows:  # one after the other, both while the service is still down
        browser.driver.switch_to.window(window)
        browser.open(f"{store.url}/demo/demo.css")
    browser.open(f"{store.url}/demo?p=cart&endpoint={store.url}")
    assert browser.decided() == "personalised"
    assert browser.wait("witryna.pending() === 0"), "delivered once the service answers"
    raw = redis.Redis(port=redis_server.port).zrange(events_key(visitor), 0, -1)
    events = [msgspec.msgpack.decode(r) for r in raw]
    assert sorted(e["item_id"] for e in events if e["type"] == "add_to_cart") == carted
    assert browser.js("return Object.keys(localStorage).filter(k => k.includes('unsent'));") == []
    assert browser.script_errors() == []


def test_an_unanswering_service_costs_the_page_at_most_the_timeout(browser: Browser) -> None:
    with ShopHost() as shop, Unanswering() as hanging:
        sdk = f"{shop.origin}/sdk/witryna.js"
        browser.open(
            f"{shop.origin}/demo?p=product&id=sku-00031&endpoint={hanging.url}&sdk={sdk}"
            f"&key={SITE_KEY}"
        )
        assert browser.decided() == "fallback"
        waited_ms = browser.js("return witryna.decision().ms;")
        loaded = browser.js(
            "return performance.getEntriesByType('navigation')[0].loadEventEnd > 0;"
        )
        hero = browser.js(SLOTS_JS)[0]
        browser.screenshot("unanswering")
    print(f"witryna.js gave up after {waited_ms} ms")
    assert loaded, "the page finished loading while the SDK waited"
    assert 150 <= waited_ms < 150 + 350, "gives up at the 150 ms default, not later"
    assert hero[0] == "hero"
    assert hero[2] is None
    assert DEFAULT_HERO in hero[3]
    assert len(hanging.held) >= 1, "the SDK did ask"
    assert browser.script_errors() == []


@on_one_redis
def test_without_consent_no_request_leaves_the_page(
    browser: Browser, store: Service, redis_client: redis.Redis
) -> None:
    origin = store.url
    browser.open(f"{origin}/demo/demo.css")
    browser.js("localStorage.setItem('witryna_consent', '0');")
    browser.open(f"{origin}/demo")
    assert browser.decided() == "no_consent"
    assert browser.js("return witryna.decision().ms;") < 20, (
        "without consent the SDK waits for nothing"
    )
    browser.open(product(origin, LAPTOPS[0]))
    assert browser.decided() == "no_consent"
    browser.driver.find_element("id", "add").click()
    browser.driver.find_element("css selector", "[data-witryna-item] a").click()
    browser.open(f"{origin}/demo?p=cart")
    browser.screenshot("no-consent")
    sent = [url for url in browser.requests() if "/v1/" in url]
    stored_ids = browser.js("return localStorage.getItem('witryna_vid');")
    assert sent == [], sent
    assert stored_ids is None, "no id is kept without consent"
    assert redis_client.keys("w:{v-*") == []

    # The control: the same log sees the SDK's calls once consent is given.
    browser.driver.find_element("id", "consent").click()
    assert browser.wait("document.documentElement.getAttribute('data-witryna') === 'personalised'")
    assert any(urlsplit(url).path == "/v1/page-views" for url in browser.requests())
    assert browser.script_errors() == []


def test_shop_templates_override_and_a_broken_one_leaves_the_default(
    browser: Browser, stocked_store: Service
) -> None:
    store = stocked_store
    browser.open(f"{store.url}/demo?p=cart")
    browser.decided()
    browser.js(
        """
        document.documentElement.removeAttribute('data-witryna');
        witryna('init', {templates: {
          hero: function (s) { return '<p id="custom-hero">shop hero: ' + s.variant + '</p>'; },
          recommendations: function () { throw new Error('a broken shop template'); }
        }});
        var recommendations = document.querySelector('[data-witryna-slot=recommendations]');
        recommendations.innerHTML = '<p>shop default</p>';
        witryna('page', {type: 'cart'});
        """
    )
    assert browser.decided() == "personalised"
    hero = browser.driver.find_element("id", "custom-hero").text
    recommendations = browser.js(SLOTS_JS)
    states = {row[0]: (row[2], row[3]) for row in recommendations}
    variants = {row[0]: row[1] for row in recommendations}
    assert variants["recommendations"] != "none", "a carousel, so the template was called"
    assert hero.startswith("shop hero: ")
    assert hero != "shop hero: none"
    assert states["recommendations"] == ("default", "shop default")
    assert browser.script_errors() == []


def test_dashboard_charts_refresh_with_live_traffic(browser: Browser, store: Service) -> None:
    with browser.sending(SECRET):
        dashboard_refreshes(browser, store)


def dashboard_refreshes(browser: Browser, store: Service) -> None:
    browser.open(f"{store.url}/dashboard")
    assert browser.wait("document.getElementById('status').textContent.indexOf('live') === 0")
    before = browser.js("return document.querySelectorAll('#intents .row').length;")
    views = [{"visitor_id": f"dash-{n}", "page": {"type": "home"}} for n in range(12)]
    with httpx.Client(headers=SECRET, base_url=store.url) as http:
        intents = {http.post("/v1/page-views", json=v).json()["intent"]["label"] for v in views}
    assert browser.wait("document.querySelectorAll('#intents .row').length > 0")
    rate = browser.wait("parseFloat(document.querySelector('#tiles .tile b').textContent) || 0")
    p99 = browser.wait(
        "parseFloat(document.querySelectorAll('#tiles .tile b')[3].textContent) || 0"
    )
    shown = browser.js(
        "return Array.from(document.querySelectorAll('#intents .row .name'))"
        ".map(function (n) { return n.textContent; });"
    )
    # The requests-per-second chart was drawn (a script failure would leave it blank).
    painted = browser.js(
        "var c = document.getElementById('rps');"
        "var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "for (var i = 3; i < d.length; i += 4) { if (d[i] > 0) return true; } return false;"
    )
    browser.screenshot("dashboard")
    print(f"intent rows before traffic {before}, after {shown}")
    assert intents <= set(shown)
    assert rate > 0, "the requests-per-second tile moved"
    assert p99 > 0, "latency percentiles came through"
    assert painted
    assert browser.script_errors() == []


def test_swagger_renders_offline_from_its_own_files(browser: Browser, store: Service) -> None:
    with browser.sending(SECRET):
        browser.open(f"{store.url}/schema/swagger")
        title = browser.wait(
            "(document.querySelector('.swagger-ui .info .title') || {}).textContent"
        )
        assert title, "Swagger UI drew the document"
        assert "Witryna" in title
        assert browser.wait("document.querySelectorAll('.opblock').length > 5")
    outside = [u for u in browser.requests() if not u.startswith((store.url, "data:"))]
    assert outside == [], "nothing from another origin"
    assert browser.script_errors() == []


def test_the_demo_checkout_converts_through_its_backend_not_the_browser(
    browser: Browser, store: Service
) -> None:
    """Purchases the browser sends do not move experiments; the demo's stand-in for a shop
    backend sends the order as the shop's server would, so the demo's experiment moves."""
    origin = store.url
    as_visitor(browser, origin, "v-demo-buyer")
    view(browser, product(origin, LAPTOPS[0]))
    browser.driver.find_element("id", "add").click()
    assert browser.wait("witryna.pending() === 0 && document.getElementById('added').textContent")
    view(browser, f"{origin}/demo?p=checkout")
    with httpx.Client(headers=SECRET, base_url=origin) as http:

        def conversions() -> int:
            arms = http.get("/v1/experiments/cart-incentive").json()["arms"]
            return sum(a["conversions"] for a in arms)

        before = conversions()
        browser.driver.find_element("id", "place-order").click()
        assert browser.wait("location.search.indexOf('done=1') >= 0")
        wait_for(lambda: conversions() == before + 1)
        assert conversions() == before + 1
        profile = http.get("/v1/visitors/v-demo-buyer/profile").json()
    assert profile["purchases"] == 1
    assert browser.script_errors() == []
