"""The parts one worker holds, built by the app factory and started by its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from service.decide import Decider
from service.errors import ConfigError, WitrynaError
from service.manifest import current_artefact
from service.publish import validate
from service.runtime import ModelRuntime
from service.settings import Settings
from service.store import EventStore, connect

log = logging.getLogger(__name__)


class Services:
    """Loads the model and opens Redis at start, not at import or construction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models_dir = Path(settings.models_dir)
        self._store: EventStore | None = None
        # One reference, swapped whole: a request holds the decider (and its model) it began with.
        self._decider: Decider | None = None
        self._artefact: Path | None = None
        self.reload_error: str | None = None
        self._refused: Path | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def store(self) -> EventStore:
        assert self._store is not None, "services not started"
        return self._store

    @property
    def decider(self) -> Decider:
        assert self._decider is not None, "services not started"
        return self._decider

    @property
    def runtime(self) -> ModelRuntime:
        return self.decider.runtime

    async def start(self) -> None:
        s = self.settings
        if s.redis_url is None:
            raise ConfigError("WITRYNA_REDIS_URL is unset; `witryna serve` starts a private Redis")
        self._artefact = current_artefact(self.models_dir, s.model_name)
        self._decider = self._load(self._artefact)
        client = connect(s.redis_url, s.redis_timeout_ms)
        self._store = EventStore(client, s.history_len, s.history_ttl_s, s.buffer_events)
        if not await self._store.ping():
            log.warning("redis at %s does not answer yet; serving degraded", s.redis_url)
        self._tasks.append(asyncio.create_task(self._store.flush_forever()))
        if s.model_poll_s > 0:
            self._tasks.append(asyncio.create_task(self.watch_model(s.model_poll_s)))

    def _load(self, artefact: Path) -> Decider:
        s = self.settings
        return Decider(validate(artefact, s.ort_threads, s.device), s.recommendations)

    async def watch_model(self, interval_s: float) -> None:
        """Swap in a newly published model; a model that fails its checks is refused."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                artefact = current_artefact(self.models_dir, self.settings.model_name)
            except WitrynaError as exc:
                self._refuse(None, exc)
                continue
            if artefact in (self._artefact, self._refused):
                continue
            try:
                # Loading takes long enough to stall requests; do it off the event loop.
                self._decider = await asyncio.to_thread(self._load, artefact)
            except WitrynaError as exc:
                self._refuse(artefact, exc)
                continue
            self._artefact, self._refused, self.reload_error = artefact, None, None
            log.info("now serving %s", self.runtime.version)

    def _refuse(self, artefact: Path | None, exc: WitrynaError) -> None:
        if self.reload_error != exc.detail:
            log.error("kept %s: %s", self.runtime.version, exc.detail)
        self._refused = artefact
        self.reload_error = exc.detail

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._store is not None:
            await self._store.flush()
            await self._store.client.aclose()
