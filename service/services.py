"""The parts one worker holds: built and started by the app's lifespan, not at import or
construction, and stopped within a bound."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from service.decision.experiments import assign
from service.decision.pages import Pages
from service.decision.policy import Policy
from service.decision.reloader import Reloader
from service.errors import ConfigError
from service.metrics.counters import Metrics
from service.metrics.pool import MetricsPool
from service.model.runtime import ModelRuntime
from service.settings import Settings
from service.storage.backlog import drain, drain_forever, probe_forever
from service.storage.breaker import Breaker
from service.storage.catalog import COUNTED, Catalog, CatalogItem
from service.storage.catalog_cache import CatalogCache
from service.storage.client import UNREACHABLE, connect
from service.storage.events import EventStore
from service.storage.identity import Identities
from service.storage.journal import Journal
from service.storage.keys import pool_key
from service.storage.log_writer import LogWriter
from service.storage.persistence import UNKNOWN, read_persistence
from service.storage.pipe import PipedConnection
from service.storage.rates import RateCounts

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 3.0


class Services:
    """What the routes use, wired in one place. Each part exists once ``start`` has run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        # How Redis keeps its keys across its restarts, as read at start (/readyz shows it).
        self.persistence = UNKNOWN
        self._parts: _Parts | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def parts(self) -> _Parts:
        assert self._parts is not None, "services not started"
        return self._parts

    @property
    def store(self) -> EventStore:
        return self.parts.store

    @property
    def catalog(self) -> Catalog:
        return self.parts.catalog

    @property
    def identities(self) -> Identities:
        return self.parts.identities

    @property
    def current(self) -> Reloader:
        return self.parts.current

    @property
    def pages(self) -> Pages:
        return self.parts.pages

    @property
    def logs(self) -> LogWriter:
        return self.parts.logs

    @property
    def metrics_pool(self) -> MetricsPool:
        return self.parts.metrics_pool

    @property
    def rates(self) -> RateCounts:
        return self.parts.rates

    @property
    def policy(self) -> Policy:
        return self.current.policy

    @property
    def runtime(self) -> ModelRuntime:
        return self.current.runtime

    async def start(self) -> None:
        s = self.settings
        if s.redis_url is None:
            raise ConfigError("WITRYNA_REDIS_URL is unset; `witryna serve` starts a private Redis")
        self._parts = parts = _Parts(s, self.metrics)
        journal = parts.store.journal
        try:
            journal.open()
        except OSError as exc:
            raise ConfigError(f"WITRYNA_DATA_DIR={s.data_dir!r}: no journal there: {exc}") from exc
        if journal.waiting:
            log.warning("%d events wait in the journal for redis", journal.waiting)
        if not await parts.store.ping():
            log.warning("redis does not answer yet; serving degraded")
        self.persistence = await read_persistence(parts.client)
        self._spawn(drain_forever(parts.store), probe_forever(parts.store))
        self._spawn(journal.sync_forever(), parts.logs.write_forever())
        self._spawn(parts.metrics_pool.publish_forever(), parts.rates.share_forever())
        if s.catalog_sync_ms > 0:
            with contextlib.suppress(*UNREACHABLE):
                await parts.cache.sync()
            self._spawn(parts.cache.sync_forever(s.catalog_sync_ms / 1000))
        if s.model_poll_s > 0:
            self._spawn(parts.current.watch(s.model_poll_s))
        if s.newcomers_refresh_s > 0:
            self._spawn(parts.current.find_newcomers_forever(s.newcomers_refresh_s))
        # What exists now lives as long as the worker: the framework, the model, the policy.
        # Frozen, it is out of the cycle collector's sight, so a full collection walks only
        # what requests made since. Measured here: a 38 ms pause under load becomes ~1 ms.
        gc.collect()
        gc.freeze()

    def _spawn(self, *loops: Coroutine[Any, Any, None]) -> None:
        self._tasks.extend(asyncio.create_task(loop) for loop in loops)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded like the last writes below: a stopping worker must not hang on anything.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
        if self._parts is None:
            return
        self._parts.current.close()
        # Last writes get a bounded time: a stopping worker must not hang on Redis.
        with contextlib.suppress(TimeoutError, *UNREACHABLE):
            await asyncio.wait_for(self._final_writes(), timeout=STOP_TIMEOUT_S)
        waiting = self._parts.store.journal.close()
        if waiting:
            log.warning(
                "%d events wait in the journal in %s for the next start", waiting, self._journal_dir
            )
        with contextlib.suppress(TimeoutError, *UNREACHABLE):
            await asyncio.wait_for(self._parts.store.close(), timeout=STOP_TIMEOUT_S)

    @property
    def _journal_dir(self) -> Path:
        return self.store.journal.directory

    async def _final_writes(self) -> None:
        if self.store.breaker.closed:
            await drain(self.store)
        await self.logs.write()


class _Parts:
    """Everything built at start, in the order each needs the others."""

    def __init__(self, s: Settings, metrics: Metrics) -> None:
        assert s.redis_url is not None
        self.client = client = connect(s.redis_url, s.redis_timeout_ms, s.redis_cluster)
        self.cache: CatalogCache[CatalogItem] = CatalogCache(
            client, s.catalog_cache_items, s.catalog_refresh_s, COUNTED
        )
        breaker = Breaker()
        self.catalog = Catalog(client, self.cache, breaker, s.redis_deadline_ms / 1000)
        self.current = Reloader(s, self.catalog)
        # Purchases convert the arms of the policy being served when the log is written.
        self.logs = LogWriter(
            client, s.buffer_events, lambda v: assign(self.current.policy, v), s.history_ttl_s
        )
        pipe = None
        if not s.redis_cluster:
            pipe = PipedConnection.from_url(s.redis_url, s.redis_timeout_ms / 1000)
        journal = Journal(
            Path(s.data_dir) / "journal", s.journal_max_mb * 2**20, s.journal_fsync == "always"
        )
        self.store = EventStore(
            client,
            s.history_len,
            s.history_ttl_s,
            journal,
            s.redis_deadline_ms / 1000,
            logs=self.logs,
            pipe=pipe,
            breaker=breaker,
        )
        self.identities = Identities(self.store)
        self.rates = RateCounts(client)
        self.pages = Pages(self.store, self.current, self.logs)
        # Host and port name the server: its workers, and no one else's, pool their metrics.
        key = pool_key(socket.gethostname(), s.port)
        self.metrics_pool = MetricsPool(
            client,
            key,
            metrics,
            lambda: (self.current.runtime.version, self.current.policy.version),
        )
