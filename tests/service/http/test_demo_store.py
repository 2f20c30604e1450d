"""What a tester finds in the demo store: an offer and the help chat on a normal journey, the
experiment arm shown and chosen, each reason in plain words; the dashboard on a phone.

Screenshots land in build/screenshots/ as the run's artefacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from service.decision.experiments import assign, in_holdout
from service.decision.policy import load
from service.http.storefront import STATIC
from service.storage.server import RedisServer
from tests._support.chromium import SCREENSHOTS, Browser, browser_for
from tests._support.stack import SECRET, Service, on_one_redis, wait_for
from tests.service.http.test_browser import (
    LAPTOPS,
    STORE_CLOCK,
    abandon_cart,
    as_visitor,
    product,
    view,
)

EXPERIMENT = "cart-incentive"
# One code of each kind the service gives, for the drawer's words.
REASONS = [
    "intent:buy:0.72", "uplift:+0.000", "uplift:-0.050", "rule:checkout_express",
    "rule:intent=buy", "rule:segment=cart_active", "rule:page=help", "rule:cart_items=2",
    "rule:help_before_discount", "rule:none", "arm:cart-incentive=incentive", "explore",
    "offer:value=+2.46", "offer:free_shipping:value=-3.99", "offer:free_shipping:value=unknown",
    "offer:free_shipping:failed=arms", "offer:ten_percent_off:failed=intents",
    "model:next_item", "model:new_in_category", "fill:popular", "filter:in_cart",
    "filter:out_of_stock", "filter:not_in_catalog", "filter:excluded_tag",
    "diversity:per_category", "boost:new",
    "catalog:empty", "catalog:unavailable", "holdout", "slot:not_in_policy",
    "fallback:no_eligible_variant", "fallback:default_content", "degraded:redis_unavailable",
    "degraded:model_failed", "consent:off",
]  # fmt: skip


@pytest.fixture(scope="module")
def demo_store(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The demo as `make run` serves it, with the default policy, on the browser tests' clock
    (a weekday afternoon: the demo model reads the hour). No random offers, and a budget the
    SDK keeps on a busy machine: these tests are about what the page shows, not how fast."""
    text = (STATIC.parents[1] / "decision" / "default_policy.toml").read_text()
    assert "exploration = 0.05" in text
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(text.replace("exploration = 0.05", "exploration = 0.0"))
    env = {
        "WITRYNA_DEMO": "1",
        "WITRYNA_POLICY_PATH": str(path),
        "WITRYNA_SDK_TIMEOUT_MS": "2000",
        **STORE_CLOCK,
    }
    with Service(redis_server.url, **env) as running:
        yield running


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    yield from browser_for(request.node.name)


def decision(browser: Browser) -> dict[str, Any]:
    found: dict[str, Any] = browser.js("return witryna.decision().decision;")
    return found


def text(browser: Browser, element_id: str) -> str:
    return str(browser.driver.find_element("id", element_id).text)


@pytest.mark.browser
def test_a_tester_in_the_incentive_arm_meets_an_offer_and_the_help_chat(
    browser: Browser, demo_store: Service
) -> None:
    origin = demo_store.url
    browser.open(f"{origin}/demo?arm=incentive")
    assert browser.decided() == "personalised"
    assert browser.wait("document.getElementById('arm-badge').textContent.indexOf('incentive') > 0")
    assert "arm=" not in browser.js("return location.search;"), "a reload keeps the visitor"
    # Laptops, one in the cart, back to the cart, away to look again, and back to a laptop
    # without buying: a hesitant shopper, whom an incentive may win (one sure to buy has no
    # uplift to pay for).
    view(browser, f"{origin}/demo?p=category&c=laptops")
    for item in LAPTOPS[:3]:
        view(browser, product(origin, item))
    back = abandon_cart(browser, origin)
    offer = decision(browser)["slots"]["offer"]
    browser.driver.find_element("id", "drawer-toggle").click()
    browser.screenshot("offer")
    help_page = view(browser, f"{origin}/demo?p=help")
    browser.screenshot("help-chat")
    print(f"offer {offer}, help page {help_page['help']}")
    assert back["offer"][:2] == ("free_shipping", "filled"), offer
    assert "arm:cart-incentive=incentive" in offer["reasons"]
    assert "Free shipping" in back["offer"][2]
    assert help_page["help"][:2] == ("chat", "filled"), "the first visit to help offers the chat"
    assert browser.script_errors() == []


@pytest.mark.browser
def test_choosing_an_arm_starts_a_new_visitor_and_moves_no_one(
    browser: Browser, demo_store: Service
) -> None:
    origin = demo_store.url
    policy = load(None)
    someone = next(
        f"v-someone-{n}"
        for n in range(100)
        if assign(policy, f"v-someone-{n}")[EXPERIMENT] == "incentive"
    )
    as_visitor(browser, origin, someone)
    view(browser, f"{origin}/demo?p=cart")
    assert browser.wait("document.getElementById('arm-badge').textContent.indexOf('incentive') > 0")
    browser.driver.find_element("id", "drawer-toggle").click()
    browser.js(
        "var s = document.getElementById('arm-choice'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));",
        f"{EXPERIMENT} control",
    )
    browser.screenshot("arm-choice")
    browser.driver.find_element("id", "arm-start").click()
    assert browser.wait("document.getElementById('arm-badge').textContent.indexOf('control') > 0")
    now = browser.js("return witryna.visitorId();")
    assert now != someone, "another arm is another visitor"
    assert assign(policy, now)[EXPERIMENT] == "control"
    assert text(browser, "cart-count") == "0"
    with httpx.Client(base_url=origin) as http:
        told = http.post("/demo/visitors", json={"visitor_id": someone}).json()
    assert told["arms"] == {EXPERIMENT: "incentive"}, "the first visitor's arm did not move"
    assert browser.script_errors() == []


def test_the_demo_tells_an_arm_or_makes_a_new_visitor_in_one(service: Service) -> None:
    policy = load(None)
    with httpx.Client(base_url=service.url) as http:
        for arm in ("control", "incentive", "holdout"):
            made = [http.post("/demo/visitors", json={"arm": arm}).json() for _ in range(2)]
            assert made[0]["visitor_id"] != made[1]["visitor_id"]
            for answer in made:
                assert assign(policy, answer["visitor_id"])[EXPERIMENT] == arm
                assert answer["arms"] == {EXPERIMENT: arm}
            assert made[0]["choices"] == {EXPERIMENT: ["control", "incentive", "holdout"]}
        # An arm asked for beside someone's id makes a new visitor: that someone stays put.
        asked = {"visitor_id": "v-someone", "arm": "incentive"}
        answer = http.post("/demo/visitors", json=asked).json()
        assert answer["visitor_id"] != "v-someone"
        assert http.post("/demo/visitors", json={"visitor_id": "v-someone"}).json()["arms"] == (
            assign(policy, "v-someone")
        )
        wrong = http.post("/demo/visitors", json={"arm": "treatment"})
        empty = http.post("/demo/visitors", json={})
    assert wrong.status_code == 422
    assert "'treatment' is not an arm of 'cart-incentive'" in wrong.json()["detail"]
    assert "control incentive holdout" in wrong.json()["detail"]
    assert empty.status_code == 422


@pytest.mark.browser
def test_the_drawer_says_each_reason_in_plain_words_beside_its_code(
    browser: Browser, demo_store: Service
) -> None:
    origin = demo_store.url
    visitor = next(f"v-words-{n}" for n in range(100) if not in_holdout(load(None), f"v-words-{n}"))
    as_visitor(browser, origin, visitor)
    view(browser, product(origin, LAPTOPS[5]))
    browser.driver.find_element("id", "drawer-toggle").click()
    shown = browser.js(
        "return Array.from(document.querySelectorAll('#drawer-slots .reason')).map(function (r) {"
        "  var w = r.querySelector('.words');"
        "  return [r.querySelector('code').textContent, w ? w.textContent : null]; });"
    )
    browser.screenshot("drawer-words")
    unexplained = browser.js(
        "return arguments[0].filter(function (c) { return !window.WITRYNA_REASON_WORDS(c); });",
        REASONS,
    )
    print(shown)
    assert shown, "the drawer lists the reasons"
    assert [code for code, words in shown if not words] == []
    assert ["intent:", "The model reads this visit as"] in [
        [code[:7], (words or "")[:29]] for code, words in shown
    ]
    assert unexplained == []
    assert browser.script_errors() == []


def exposed(http: httpx.Client, visitor: str) -> None:
    """A product page view (its offer slot is in the experiment) and a purchase the shop's
    backend vouches for."""
    page = {"visitor_id": visitor, "page": {"type": "product", "item_id": LAPTOPS[0]}}
    assert http.post("/v1/page-views", json=page).status_code == 200
    bought = {"visitor_id": visitor, "type": "purchase", "item_id": LAPTOPS[0]}
    assert http.post("/v1/events", json={"events": [bought]}).status_code == 202


def experiment_rows(browser: Browser) -> dict[str, Any]:
    rows: dict[str, Any] = browser.js(
        "var found = {};"
        "document.querySelectorAll('#experiments .row').forEach(function (r) {"
        "  found[r.getAttribute('data-arm')] = [r.querySelector('.value').textContent,"
        "    !!r.querySelector('.interval'), !!r.querySelector('.nodata')]; });"
        "return found;"
    )
    return rows


@on_one_redis
@pytest.mark.browser
def test_the_dashboard_reads_on_a_phone_with_3xx_a_baseline_and_no_bar_without_data(
    browser: Browser, demo_store: Service, redis_client: redis.Redis
) -> None:
    policy = load(None)
    candidates = [f"v-dash-{n}" for n in range(400)]
    control = next(v for v in candidates if assign(policy, v)[EXPERIMENT] == "control")
    holdout = next(v for v in candidates if in_holdout(policy, v))
    with httpx.Client(base_url=demo_store.url, headers=SECRET) as http:
        for visitor in (control, holdout):
            exposed(http, visitor)

        def tallied() -> bool:
            arms = http.get(f"/v1/experiments/{EXPERIMENT}").json()["arms"]
            return sum(a["conversions"] for a in arms) == 2

        wait_for(tallied)
        etag = http.get("/sdk/witryna.js").headers["etag"]
        not_modified = http.get("/sdk/witryna.js", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
    phone = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
    with browser.sending(SECRET):
        browser.open(f"{demo_store.url}/dashboard")
        assert browser.wait("document.querySelectorAll('#experiments .row').length === 3")
        assert browser.wait(
            "Array.from(document.querySelectorAll('#routes td')).some(function (d) {"
            " return d.textContent === '/sdk/witryna.js'; })"
        )
        header = browser.js(
            "return Array.from(document.querySelectorAll('#routes th')).map(function (h) {"
            " return h.textContent; });"
        )
        sdk_row = browser.js(
            "return Array.from(document.querySelectorAll('#routes tr')).map(function (r) {"
            " return Array.from(r.children).map(function (c) { return c.textContent; }); })"
            ".filter(function (r) { return r[1] === '/sdk/witryna.js'; })[0];"
        )
        rows = experiment_rows(browser)
        width = browser.js("return [document.documentElement.scrollWidth, window.innerWidth];")
        tall = {**phone, "height": browser.js("return document.documentElement.scrollHeight;")}
        browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", tall)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.driver.save_screenshot(str(SCREENSHOTS / "dashboard-390.png"))
    print(f"width {width}, rows {rows}, sdk {sdk_row}")
    assert width[1] == 390
    assert width[0] <= 390, "nothing runs off the side of a phone"
    assert header[3:7] == ["2xx", "3xx", "4xx", "5xx"]
    assert int(sdk_row[header.index("3xx")]) >= 1
    assert "baseline" in rows["holdout"][0]
    assert "uplift" not in rows["holdout"][0]
    assert rows["control"][1], "an arm with exposures draws its interval"
    assert rows["incentive"][1:] == [False, True], "no exposures: no bar, a no-data marker"
    assert browser.script_errors() == []
