"""The workers of one server pool their metrics through Redis, so any of them can answer.

``witryna serve --workers N`` runs N processes behind one port, and a scrape lands on
whichever accepts it. Each worker publishes a snapshot of its own counters once a second
into one hash per server (host and port); a scrape sums the fresh ones. Every scrape
reads the same published snapshots, never a fresher local one, so a counter never goes
backwards between two scrapes answered by different workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable

import msgspec
from msgspec import Struct

from service.metrics.counters import (
    STATUS_CLASSES,
    Metrics,
    RouteSnapshot,
    Snapshot,
    WindowSnapshot,
    empty_buckets,
)
from service.storage.client import UNREACHABLE, Client

log = logging.getLogger(__name__)

# A worker that has not published for this long has stopped; its counts leave the sums.
STALE_S = 10.0
KEY_TTL_S = 60

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Snapshot).decode


class Pooled(Struct, kw_only=True):
    """The sums over the workers whose snapshots were read."""

    workers: int
    # False when Redis could not be read: the answering worker alone.
    pooled: bool
    model_versions: dict[str, int]
    policy_versions: dict[str, int]
    routes: list[RouteSnapshot]
    intents: dict[str, int]
    variants: dict[str, dict[str, int]]
    degraded: int
    windows: dict[int, WindowSnapshot]


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + n


def merge(snapshots: Iterable[Snapshot], pooled: bool) -> Pooled:
    total = Pooled(
        workers=0, pooled=pooled, model_versions={}, policy_versions={}, routes=[],
        intents={}, variants={}, degraded=0, windows={},
    )  # fmt: skip
    routes: dict[tuple[str, str], RouteSnapshot] = {}
    for snap in snapshots:
        total.workers += 1
        _add(total.model_versions, {snap.model_version: 1})
        _add(total.policy_versions, {snap.policy_version: 1})
        _add(total.intents, snap.intents)
        for slot, served in snap.variants.items():
            _add(total.variants.setdefault(slot, {}), served)
        total.degraded += snap.degraded
        for r in snap.routes:
            into = routes.setdefault(
                (r.method, r.route),
                RouteSnapshot(r.method, r.route, [0] * len(STATUS_CLASSES), empty_buckets(), 0),
            )
            into.statuses = [a + b for a, b in zip(into.statuses, r.statuses, strict=True)]
            into.buckets = [a + b for a, b in zip(into.buckets, r.buckets, strict=True)]
            into.seconds += r.seconds
        for w in snap.windows:
            into_w = total.windows.setdefault(w.second, WindowSnapshot(w.second, 0, 0, {}))
            into_w.requests += w.requests
            into_w.errors += w.errors
            for i, n in w.latency.items():
                into_w.latency[i] = into_w.latency.get(i, 0) + n
    total.routes = sorted(routes.values(), key=lambda r: (r.route, r.method))
    return total


class MetricsPool:
    """Publishes this worker's snapshot every second and sums the server's on demand."""

    def __init__(
        self,
        client: Client,
        key: str,
        metrics: Metrics,
        versions: Callable[[], tuple[str, str]],
    ) -> None:
        self.client = client
        self.key = key
        self.metrics = metrics
        self.versions = versions
        self.worker = str(os.getpid())

    def local(self) -> Snapshot:
        model_version, policy_version = self.versions()
        return self.metrics.snapshot(self.worker, model_version, policy_version)

    async def publish_forever(self) -> None:
        while True:
            # On the second, so that the windows of all workers cover the same seconds.
            await asyncio.sleep(1.0 - time.time() % 1.0)
            self.metrics.roll(int(time.time()))
            await self.publish()

    async def publish(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.key, self.worker, _encode(self.local()))
        pipe.expire(self.key, KEY_TTL_S)
        try:
            await pipe.execute()
        except UNREACHABLE as exc:
            log.debug("metrics not pooled: %s", exc)

    async def gather(self) -> Pooled:
        """The server's sums; this worker's own counts alone when Redis does not answer."""
        try:
            published = await self.client.hgetall(self.key)
        except UNREACHABLE:
            return merge([self.local()], pooled=False)
        now = time.time()
        snapshots = [_decode(raw) for raw in published.values() if isinstance(raw, bytes)]
        fresh = [s for s in snapshots if now - s.published < STALE_S]
        stale = [s.worker for s in snapshots if now - s.published >= STALE_S]
        if stale:
            try:
                await self.client.hdel(self.key, *stale)
            except UNREACHABLE as exc:
                log.debug("stale metrics kept: %s", exc)
        return merge(fresh, pooled=True)
