"""The pages a new user opens first, in real headless Chromium: the landing page, the demo
store's console, and the API docs drawn offline from the service's own files (Chromium here
reaches nothing but this machine).

Screenshots land in build/screenshots/ (landing page, API docs)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests._support.chromium import Browser, browser_for
from tests._support.stack import SECRET, Service, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.serial]

DEMO_PAGES = ["/demo", "/demo?p=cart", "/demo?p=checkout", "/demo?p=help"]


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    yield from browser_for(request.node.name)


def asked_for_icon(browser: Browser, origin: str) -> bool:
    """Whether Chromium has asked this origin for its icon, which it does after the load."""
    wait_for(lambda: f"{origin}/favicon.ico" in browser.requests(), timeout_s=5)
    return f"{origin}/favicon.ico" in browser.requests()


def test_the_landing_page_leads_to_the_demo_with_a_clean_console(
    browser: Browser, service: Service
) -> None:
    browser.open(f"{service.url}/")
    assert browser.wait("document.querySelectorAll('li a').length") == 5
    browser.screenshot("landing")
    assert asked_for_icon(browser, service.url)
    browser.driver.find_element("link text", "Demo store").click()
    assert browser.wait("location.pathname === '/demo'")
    assert browser.console_errors() == []


@pytest.mark.parametrize("path", DEMO_PAGES, ids=["home", "cart", "checkout", "help"])
def test_demo_pages_log_no_console_error(browser: Browser, service: Service, path: str) -> None:
    browser.open(f"{service.url}{path}")
    assert browser.decided() in ("personalised", "fallback")
    assert asked_for_icon(browser, service.url), "the icon is what the console complained of"
    # The icon's answer is logged a moment after its request.
    wait_for(lambda: bool(browser.console_errors()), timeout_s=1)
    assert browser.console_errors() == []


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"], ids=["schema", "swagger"])
def test_the_api_docs_draw_every_operation_offline(
    browser: Browser, service: Service, path: str
) -> None:
    document = httpx.get(f"{service.url}/schema/openapi.json", headers=SECRET).json()
    summaries = sorted(o["summary"] for item in document["paths"].values() for o in item.values())
    with browser.sending(SECRET):
        browser.open(f"{service.url}{path}")
        drawn = browser.wait(
            f"document.querySelectorAll('.opblock').length >= {len(summaries)} &&"
            " Array.from(document.querySelectorAll('.opblock-summary-description'))"
            ".map(function (e) { return e.textContent; })"
        )
        browser.screenshot("api-docs")
    assert sorted(drawn or []) == summaries
    outside = [u for u in browser.requests() if not u.startswith((service.url, "data:"))]
    assert outside == [], "nothing from another origin"
    assert browser.console_errors() == []
