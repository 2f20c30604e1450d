"""/metrics and /dashboard: real traffic through a real service, counted exactly."""

from __future__ import annotations

import random
import re
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis
from prometheus_client import REGISTRY

from service.metrics.counters import (
    BOUNDS,
    WINDOWS,
    Metrics,
    RouteStats,
    Snapshot,
    empty_buckets,
    quantile,
)
from service.metrics.exposition import render
from service.metrics.pool import merge
from service.model.manifest import Manifest
from service.storage.keys import pool_key
from service.storage.server import RedisServer
from tests._support.stack import SECRET, Service, on_one_redis, wait_for
from tests.service.metrics.scrape import Exposition, scrape

PAGE_VIEWS = "/v1/page-views"


def page_views_counted(url: str) -> float:
    counts = scrape(url).values("witryna_http_request_duration_seconds_count", route=PAGE_VIEWS)
    return sum(counts.values())


class Traffic(msgspec.Struct):
    url: str
    views: int
    rejected: int
    intents: Counter[str]
    variants: Counter[tuple[str, str]]
    model_version: str
    # Scraped once the worker had published, before any page view.
    before: Exposition | None = None


@pytest.fixture(scope="module")
def traffic(redis_server: RedisServer, manifest: Manifest) -> Iterator[Traffic]:
    """A fresh service given known traffic: its counts start at zero and owe nothing else."""
    redis.Redis(port=redis_server.port).flushall()
    rng = random.Random(11)
    pages = ["home", "product", "cart", "checkout", "help", "category"]
    seen = Traffic("", 0, 0, Counter(), Counter(), "")
    with (
        Service(redis_server.url) as service,
        httpx.Client(headers=SECRET, base_url=service.url) as http,
    ):
        wait_for(lambda: scrape(service.url).value("witryna_metrics_workers") == 1)
        seen.before = scrape(service.url)
        assert http.put("/v1/visitors/v-off/consent", json={"consent": False}).status_code == 200
        bodies: list[dict[str, Any]] = [
            {"visitor_id": f"v-{rng.randrange(12)}", "page": {"type": rng.choice(pages)}}
            for _ in range(40)
        ]
        bodies[5]["page"] = {"type": "product", "item_id": manifest.items[7]}
        bodies += [
            {"visitor_id": "v-off", "page": {"type": "home"}},
            {"visitor_id": "v-3", "page": {"type": "home"}, "slots": ["hero", "mystery"]},
        ]
        for body in bodies:
            decision = http.post(PAGE_VIEWS, json=body).json()
            seen.intents[decision["intent"]["label"]] += 1
            for slot, chosen in decision["slots"].items():
                seen.variants[(slot if slot != "mystery" else "_other", chosen["variant"])] += 1
        for bad in ({"visitor_id": "v-1"}, {"visitor_id": "v-1", "page": {"type": "moon"}}):
            assert http.post(PAGE_VIEWS, json=bad).status_code == 422
        seen.url, seen.views, seen.rejected = service.url, len(bodies), 2
        seen.model_version = http.get("/readyz").json()["model_version"]
        wait_for(lambda: page_views_counted(service.url) == len(bodies) + 2)
        yield seen


def test_counts_move_with_the_requests_the_service_takes(traffic: Traffic) -> None:
    before, after = traffic.before, scrape(traffic.url)
    assert before is not None
    requests, durations = "witryna_http_requests_total", "witryna_http_request_duration_seconds"
    assert not before.values(requests, route=PAGE_VIEWS)
    assert not before.values(f"{durations}_count", route=PAGE_VIEWS)
    assert not before.values("witryna_decisions_total")
    assert after.value(f"{durations}_count", route=PAGE_VIEWS) == traffic.views + traffic.rejected
    assert after.value(f"{durations}_sum", route=PAGE_VIEWS) > 0
    assert sum(after.by("witryna_decisions_total", "intent").values()) == traffic.views
    # The scrapes count themselves: the fixture's waits made several before ``before``.
    scrapes = [sum(e.values(requests, route="/metrics").values()) for e in (before, after)]
    assert scrapes[1] > scrapes[0]
    assert after.value(requests, route="/v1/visitors/{visitor_id}/consent", status="2xx") == 1


def test_metrics_count_every_page_view_by_status_intent_and_variant(traffic: Traffic) -> None:
    metrics = scrape(traffic.url)
    requests = metrics.by("witryna_http_requests_total", "status")
    assert metrics.values("witryna_http_requests_total", route=PAGE_VIEWS, method="POST")
    assert metrics.value("witryna_http_requests_total", route=PAGE_VIEWS, status="2xx") == (
        traffic.views
    )
    assert metrics.value("witryna_http_requests_total", route=PAGE_VIEWS, status="4xx") == (
        traffic.rejected
    )
    assert set(requests) <= {"2xx", "4xx"}
    assert metrics.by("witryna_decisions_total", "intent") == traffic.intents
    assert traffic.intents["unknown"] == 1
    assert sum(metrics.by("witryna_decisions_total", "intent").values()) == traffic.views
    variants = {
        (dict(k)["slot"], dict(k)["variant"]): v
        for k, v in metrics.values("witryna_variants_served_total").items()
    }
    assert variants == traffic.variants
    assert variants[("_other", "default")] == 1
    assert metrics.value("witryna_degraded_decisions_total") == 0
    assert metrics.by("witryna_model_info", "version") == {traffic.model_version: 1}
    assert metrics.value("witryna_metrics_workers") == 1
    assert metrics.value("witryna_metrics_pooled") == 1


def test_the_latency_histogram_is_cumulative_and_agrees_with_its_count(traffic: Traffic) -> None:
    metrics = scrape(traffic.url)
    name = "witryna_http_request_duration_seconds"
    buckets = sorted(
        (float(dict(k)["le"]), v)
        for k, v in metrics.values(f"{name}_bucket", route=PAGE_VIEWS).items()
    )
    bounds, counts = zip(*buckets, strict=True)
    assert bounds[-1] == float("inf")
    assert list(counts) == sorted(counts), "buckets must not decrease"
    total = traffic.views + traffic.rejected
    assert counts[-1] == metrics.value(f"{name}_count", route=PAGE_VIEWS) == total
    assert counts[0] < total, "no page view answers in 0.1 ms"
    seconds = metrics.value(f"{name}_sum", route=PAGE_VIEWS)
    assert 0 < seconds / total < 1.0


def test_experiment_tallies_match_the_experiment_route(traffic: Traffic) -> None:
    metrics = scrape(traffic.url)
    result = httpx.get(f"{traffic.url}/v1/experiments/cart-incentive", headers=SECRET).json()
    exposures = metrics.values("witryna_experiment_exposures", experiment="cart-incentive")
    assert {dict(k)["arm"]: v for k, v in exposures.items()} == {
        arm["arm"]: arm["exposures"] for arm in result["arms"]
    }
    assert sum(exposures.values()) > 0


def test_the_dashboard_data_agrees_with_metrics(traffic: Traffic) -> None:
    def data() -> dict[str, Any]:
        answer = httpx.get(f"{traffic.url}/dashboard/data", headers=SECRET)
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    # The per-second series ends two seconds back, so that every worker has published it.
    wait_for(lambda: sum(data()["series"]["page_views"]) == traffic.views + traffic.rejected)
    stats = data()
    metrics = scrape(traffic.url)
    assert stats["page_views"] == traffic.views
    assert stats["intents"] == metrics.by("witryna_decisions_total", "intent")
    served = Counter({(slot, v): n for slot, s in stats["variants"].items() for v, n in s.items()})
    assert served == traffic.variants
    route = next(r for r in stats["routes"] if r["route"] == PAGE_VIEWS)
    assert route["requests"] == traffic.views + traffic.rejected
    assert route["statuses"] == {"2xx": traffic.views, "4xx": traffic.rejected}
    assert 0 < route["p50_ms"] <= route["p95_ms"] <= route["p99_ms"]
    series = stats["series"]
    assert all(len(series[k]) == WINDOWS for k in ("requests", "page_views", "p99_ms"))
    assert sum(series["requests"]) >= sum(series["page_views"])
    timed = [
        (a, b, c)
        for a, b, c in zip(series["p50_ms"], series["p95_ms"], series["p99_ms"], strict=True)
        if a is not None
    ]
    assert timed
    assert all(a <= b <= c for a, b, c in timed)
    assert stats["model_versions"] == {traffic.model_version: 1}
    assert [e["id"] for e in stats["experiments"]] == ["cart-incentive"]


def test_the_dashboard_is_one_offline_page_that_polls_the_data(traffic: Traffic) -> None:
    answer = httpx.get(f"{traffic.url}/dashboard", headers=SECRET)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert 'data-source="/dashboard/data"' in page
    assert "<canvas" in page
    assert "fetch(SOURCE" in page
    assert re.search(r"https?://", page) is None, "nothing may come from another host"


@on_one_redis
def test_workers_pool_their_counts_so_every_scrape_agrees(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    views = 40
    with Service(redis_server.url, WITRYNA_WORKERS="2") as service:
        for i in range(views):
            # One connection per request, so that both workers take some.
            body = {"visitor_id": f"w-{i}", "page": {"type": "home"}}
            assert (
                httpx.post(f"{service.url}{PAGE_VIEWS}", headers=SECRET, json=body).status_code
                == 200
            )
        wait_for(lambda: page_views_counted(service.url) == views)
        for _ in range(6):
            metrics = scrape(service.url)
            assert metrics.value("witryna_metrics_workers") == 2
            assert sum(metrics.by("witryna_decisions_total", "intent").values()) == views
        key = pool_key(socket.gethostname(), service.port)
        per_worker = [
            sum(msgspec.msgpack.decode(raw, type=Snapshot).intents.values())
            for raw in redis_client.hgetall(key).values()
        ]
        assert sorted(per_worker)[0] > 0, f"one worker took all: {per_worker}"
        assert sum(per_worker) == views


def test_without_redis_a_worker_answers_with_its_own_counts(artefact: Path) -> None:
    with RedisServer() as own, Service(own.url) as service, httpx.Client(headers=SECRET) as http:
        body = {"visitor_id": "v-9", "page": {"type": "home"}}
        assert not http.post(f"{service.url}{PAGE_VIEWS}", json=body).json()["degraded"]
        own.stop()
        for _ in range(3):
            assert http.post(f"{service.url}{PAGE_VIEWS}", json=body).json()["degraded"]
        metrics = scrape(service.url)
        assert metrics.value("witryna_metrics_pooled") == 0
        assert metrics.value("witryna_degraded_decisions_total") == 3
        assert metrics.by("witryna_decisions_total", "intent")["unknown"] == 3
        assert not metrics.values("witryna_experiment_exposures")
        assert httpx.get(f"{service.url}/dashboard/data", headers=SECRET).json()["pooled"] is False


def test_percentiles_read_off_the_buckets_are_within_a_bucket_of_the_truth() -> None:
    rng = random.Random(5)
    samples = sorted(rng.lognormvariate(-6, 0.8) for _ in range(20_000))
    metrics = Metrics()
    route = RouteStats("GET", "/x", charted=True, latency_charted=True)
    for s in samples:
        metrics.observe(route, 200, s)
    for q in (0.5, 0.95, 0.99):
        estimate = quantile(q, route.buckets)
        assert estimate is not None
        assert abs(estimate / samples[int(q * len(samples))] - 1) < 0.1
    assert quantile(0.5, empty_buckets()) is None
    assert len(BOUNDS) + 1 == len(route.buckets)
    assert metrics.window.requests == len(samples) == sum(metrics.window.latency)


def test_merged_snapshots_sum_and_labels_are_escaped() -> None:
    metrics = Metrics()
    metrics.intents = {"buy": 2}
    metrics.variants = {'he"ro\\\n': {"x": 1}}
    one = metrics.snapshot("1", "m/1", "p")
    two = metrics.snapshot("2", "m/2", "p")
    parsed = Exposition(render(merge([one, two], pooled=True), []).decode())
    assert parsed.by("witryna_decisions_total", "intent") == {"buy": 4}
    assert parsed.by("witryna_variants_served_total", "slot") == {'he"ro\\\n': 2}
    assert parsed.by("witryna_model_info", "version") == {"m/1": 1, "m/2": 1}
    assert parsed.value("witryna_policy_info", version="p") == 2
    # Rendered through a registry of its own: the library's global one never hears of it.
    assert not [m for m in REGISTRY.collect() if m.name.startswith("witryna")]
