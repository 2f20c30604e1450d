"""In-process metrics of one worker: counters and fixed-bucket latency histograms.

The hot path only indexes lists and adds integers: one asyncio loop per worker means no
locks, and a bisect over a tuple of bounds is the whole histogram. Once a second
``roll`` closes the current one-second window (the dashboard's timeline) and a
``Snapshot`` of everything is taken to be pooled with the other workers' (metrics_pool).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from collections.abc import Mapping, Sequence

from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from msgspec import Struct

from service.schema import Decision

# Latency bounds in seconds, 0.1 ms to 10 s, about 25% apart so that percentiles read off
# the buckets are close; Prometheus is shown the 1-2.5-5 subset, exact because it is a subset.
_MANTISSAS = ("1", "1.25", "1.5", "2", "2.5", "3", "4", "5", "6", "8")
_GRID = [*((m, e) for e in range(-4, 1) for m in _MANTISSAS), ("1", 1)]
BOUNDS: tuple[float, ...] = tuple(float(f"{m}e{e}") for m, e in _GRID)
# Indices into BOUNDS of the bounds Prometheus is shown.
EXPOSED: tuple[int, ...] = tuple(i for i, (m, _) in enumerate(_GRID) if m in ("1", "2.5", "5"))
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# The timeline the dashboard charts: five minutes of one-second windows.
WINDOWS = 300
# Handlers that the dashboard, probes and scrapers call: kept out of the requests-per-second line.
UNCHARTED_TAG = "operations"
# Set in a handler's ``opt`` to chart its latency per second (the page-view route).
CHART_LATENCY = "chart_latency"
OTHER_SLOT = "_other"


def empty_buckets() -> list[int]:
    return [0] * (len(BOUNDS) + 1)


def quantile(q: float, buckets: Sequence[int]) -> float | None:
    """The q-quantile in seconds, interpolated within its bucket (as Prometheus does)."""
    total = sum(buckets)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            if i == len(BOUNDS):
                return BOUNDS[-1]
            low = BOUNDS[i - 1] if i else 0.0
            return low + (BOUNDS[i] - low) * (rank - seen) / count
        seen += count
    return BOUNDS[-1]


class RouteSnapshot(Struct, array_like=True):
    method: str
    route: str
    statuses: list[int]
    buckets: list[int]
    seconds: float


class WindowSnapshot(Struct, array_like=True):
    second: int
    requests: int
    errors: int
    # Charted latency, sparse: bucket index -> count.
    latency: dict[int, int]


class Snapshot(Struct, kw_only=True):
    """One worker's metrics since it started, as pooled through Redis."""

    worker: str
    published: float
    model_version: str
    policy_version: str
    routes: list[RouteSnapshot]
    intents: dict[str, int]
    variants: dict[str, dict[str, int]]
    degraded: int
    windows: list[WindowSnapshot]


class RouteStats:
    __slots__ = ("buckets", "charted", "latency_charted", "method", "route", "seconds", "statuses")

    def __init__(self, method: str, route: str, charted: bool, latency_charted: bool) -> None:
        self.method = method
        self.route = route
        self.charted = charted
        self.latency_charted = latency_charted
        self.statuses = [0] * len(STATUS_CLASSES)
        self.buckets = empty_buckets()
        self.seconds = 0.0

    def snapshot(self) -> RouteSnapshot:
        return RouteSnapshot(
            self.method, self.route, list(self.statuses), list(self.buckets), self.seconds
        )


class Window:
    __slots__ = ("errors", "latency", "requests", "second")

    def __init__(self, second: int) -> None:
        self.second = second
        self.requests = 0
        self.errors = 0
        self.latency = empty_buckets()

    def close(self) -> WindowSnapshot:
        sparse = {i: n for i, n in enumerate(self.latency) if n}
        return WindowSnapshot(self.second, self.requests, self.errors, sparse)


class Metrics:
    """Everything one worker counts; built with the app, fed by ``Timing`` and the routes."""

    def __init__(self) -> None:
        self.routes: list[RouteStats] = []
        self.intents: dict[str, int] = {}
        self.variants: dict[str, dict[str, int]] = {}
        self.degraded = 0
        self.window = Window(int(time.time()))
        self.closed: deque[WindowSnapshot] = deque(maxlen=WINDOWS)

    def route(self, scope: Scope) -> RouteStats:
        handler = scope["route_handler"]
        tags = handler.tags if isinstance(handler, HTTPRouteHandler) else None
        stats = RouteStats(
            scope["method"] if scope["type"] == ScopeType.HTTP else scope["type"].value,
            scope["path_template"],
            charted=UNCHARTED_TAG not in (tags or ()),
            latency_charted=bool(handler.opt.get(CHART_LATENCY)),
        )
        self.routes.append(stats)
        return stats

    def observe(self, route: RouteStats, status: int, seconds: float) -> None:
        i = bisect_left(BOUNDS, seconds)
        route.buckets[i] += 1
        route.seconds += seconds
        route.statuses[min(status // 100, 5) - 1] += 1
        if route.charted:
            window = self.window
            window.requests += 1
            window.errors += status >= 500
            if route.latency_charted:
                window.latency[i] += 1

    def decided(self, decision: Decision, policy_slots: Mapping[str, object]) -> None:
        """Count a page view's intent and variants; slots the policy lacks share one label."""
        self.intents[decision.intent.label] = self.intents.get(decision.intent.label, 0) + 1
        for slot, chosen in decision.slots.items():
            served = self.variants.setdefault(slot if slot in policy_slots else OTHER_SLOT, {})
            served[chosen.variant] = served.get(chosen.variant, 0) + 1
        self.degraded += decision.degraded

    def roll(self, second: int) -> None:
        """Close the current window and open the one for ``second``."""
        self.closed.append(self.window.close())
        self.window = Window(second)

    def snapshot(self, worker: str, model_version: str, policy_version: str) -> Snapshot:
        return Snapshot(
            worker=worker,
            published=time.time(),
            model_version=model_version,
            policy_version=policy_version,
            routes=[r.snapshot() for r in self.routes],
            intents=dict(self.intents),
            variants={slot: dict(served) for slot, served in self.variants.items()},
            degraded=self.degraded,
            windows=list(self.closed),
        )

    def timing(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware factory: Litestar builds one per route handler and method."""
        return Timing(app, self)


class Timing:
    """Times a request from the handler's start to its last byte and records its status."""

    __slots__ = ("app", "metrics", "stats")

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.stats: RouteStats | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stats = self.stats
        if stats is None:
            stats = self.stats = self.metrics.route(scope)
        # Stays 500 if the handler fails before anything is sent.
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.observe(stats, status, time.perf_counter() - start)
