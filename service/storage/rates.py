"""Requests per second of each limited subject, counted by each worker and shared by all of
them through Redis, off the request path.

A page view costs one Redis round trip, and a rate check asked of Redis would add a second:
on a cluster the counters live on other nodes than the visitor's keys. So each worker counts
what it admits in the current second and decides alone, from its own counts and every
worker's total as Redis last told it. Every ``SHARE_S``, or at once when a subject has spent
an eighth of its limit unshared, it adds its new counts to Redis and reads the totals back.

The window is fixed, one wall-clock second, the same on every host: one INCRBY per subject
and second, where a sliding window or GCRA would need a script that reads back every worker's
state on each share. Its price is that a client may spend one second's limit at its end and
the next's at the start of the next. What the workers admit together can pass a limit by
what they admit between shares: about an eighth of it per worker under a flood. A subject a
worker sees once in a second is not shared at all (most visitors and addresses, so a quiet
shop costs Redis nothing): each worker may admit one such request beyond the limit.

Redis away, each worker still holds every limit on its own traffic; no request waits on or
fails for Redis here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from service.storage import scripts
from service.storage.client import UNREACHABLE, Client, queue_script
from service.storage.keys import rate_key

log = logging.getLogger(__name__)

SHARE_S = 0.1
# A counter outlives its second long enough for a late share, and no longer.
TTL_S = 3

# What one request asks to be admitted for: (kind, subject, limit a second).
Subject = tuple[str, str, int]


class _Count:
    __slots__ = ("admitted", "shared", "total")

    def __init__(self) -> None:
        # Admitted by this worker this second; of those, added to Redis.
        self.admitted = 0
        self.shared = 0
        # Every worker's, ours included, as Redis said at the last share.
        self.total = 0


class RateCounts:
    """Fixed one-second windows per subject; ``share_forever`` shares them across workers."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.window = 0
        self._counts: dict[tuple[str, str], _Count] = {}
        # The counts with something to share: seen at least twice by this worker this second.
        self._unshared: dict[tuple[str, str], _Count] = {}
        self._wake = asyncio.Event()
        self._count = client.register_script(scripts.COUNT)

    def admit(self, subjects: Sequence[Subject], now: float) -> Subject | None:
        """Count one request for every subject; or for none, and return the one at its limit."""
        window = int(now)
        if window != self.window:
            self.window, self._counts, self._unshared = window, {}, {}
        counts = self._counts
        found: list[tuple[tuple[str, str], _Count, int]] = []
        for kind, subject, limit in subjects:
            name = (kind, subject)
            count = counts.get(name)
            if count is None:
                count = counts[name] = _Count()
            if count.total + count.admitted - count.shared >= limit:
                return kind, subject, limit
            found.append((name, count, limit))
        for name, count, limit in found:
            count.admitted += 1
            if count.admitted > 1:
                self._unshared[name] = count
                if (count.admitted - count.shared) * 8 >= limit:
                    self._wake.set()
        return None

    async def share(self) -> None:
        """Add this worker's new counts to Redis and learn every worker's totals."""
        window, unshared = self.window, self._unshared
        if not unshared:
            return
        self._unshared = {}
        sends = [(name, count, count.admitted - count.shared) for name, count in unshared.items()]
        pipe = self.client.pipeline(transaction=False)
        for (kind, subject), _, added in sends:
            keys, args = [rate_key(kind, subject, window)], [added, TTL_S]
            await queue_script(pipe, self._count, scripts.COUNT, keys, args)
        try:
            totals: list[Any] = await pipe.execute()
        except BaseException:
            if window == self.window:
                for name, count in unshared.items():
                    self._unshared.setdefault(name, count)
            raise
        for (_, count, added), total in zip(sends, totals, strict=True):
            count.shared += added
            count.total = max(count.total, int(total))

    async def share_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SHARE_S)
            self._wake.clear()
            try:
                await self.share()
            except UNREACHABLE as exc:
                log.debug("rate counts not shared, redis unreachable: %s", exc)
                # Not woken again at once: a flood would spin on a Redis that is away.
                await asyncio.sleep(SHARE_S)
