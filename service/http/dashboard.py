"""GET /metrics for Prometheus, and /dashboard: one page that charts /dashboard/data live."""

from __future__ import annotations

import logging
import time
from importlib.resources import files

from litestar import MediaType, Response, get
from litestar.handlers import HTTPRouteHandler
from msgspec import Struct

from service.decision.experiments import ExperimentResult, results
from service.http.headers import page_headers
from service.http.parts import Parts
from service.metrics import exposition
from service.metrics.counters import STATUS_CLASSES, WINDOWS, empty_buckets, quantile
from service.metrics.pool import Pooled
from service.storage.client import UNREACHABLE

log = logging.getLogger(__name__)

DATA_PATH = "/dashboard/data"
# The newest second a dashboard shows: every worker has published it by then.
LAG_S = 2
# Headline latency and rate are read over this many of the newest seconds.
RECENT_S = 10
QUANTILES = (0.5, 0.95, 0.99)


class Series(Struct, kw_only=True):
    """One value per second up to ``end`` (epoch second), oldest first; latencies in ms,
    null where nothing was timed."""

    end: int
    requests: list[int]
    errors: list[int]
    page_views: list[int]
    p50_ms: list[float | None]
    p95_ms: list[float | None]
    p99_ms: list[float | None]


class RouteTotals(Struct, kw_only=True):
    method: str
    route: str
    requests: int
    statuses: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Stats(Struct, kw_only=True):
    generated: float
    workers: int
    pooled: bool
    model_versions: dict[str, int]
    policy_versions: dict[str, int]
    page_views: int
    degraded: int
    intents: dict[str, int]
    variants: dict[str, dict[str, int]]
    # Over the newest RECENT_S seconds of the series.
    recent_rps: float
    recent_p50_ms: float | None
    recent_p95_ms: float | None
    recent_p99_ms: float | None
    routes: list[RouteTotals]
    series: Series
    experiments: list[ExperimentResult]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _quantiles_ms(buckets: list[int]) -> list[float | None]:
    return [_ms(quantile(q, buckets)) for q in QUANTILES]


def _series(pool: Pooled, end: int) -> Series:
    series = Series(end=end, requests=[], errors=[], page_views=[], p50_ms=[], p95_ms=[], p99_ms=[])
    for second in range(end - WINDOWS + 1, end + 1):
        window = pool.windows.get(second)
        buckets = empty_buckets()
        if window is not None:
            for i, n in window.latency.items():
                buckets[i] = n
        p50, p95, p99 = _quantiles_ms(buckets)
        series.requests.append(window.requests if window else 0)
        series.errors.append(window.errors if window else 0)
        series.page_views.append(sum(buckets))
        series.p50_ms.append(p50)
        series.p95_ms.append(p95)
        series.p99_ms.append(p99)
    return series


def _recent(pool: Pooled, end: int) -> tuple[float, list[float | None]]:
    buckets, requests = empty_buckets(), 0
    for second in range(end - RECENT_S + 1, end + 1):
        window = pool.windows.get(second)
        if window is None:
            continue
        requests += window.requests
        for i, n in window.latency.items():
            buckets[i] += n
    return requests / RECENT_S, _quantiles_ms(buckets)


def stats(pool: Pooled, experiments: list[ExperimentResult], now: float) -> Stats:
    end = int(now) - LAG_S
    rps, (p50, p95, p99) = _recent(pool, end)
    routes = []
    for r in pool.routes:
        r50, r95, r99 = _quantiles_ms(r.buckets)
        statuses = {c: n for c, n in zip(STATUS_CLASSES, r.statuses, strict=True) if n}
        routes.append(RouteTotals(
            method=r.method, route=r.route, requests=sum(r.statuses), statuses=statuses,
            p50_ms=r50, p95_ms=r95, p99_ms=r99,
        ))  # fmt: skip
    return Stats(
        generated=now,
        workers=pool.workers,
        pooled=pool.pooled,
        model_versions=pool.model_versions,
        policy_versions=pool.policy_versions,
        page_views=sum(pool.intents.values()),
        degraded=pool.degraded,
        intents=pool.intents,
        variants=pool.variants,
        recent_rps=rps,
        recent_p50_ms=p50,
        recent_p95_ms=p95,
        recent_p99_ms=p99,
        routes=routes,
        series=_series(pool, end),
        experiments=experiments,
    )


def routes(services: Parts) -> list[HTTPRouteHandler]:
    page = (files("service.http") / "static" / "dashboard.html").read_text(encoding="utf-8")
    security = page_headers(page)

    async def experiment_results() -> list[ExperimentResult]:
        """Every experiment the policy declares; none while Redis does not answer."""
        try:
            return [await results(services.store.client, e) for e in services.policy.experiments]
        except UNREACHABLE as exc:
            log.debug("experiment results unavailable: %s", exc)
            return []

    @get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["operations"],
        media_type=exposition.CONTENT_TYPE,
    )
    async def metrics() -> Response[bytes]:
        """Prometheus metrics of this server's workers, and experiment tallies."""
        pool = await services.metrics_pool.gather()
        body = exposition.render(pool, await experiment_results())
        # Set outright: from the media type alone Litestar would add a second charset.
        return Response(body, headers={"content-type": exposition.CONTENT_TYPE})

    @get(DATA_PATH, summary="The dashboard's figures", tags=["operations"])
    async def dashboard_data() -> Stats:
        """What /dashboard charts: totals, the last five minutes per second, experiments."""
        pool = await services.metrics_pool.gather()
        return stats(pool, await experiment_results(), time.time())

    @get("/dashboard", tags=["operations"], include_in_schema=False)
    async def dashboard() -> Response[str]:
        return Response(page, media_type=MediaType.HTML, headers=security)

    return [metrics, dashboard_data, dashboard]
