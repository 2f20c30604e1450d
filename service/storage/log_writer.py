"""Writes events, decisions and experiment tallies to Redis behind the requests, in batches,
and takes back what an erasure has overtaken."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from service.schema import StoredEvent
from service.storage.client import UNREACHABLE, Client
from service.storage.keys import converted_key, exposed_key
from service.storage.streams import DecisionLog, Logs

log = logging.getLogger(__name__)

# A log write costs the worker about 430 us whatever it carries, and about 22 us more per
# decision: at 800 page views/s a call every 100 ms carries 80 decisions, 5 us of overhead
# each instead of 20 at every 25 ms. Training reads the streams minutes later.
LOG_INTERVAL_S = 0.1

# Events, the decision they came with, and whether their purchases convert experiment arms.
Logged = tuple[Sequence[StoredEvent], DecisionLog | None, bool]

# The experiments' arms of a visitor under the policy being served: a purchase converts them.
ArmsOf = Callable[[str], dict[str, str]]


class LogWriter:
    """Queues what requests log and writes it ``LOG_INTERVAL_S`` later, many requests in one
    call, so that logging costs the storefront neither latency nor a round trip each."""

    def __init__(self, client: Client, backlog: int, arms_of: ArmsOf, retention_s: int) -> None:
        self.client = client
        self.backlog = backlog
        self.arms_of = arms_of
        # How long the streams keep an entry: as long as the person's own keys last.
        self.retention_s = retention_s
        self._queued: list[Logged] = []
        # Written batches still to be checked against erasures (service/storage/streams.py).
        self._unchecked: deque[tuple[Logs, list[Any]]] = deque()

    def record(
        self,
        events: Sequence[StoredEvent],
        decision: DecisionLog | None,
        *,
        converts: bool = False,
    ) -> None:
        """Queue events and a decision for the streams and exposures; the purchases among
        ``events`` convert experiment arms only with ``converts`` (a trusted sender)."""
        self._queued.append((events, decision, converts))

    async def write_forever(self, interval_s: float = LOG_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.write()

    async def write(self) -> None:
        await self._forget_erased()
        if not self._queued:
            return
        batch, self._queued = self._queued, []
        logs = self._logs_of(batch)
        try:
            written = await logs.write(self.client, self.retention_s)
        except UNREACHABLE as exc:
            self._requeue(batch, exc)
            return
        self._unchecked.append((logs, written))
        await self._forget_erased()

    def _logs_of(self, batch: list[Logged]) -> Logs:
        logs = Logs()
        for events, decision, converts in batch:
            logs.events(events)
            if decision is not None:
                logs.decision(decision)
                for experiment, arm in decision.experiments.items():
                    logs.member(exposed_key(experiment, arm), decision.visitor_id, decision.ts)
            for event in events if converts else ():
                if event.type == "purchase":
                    for experiment, arm in self.arms_of(event.visitor_id).items():
                        logs.member(
                            converted_key(experiment, arm), event.visitor_id, event.ts or 0.0
                        )
        return logs

    def _requeue(self, batch: list[Logged], exc: Exception) -> None:
        # Tried again next time: right after an outage a pooled connection is often stale,
        # and its one failure must not lose the log. The backlog is bounded.
        self._queued = batch + self._queued
        excess = len(self._queued) - self.backlog
        if excess > 0:
            del self._queued[:excess]
            log.error("%d decision logs dropped: the backlog is full", excess)
        log.warning("%d decision logs not written yet: %s", len(batch), exc)

    async def _forget_erased(self) -> None:
        """Check written batches against erasures; one Redis missed is checked next time."""
        while self._unchecked:
            # Taken off before the await: a caller running alongside checks the next one.
            logs, written = entry = self._unchecked.popleft()
            try:
                taken_back = await logs.forget_erased(self.client, written)
            except UNREACHABLE:
                self._unchecked.appendleft(entry)
                return
            if taken_back:
                log.info("%d log writes of erased ids taken back", taken_back)
