"""The parts one worker holds, built by the app factory and started by its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from service.decide import Decider
from service.errors import ConfigError
from service.manifest import latest_artefact
from service.runtime import ModelRuntime
from service.settings import Settings
from service.store import EventStore, connect

log = logging.getLogger(__name__)


class Services:
    """Loads the model and opens Redis at start, not at import or construction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: ModelRuntime | None = None
        self._store: EventStore | None = None
        self._decider: Decider | None = None
        self._flusher: asyncio.Task[None] | None = None

    @property
    def runtime(self) -> ModelRuntime:
        assert self._runtime is not None, "services not started"
        return self._runtime

    @property
    def store(self) -> EventStore:
        assert self._store is not None, "services not started"
        return self._store

    @property
    def decider(self) -> Decider:
        assert self._decider is not None, "services not started"
        return self._decider

    async def start(self) -> None:
        s = self.settings
        if s.redis_url is None:
            raise ConfigError("WITRYNA_REDIS_URL is unset; `witryna serve` starts a private Redis")
        artefact = latest_artefact(Path(s.models_dir), s.model_name)
        self._runtime = ModelRuntime(artefact, threads=s.ort_threads, device=s.device)
        self._runtime.warm_up()
        self._decider = Decider(self._runtime, s.recommendations)
        client = connect(s.redis_url, s.redis_timeout_ms)
        self._store = EventStore(client, s.history_len, s.history_ttl_s, s.buffer_events)
        if not await self._store.ping():
            log.warning("redis at %s does not answer yet; serving degraded", s.redis_url)
        self._flusher = asyncio.create_task(self._store.flush_forever())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._store is not None:
            await self._store.flush()
            await self._store.client.aclose()
