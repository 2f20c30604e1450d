"""The HTML pages (demo store, dashboard, Swagger) and their security headers; the demo
store and the API's documentation are served only when a setting asks for them."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

from service.storage.server import RedisServer
from tests._support.stack import SECRET, Service

REFERENCES = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def pages(redis_server: RedisServer) -> Iterator[httpx.Client]:
    with (
        Service(redis_server.url, WITRYNA_DEMO="1", WITRYNA_OPENAPI="1") as running,
        httpx.Client(headers=SECRET, base_url=running.url) as http,
    ):
        yield http


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


@pytest.mark.parametrize("path", ["/demo", "/dashboard", "/schema/swagger"])
def test_every_html_page_carries_the_security_headers(pages: httpx.Client, path: str) -> None:
    response = pages.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["x-frame-options"] == "DENY"
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    scripts = policy.get("script-src", policy["default-src"])
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert not [s for s in scripts if s.startswith("http") or s == "*"], "scripts: own origin"


def test_inline_scripts_run_only_by_their_hash(pages: httpx.Client) -> None:
    for path in ("/demo", "/dashboard"):
        response = pages.get(path)
        inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
        assert inline, f"{path} has the inline script the test is about"
        hashes = {
            f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in inline
        }
        assert set(directives(response)["script-src"]) == {"'self'", *hashes}
    # The demo's files answer with the page's headers only where they are pages.
    assert "content-security-policy" not in pages.get("/demo/demo.js").headers


def test_swagger_loads_only_its_own_pinned_files(pages: httpx.Client) -> None:
    page = pages.get("/schema/swagger")
    assert page.status_code == 200
    assert "://" not in page.text, "no address of another origin"
    urls = REFERENCES.findall(page.text)
    assert len(urls) == 3, urls
    for url in urls:
        assert url.startswith("/schema/assets/"), url
        asset = pages.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
    bundle = pages.get("/schema/assets/swagger-ui-bundle.js")
    assert len(bundle.content) > 1_000_000, "the whole bundle, not a stub"
    assert pages.get("/schema/assets/nothing.js").status_code == 404
    assert pages.get("/schema/openapi.json").json()["info"]["title"] == "Witryna"


def test_demo_store_and_api_documents_are_off_unless_asked_for(redis_server: RedisServer) -> None:
    with (
        Service(redis_server.url) as running,
        httpx.Client(headers=SECRET, base_url=running.url) as http,
    ):
        for path in (
            "/demo",
            "/demo/demo.js",
            "/schema",
            "/schema/swagger",
            "/schema/openapi.json",
        ):
            assert http.get(path).status_code == 404, path
        for path in ("/demo/orders", "/demo/visitors"):
            assert http.post(path, json={"arm": "incentive"}).status_code == 404, path
        assert http.get("/sdk/witryna.js").status_code == 200
