"""The parts one worker holds, built by the app factory and started by its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.decision import policy as policies
from service.decision.decider import Decider
from service.decision.experiments import assign, converted_key, exposed_key
from service.errors import ConfigError, WitrynaError
from service.metrics.counters import Metrics
from service.metrics.pool import MetricsPool, pool_key
from service.model.batcher import MicroBatcher
from service.model.manifest import current_artefact
from service.model.runtime import CPU, ModelRuntime
from service.model.validation import validate
from service.schema import StoredEvent
from service.settings import Settings
from service.storage.catalog import Catalog, CatalogItem
from service.storage.catalog_cache import CatalogCache
from service.storage.client import UNREACHABLE, connect
from service.storage.events import EventStore
from service.storage.identity import Identities
from service.storage.pipe import PipedConnection
from service.storage.streams import DecisionLog, Logs

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 3.0
# A log write costs the worker about 430 us whatever it carries, and about 22 us more per
# decision: at 800 page views/s a call every 100 ms carries 80 decisions, 5 us of overhead
# each instead of 20 at every 25 ms. Training reads the streams minutes later.
LOG_INTERVAL_S = 0.1


class Services:
    """Loads the model and the policy and opens Redis at start, not at import or construction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models_dir = Path(settings.models_dir)
        self._store: EventStore | None = None
        self._catalog: Catalog | None = None
        self._identities: Identities | None = None
        # Swapped whole: a request keeps the decider (and model) and the policy it began with.
        self._decider: Decider | None = None
        self._policy: policies.Policy | None = None
        self._artefact: Path | None = None
        self._refused: Path | None = None
        self._policy_mtime: float | None = None
        self.reload_error: str | None = None
        self.policy_error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._logs: list[tuple[Sequence[StoredEvent], DecisionLog | None]] = []
        # Written log batches still to be checked against erasures (service/storage/streams.py).
        self._unchecked: deque[tuple[Logs, list[Any]]] = deque()
        self.metrics = Metrics()
        self._metrics_pool: MetricsPool | None = None

    @property
    def store(self) -> EventStore:
        assert self._store is not None, "services not started"
        return self._store

    @property
    def catalog(self) -> Catalog:
        assert self._catalog is not None, "services not started"
        return self._catalog

    @property
    def identities(self) -> Identities:
        assert self._identities is not None, "services not started"
        return self._identities

    @property
    def decider(self) -> Decider:
        assert self._decider is not None, "services not started"
        return self._decider

    @property
    def policy(self) -> policies.Policy:
        assert self._policy is not None, "services not started"
        return self._policy

    @property
    def metrics_pool(self) -> MetricsPool:
        assert self._metrics_pool is not None, "services not started"
        return self._metrics_pool

    @property
    def runtime(self) -> ModelRuntime:
        return self.decider.runtime

    async def start(self) -> None:
        s = self.settings
        if s.redis_url is None:
            raise ConfigError("WITRYNA_REDIS_URL is unset; `witryna serve` starts a private Redis")
        self._policy = policies.load(s.policy_path)
        self._policy_mtime = self._policy_stamp()
        client = connect(s.redis_url, s.redis_timeout_ms, s.redis_cluster)
        self._store = EventStore(
            client, s.history_len, s.history_ttl_s, s.buffer_events,
            on_flushed=lambda kept: self.record(kept, None),
            pipe=None if s.redis_cluster else PipedConnection.from_url(
                s.redis_url, s.redis_timeout_ms / 1000
            ),
        )  # fmt: skip
        cache: CatalogCache[CatalogItem] = CatalogCache(
            client, s.catalog_cache_items, s.catalog_refresh_s
        )
        self._catalog = Catalog(client, cache)
        self._identities = Identities(self._store)
        self._artefact = current_artefact(self.models_dir, s.model_name)
        self._decider = self._load(self._artefact)
        if not await self._store.ping():
            log.warning("redis at %s does not answer yet; serving degraded", s.redis_url)
        self._tasks.append(asyncio.create_task(self._store.flush_forever()))
        self._tasks.append(asyncio.create_task(self.write_logs_forever()))
        # Host and port name the server: its workers, and no one else's, pool their metrics.
        key = pool_key(socket.gethostname(), s.port)
        self._metrics_pool = MetricsPool(client, key, self.metrics, self._versions)
        self._tasks.append(asyncio.create_task(self._metrics_pool.publish_forever()))
        if s.catalog_sync_ms > 0:
            with contextlib.suppress(*UNREACHABLE):
                await cache.sync()
            self._tasks.append(asyncio.create_task(cache.sync_forever(s.catalog_sync_ms / 1000)))
        if s.model_poll_s > 0:
            self._tasks.append(asyncio.create_task(self.watch(s.model_poll_s)))
        # What exists now lives as long as the worker: the framework, the model, the policy.
        # Frozen, it is out of the cycle collector's sight, so a full collection walks only
        # what requests made since. Measured here: a 38 ms pause under load becomes ~1 ms.
        gc.collect()
        gc.freeze()

    def _versions(self) -> tuple[str, str]:
        return self.runtime.version, self.policy.version

    def _load(self, artefact: Path) -> Decider:
        s = self.settings
        runtime = validate(artefact, s.ort_threads, s.device)
        inline = s.inference_thread == "off" or (
            s.inference_thread == "auto" and runtime.provider == CPU
        )
        batcher = MicroBatcher(runtime, s.batch_max, s.batch_wait_us, inline)
        return Decider(runtime, self.catalog, batcher)

    async def watch(self, interval_s: float) -> None:
        """Swap in a newly published model or an edited policy; bad ones are refused."""
        while True:
            await asyncio.sleep(interval_s)
            await self._reload_model()
            self._reload_policy()

    async def _reload_model(self) -> None:
        try:
            artefact = current_artefact(self.models_dir, self.settings.model_name)
        except WitrynaError as exc:
            self._refuse(None, exc)
            return
        if artefact in (self._artefact, self._refused):
            return
        try:
            # Loading takes long enough to stall requests; do it off the event loop.
            previous, self._decider = self.decider, await asyncio.to_thread(self._load, artefact)
        except WitrynaError as exc:
            self._refuse(artefact, exc)
            return
        self._artefact, self._refused, self.reload_error = artefact, None, None
        previous.batcher.close()
        log.info("now serving %s", self.runtime.version)

    def _refuse(self, artefact: Path | None, exc: WitrynaError) -> None:
        if self.reload_error != exc.detail:
            log.error("kept %s: %s", self.runtime.version, exc.detail)
        self._refused = artefact
        self.reload_error = exc.detail

    def _policy_stamp(self) -> float | None:
        path = self.settings.policy_path
        with contextlib.suppress(OSError):
            return os.stat(path).st_mtime if path else None
        return None

    def _reload_policy(self) -> None:
        stamp = self._policy_stamp()
        if stamp == self._policy_mtime:
            return
        self._policy_mtime = stamp
        try:
            self._policy = policies.load(self.settings.policy_path)
        except WitrynaError as exc:
            log.error("kept policy %s: %s", self.policy.version, exc.detail)
            self.policy_error = exc.detail
            return
        self.policy_error = None
        log.info("now following policy %s", self.policy.version)

    def record(self, events: Sequence[StoredEvent], decision: DecisionLog | None) -> None:
        """Queue events and a decision for the streams, exposures and conversions.

        Written by ``write_logs_forever`` up to ``LOG_INTERVAL_S`` later, many requests in
        one call, so that logging costs the storefront neither latency nor a round trip each.
        """
        self._logs.append((events, decision))

    async def write_logs_forever(self, interval_s: float = LOG_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.write_logs()

    async def write_logs(self) -> None:
        await self._forget_erased()
        if not self._logs:
            return
        batch, self._logs = self._logs, []
        logs = Logs()
        for events, decision in batch:
            logs.events(events)
            if decision is not None:
                logs.decision(decision)
                for experiment, arm in decision.experiments.items():
                    logs.member(exposed_key(experiment, arm), decision.visitor_id, decision.ts)
            for event in events:
                if event.type == "purchase":
                    for experiment, arm in assign(self.policy, event.visitor_id).items():
                        logs.member(
                            converted_key(experiment, arm), event.visitor_id, event.ts or 0.0
                        )
        try:
            written = await logs.write(self.store.client)
        except UNREACHABLE as exc:
            # Tried again next time: right after an outage a pooled connection is often
            # stale, and its one failure must not lose the log. The backlog is bounded.
            self._logs = batch + self._logs
            excess = len(self._logs) - self.settings.buffer_events
            if excess > 0:
                del self._logs[:excess]
                log.error("%d decision logs dropped: the backlog is full", excess)
            log.warning("%d decision logs not written yet: %s", len(batch), exc)
            return
        self._unchecked.append((logs, written))
        await self._forget_erased()

    async def _forget_erased(self) -> None:
        """Check written batches against erasures; one Redis missed is checked next time."""
        while self._unchecked:
            # Taken off before the await: a caller running alongside checks the next one.
            logs, written = entry = self._unchecked.popleft()
            try:
                taken_back = await logs.forget_erased(self.store.client, written)
            except UNREACHABLE:
                self._unchecked.appendleft(entry)
                return
            if taken_back:
                log.info("%d log writes of erased ids taken back", taken_back)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded like the last writes below: a stopping worker must not hang on anything.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
        if self._decider is not None:
            self._decider.batcher.close()
        if self._store is not None:
            # Last writes get a bounded time: a stopping worker must not hang on Redis.
            with contextlib.suppress(TimeoutError, *UNREACHABLE):
                await asyncio.wait_for(self._final_writes(), timeout=STOP_TIMEOUT_S)
            with contextlib.suppress(TimeoutError, *UNREACHABLE):
                await asyncio.wait_for(self._store.close(), timeout=STOP_TIMEOUT_S)

    async def _final_writes(self) -> None:
        await self.store.flush()
        await self.write_logs()
