"""The SDK and the demo store as the service serves them, and CORS for shops' origins."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest
import redis

from service.http.storefront import STATIC, sdk_file
from service.settings import Settings
from service.storage.keys import field_key
from service.storage.server import RedisServer
from tests._support.stack import SECRET, Service

SHOP = "http://shop.example"
# The SDK's budget on the wire; the README reports the minified figure from `make sdk-size`.
GZIP_BUDGET_BYTES = 6_000


@pytest.fixture(scope="module")
def shop_service(redis_server: RedisServer) -> Iterator[Service]:
    env = {
        "WITRYNA_CORS_ORIGINS": f"{SHOP}, http://other.example",
        "WITRYNA_SDK_TIMEOUT_MS": "90",
        "WITRYNA_DEMO": "1",
    }
    with Service(redis_server.url, **env) as running:
        yield running


def test_sdk_is_served_small_cacheable_and_with_the_services_timeout(
    shop_service: Service,
) -> None:
    with httpx.Client(headers=SECRET, base_url=shop_service.url) as http:
        plain = http.get("/sdk/witryna.js", headers={"accept-encoding": "identity"})
        zipped = http.get("/sdk/witryna.js", headers={"accept-encoding": "gzip"})
        again = http.get("/sdk/witryna.js", headers={"if-none-match": plain.headers["etag"]})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "timeoutMs: 90," in plain.text
    assert "timeoutMs: 150," not in plain.text
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx inflates: the same file, compressed on the wire
    assert int(zipped.headers["content-length"]) < GZIP_BUDGET_BYTES
    assert again.status_code == 304
    assert again.content == b""


def test_the_sdk_file_keeps_the_default_the_service_rewrites() -> None:
    source = (STATIC / "witryna.js").read_text()
    served = sdk_file(Settings(sdk_timeout_ms=400)).body.decode()
    assert "timeoutMs: 150," in source
    assert served == source.replace("timeoutMs: 150,", "timeoutMs: 400,")
    assert len(gzip.compress(served.encode(), 9)) < GZIP_BUDGET_BYTES


def test_demo_pages_and_files_are_served_and_unknown_files_are_404(shop_service: Service) -> None:
    with httpx.Client(headers=SECRET, base_url=shop_service.url) as http:
        page = http.get("/demo")
        files = {name: http.get(f"/demo/{name}") for name in ("demo.js", "demo.css", "catalog.js")}
        missing = http.get("/demo/secrets.txt")
    assert page.status_code == 200
    assert "data-witryna" not in page.text.split("<main")[0]
    assert '<script src="/demo/demo.js" defer>' in page.text
    assert all(r.status_code == 200 for r in files.values())
    assert files["catalog.js"].text.count('"item_id"') == 600
    assert missing.status_code == 404
    assert missing.json()["detail"] == "the demo store has no file 'secrets.txt'"


def test_cors_answers_the_shops_origins_only(shop_service: Service) -> None:
    body = {"visitor_id": "cors-1", "page": {"type": "home"}}
    with httpx.Client(headers=SECRET, base_url=shop_service.url) as http:
        preflight = http.options(
            "/v1/page-views",
            headers={
                "origin": SHOP,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        simple = http.post(
            "/v1/page-views",
            json=body,
            headers={"origin": SHOP, "content-type": "text/plain"},
        )
        stranger = http.post("/v1/page-views", json=body, headers={"origin": "http://evil.example"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert simple.status_code == 200, simple.text
    assert simple.json()["visitor_id"] == "cors-1"
    assert simple.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-origin" not in stranger.headers


def test_the_demo_store_stocks_an_empty_catalogue_and_leaves_a_shops_alone(
    redis_server: RedisServer,
) -> None:
    """The demo runs on a private Redis that keeps nothing: without its products loaded, no
    carousel of the demo would show anything."""
    demo_items = (STATIC / "demo" / "catalog.js").read_text().count('"item_id"')
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    view = {"visitor_id": "demo-1", "page": {"type": "home"}, "slots": ["recommendations"]}
    with (
        Service(redis_server.url, WITRYNA_DEMO="1") as demo,
        httpx.Client(headers=SECRET, base_url=demo.url) as http,
    ):
        assert http.get("/readyz").json()["catalog_items"] == demo_items
        carousel = http.post("/v1/page-views", json=view).json()["slots"]["recommendations"]
        assert carousel["items"]
    client.flushall()
    client.hset(field_key("in_stock"), "sku-00001", "0")
    with (
        Service(redis_server.url, WITRYNA_DEMO="1") as demo,
        httpx.Client(headers=SECRET, base_url=demo.url) as http,
    ):
        assert http.get("/readyz").json()["catalog_items"] == 1
    client.close()
