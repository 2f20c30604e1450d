"""Every route has an owner, and the attacks a caller without the right key tried fail."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from litestar import Litestar

from service.app import create_app
from service.http.owners import ROUTES, SCHEMA_PREFIX, Owner, owner_of
from service.settings import Settings
from service.storage.keys import HOUSEKEEPING
from tests._support.stack import SECRET, SITE_KEY, RedisClient, wait_for

SITE = {"key": SITE_KEY}
BODIES: dict[str, Any] = {
    "/v1/page-views": {"visitor_id": "v-attacker", "page": {"type": "home"}},
    "/v1/floor": {"visitor_id": "v-attacker", "page": {"type": "home"}},
    "/v1/events": {"events": [{"visitor_id": "v-attacker", "type": "add_to_cart"}]},
    "/v1/catalog/items": {"items": [{"item_id": "sku-00001", "in_stock": True, "price": 0.01}]},
    "/v1/identify": {"visitor_id": "v-attacker", "customer_id": "cust-1001"},
    "/v1/visitors/{visitor_id}/consent": {"consent": True},
}


def app_routes(app: Litestar) -> set[tuple[str, str]]:
    return {
        (method, route.path_format)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in ("HEAD", "OPTIONS")
    }


def filled(path: str) -> str:
    return path.replace("{visitor_id}", "cust-1001").replace("{experiment_id}", "cart-incentive")


def written(client: RedisClient) -> set[bytes]:
    return {k for k in client.scan_iter() if not k.decode().startswith(HOUSEKEEPING)}


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    body = BODIES.get(path)
    return http.request(method, filled(path), json=body, **kwargs)


def test_every_route_of_the_app_is_in_the_owners_table_and_no_other() -> None:
    every = {"WITRYNA_BENCH_ROUTES": "1", "WITRYNA_DEMO": "1", "WITRYNA_OPENAPI": "1"}
    app = create_app(Settings.from_env(every))
    schema = {r for r in app_routes(app) if r[1].startswith(SCHEMA_PREFIX)}
    assert app_routes(app) - schema == set(ROUTES), "a route without an owner, or the reverse"
    assert schema, "the OpenAPI routes are there, and owned by the secret key"
    assert {owner_of(*r) for r in schema} == {Owner.SECRET}
    assert owner_of("POST", "/v1/new-route") is None, "an unlisted route is no one's"


@pytest.mark.parametrize(
    "route", sorted(r for r, owner in ROUTES.items() if owner is not Owner.PUBLIC)
)
def test_without_a_key_every_route_but_the_public_ones_is_refused_and_writes_nothing(
    http: httpx.Client, redis_client: RedisClient, route: tuple[str, str]
) -> None:
    method, path = route
    before = written(redis_client)
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as anonymous:
        answer = call(anonymous, method, path)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    needs = "secret key" if ROUTES[route] is Owner.SECRET else "site key"
    assert needs in answer.json()["detail"]
    assert "Bearer" in answer.headers["www-authenticate"]
    assert written(redis_client) == before


@pytest.mark.parametrize("route", sorted(r for r, owner in ROUTES.items() if owner is Owner.SECRET))
def test_the_site_key_opens_none_of_the_secret_routes(
    http: httpx.Client, redis_client: RedisClient, route: tuple[str, str]
) -> None:
    before = written(redis_client)
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        answer = call(browser, *route, params=SITE)
        bearer = call(browser, *route, headers={"Authorization": f"Bearer {SITE_KEY}"})
    for refused in (answer, bearer):
        assert refused.status_code == 403, refused.text
        assert "needs a secret key" in refused.json()["detail"]
    assert written(redis_client) == before


def test_a_key_that_is_not_ours_is_refused(http: httpx.Client) -> None:
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as stranger:
        guessed = {"key": SITE_KEY[:-1] + "x"}
        answer = stranger.post("/v1/page-views", params=guessed, json=BODIES["/v1/page-views"])
        forged = stranger.get("/metrics", headers={"Authorization": "Bearer " + "s" * 32})
    assert answer.status_code == 401
    assert "is not a key of this service" in answer.json()["detail"]
    assert forged.status_code == 401


def test_the_storefront_works_with_the_site_key(http: httpx.Client) -> None:
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        decided = browser.post("/v1/page-views", params=SITE, json=BODIES["/v1/page-views"])
        sent = browser.post("/v1/events", params=SITE, json=BODIES["/v1/events"])
    assert decided.status_code == 200, decided.text
    assert not decided.json()["degraded"]
    assert sent.status_code == 202


def test_the_catalogue_cannot_be_rewritten_from_a_browser(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    item = {"item_id": "sku-00077", "category": "tv", "price": 499.0, "in_stock": False}
    assert http.put("/v1/catalog/items", json={"items": [item]}).status_code == 200
    cheap = {"items": [{"item_id": "sku-00077", "in_stock": True, "price": 0.01}]}
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        assert browser.put("/v1/catalog/items", params=SITE, json=cheap).status_code == 403
        assert browser.put("/v1/catalog/items", json=cheap).status_code == 401
    assert redis_client.hget("w:{catalog}:price", "sku-00077") == b"499.0"
    assert redis_client.hget("w:{catalog}:in_stock", "sku-00077") == b"0"


def test_a_known_person_is_read_linked_and_erased_only_with_a_secret_key(
    http: httpx.Client, redis_client: RedisClient
) -> None:
    event = {"visitor_id": "anon-victim", "type": "search", "query": "victim@example.com"}
    assert http.post("/v1/events", json={"events": [event]}).status_code == 202
    link = {"visitor_id": "anon-victim", "customer_id": "cust-1001"}
    assert http.post("/v1/identify", json=link).status_code == 200
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        assert browser.get("/v1/visitors/cust-1001/profile", params=SITE).status_code == 403
        hijack = {"visitor_id": "anon-attacker", "customer_id": "cust-1001"}
        assert browser.post("/v1/identify", params=SITE, json=hijack).status_code == 403
        assert browser.delete("/v1/visitors/anon-victim", params=SITE).status_code == 403
        regrant = browser.put("/v1/visitors/cust-1001/consent", params=SITE, json={"consent": True})
        assert regrant.status_code == 403, regrant.text
        assert "needs a secret key" in regrant.json()["detail"]
        own = browser.put("/v1/visitors/anon-own-1/consent", params=SITE, json={"consent": False})
        assert own.status_code == 200, "a browser may change its own anonymous id's consent"
    profile = http.get("/v1/visitors/cust-1001/profile")
    assert profile.status_code == 200
    assert [e["query"] for e in profile.json()["history"]] == ["victim@example.com"]
    assert redis_client.get("w:{anon-attacker}:person") is None


def test_an_unknown_id_has_no_profile(http: httpx.Client) -> None:
    answer = http.get("/v1/visitors/never-seen-42/profile")
    assert answer.status_code == 404
    assert answer.json()["title"] == "Unknown visitor"


def test_probes_say_only_up_or_ready_without_a_secret_key(http: httpx.Client) -> None:
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as probe:
        assert probe.get("/healthz").json() == {"status": "ok"}
        assert probe.get("/readyz").json() == {"status": "ready"}
    detailed = http.get("/readyz").json()
    assert detailed["status"] == "ready"
    assert detailed["model_version"].startswith("demo/")


def test_an_operator_opens_the_dashboard_and_metrics_in_a_browser_with_basic_auth(
    http: httpx.Client,
) -> None:
    secret = http.headers["authorization"].removeprefix("Bearer ")
    basic = base64.b64encode(f"ops:{secret}".encode()).decode()
    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        challenged = browser.get("/dashboard")
        assert challenged.status_code == 401
        assert 'Basic realm="witryna"' in challenged.headers["www-authenticate"]
        for path in ("/dashboard", "/dashboard/data", "/metrics"):
            assert browser.get(path, headers={"Authorization": f"Basic {basic}"}).is_success


def test_only_purchases_the_shop_vouches_for_move_experiment_tallies(
    http: httpx.Client,
) -> None:
    def conversions() -> int:
        arms = http.get("/v1/experiments/cart-incentive").json()["arms"]
        return sum(a["conversions"] for a in arms)

    def exposures() -> int:
        arms = http.get("/v1/experiments/cart-incentive").json()["arms"]
        return sum(a["exposures"] for a in arms)

    with httpx.Client(base_url=str(http.base_url), timeout=10.0) as browser:
        view = {"visitor_id": "fake-buyer", "page": {"type": "cart"}}
        for _ in range(12):
            assert browser.post("/v1/page-views", params=SITE, json=view).status_code == 200
        wait_for(lambda: exposures() == 1)
        assert exposures() == 1, "one visitor is one exposure, however many page views"
        bought = {"visitor_id": "fake-buyer", "type": "purchase", "item_id": "sku-1"}
        forged = browser.post("/v1/events", params=SITE, json={"events": [bought] * 20})
        assert forged.status_code == 202, "the events are kept"
    real = {"visitor_id": "fake-buyer", "type": "purchase", "item_id": "sku-2"}
    assert http.post("/v1/events", json={"events": [real]}).status_code == 202
    wait_for(lambda: conversions() == 1)
    assert conversions() == 1, "only the purchase sent with the secret key converts"


def test_the_demo_page_carries_the_site_key_and_no_secret(http: httpx.Client) -> None:
    page = httpx.get(str(http.base_url).rstrip("/") + "/demo").text
    assert f'<meta name="witryna-site-key" content="{SITE_KEY}">' in page
    assert SECRET["Authorization"].removeprefix("Bearer ") not in page
