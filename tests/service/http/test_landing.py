"""The service's own address says what it is and where to go; HEAD answers wherever GET
does; browsers find an icon."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from service.http.landing import LINKS, page
from service.settings import Settings
from tests._support.stack import SECRET, Service

HREF = re.compile(r'<a href="([^"]+)"')
# GET routes a monitor, a link checker or `curl -I` sends HEAD to, with and without a key.
HEAD_PATHS = [
    "/",
    "/healthz",
    "/readyz",
    "/demo",
    "/demo/demo.css",
    "/sdk/witryna.js",
    "/favicon.ico",
    "/schema",
    "/schema/swagger",
    "/schema/openapi.json",
    "/dashboard",
]


@pytest.fixture
def anonymous(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=10.0) as client:
        yield client


def test_the_landing_page_is_public_html_linking_every_place_to_go(
    anonymous: httpx.Client,
) -> None:
    answer = anonymous.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "real-time website personalisation" in answer.text.lower()
    links = HREF.findall(answer.text)
    assert links == ["/demo", "/dashboard", "/schema/swagger", "/healthz", "/readyz"]
    assert "content-security-policy" in answer.headers
    for link in links:
        # Each link leads somewhere: public pages open, the others ask for the secret key.
        status = anonymous.get(link).status_code
        assert status in (200, 401), (link, status)
        assert anonymous.get(link, headers=SECRET).status_code == 200, link


def test_the_landing_page_says_how_to_turn_on_what_is_off() -> None:
    body = page(Settings()).body.decode()
    links = HREF.findall(body)
    assert "/demo" not in links
    assert "/schema/swagger" not in links
    assert "WITRYNA_DEMO=1" in body
    assert "WITRYNA_OPENAPI=1" in body
    assert {link.path for link in LINKS} - set(links) == {"/demo", "/schema/swagger"}


@pytest.mark.parametrize("path", HEAD_PATHS)
def test_head_answers_as_get_does_without_the_body(service: Service, path: str) -> None:
    with httpx.Client(base_url=service.url, headers=SECRET, timeout=10.0) as http:
        got = http.get(path, headers={"accept-encoding": "identity"})
        head = http.head(path, headers={"accept-encoding": "identity"})
    assert got.status_code == 200, got.text
    assert head.status_code == 200, f"HEAD {path}: {head.status_code}"
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_is_refused_where_get_is(anonymous: httpx.Client) -> None:
    assert anonymous.head("/metrics").status_code == 401, "the GET route's owner decides"
    refused = anonymous.head("/v1/events")
    assert refused.status_code == 405
    assert "POST" in refused.headers["allow"]
    assert "GET" not in refused.headers["allow"]
    assert anonymous.head("/nothing-here").status_code == 404


def test_the_favicon_is_a_small_cacheable_svg(anonymous: httpx.Client) -> None:
    icon = anonymous.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    assert len(icon.content) < 2048
    assert "max-age" in icon.headers["cache-control"]
