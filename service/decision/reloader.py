"""The model and the policy being served, swapped for newly published ones without a restart;
a bad one is refused and the last good one kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from service.decision import policy as policies
from service.decision.decider import Decider
from service.errors import WitrynaError
from service.model.batcher import MicroBatcher
from service.model.manifest import current_artefact
from service.model.runtime import CPU, ModelRuntime
from service.model.validation import validate
from service.settings import Settings
from service.storage.catalog import Catalog
from service.storage.client import UNREACHABLE

log = logging.getLogger(__name__)


class Reloader:
    """Holds the decider (with its model) and the policy. Each is swapped whole: a request
    keeps the decider and the policy it began with."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.models_dir = Path(settings.models_dir)
        self.policy = policies.load(settings.policy_path)
        self._policy_mtime = self._policy_stamp()
        self._artefact = current_artefact(self.models_dir, settings.model_name)
        self.decider = self._load(self._artefact)
        self._refused: Path | None = None
        self.model_error: str | None = None
        self.policy_error: str | None = None

    @property
    def runtime(self) -> ModelRuntime:
        return self.decider.runtime

    def _load(self, artefact: Path) -> Decider:
        s = self.settings
        runtime = validate(artefact, s.ort_threads, s.device, s.retrieval_min_items)
        if s.history_len < runtime.max_len:
            log.warning(
                "the model reads %d events but WITRYNA_HISTORY_LEN keeps %d: it sees less "
                "than it was trained on; set WITRYNA_HISTORY_LEN=%d",
                runtime.max_len,
                s.history_len,
                runtime.max_len,
            )
        inline = s.inference_thread == "off" or (
            s.inference_thread == "auto" and runtime.provider == CPU
        )
        # A search of the item index costs much per call: its batches wait for company.
        wait = s.retrieval_batch_wait_us if runtime.scorer is not None else s.batch_wait_us
        batcher = MicroBatcher(runtime, s.batch_max, wait, inline)
        return Decider(runtime, self.catalog, batcher)

    async def watch(self, interval_s: float) -> None:
        """Swap in a newly published model or an edited policy; bad ones are refused."""
        while True:
            await asyncio.sleep(interval_s)
            await self.reload_model()
            self.reload_policy()

    async def reload_model(self) -> None:
        try:
            artefact = current_artefact(self.models_dir, self.settings.model_name)
        except WitrynaError as exc:
            self._refuse(None, exc)
            return
        if artefact in (self._artefact, self._refused):
            return
        try:
            # Loading takes long enough to stall requests; do it off the event loop.
            loaded = await asyncio.to_thread(self._load, artefact)
        except WitrynaError as exc:
            self._refuse(artefact, exc)
            return
        # Which catalogue items are new depends on the model: find them before it serves.
        if self.settings.newcomers_refresh_s > 0:
            await self._find_newcomers(loaded)
        previous, self.decider = self.decider, loaded
        self._artefact, self._refused, self.model_error = artefact, None, None
        previous.batcher.close()
        log.info("now serving %s", self.runtime.version)

    async def find_newcomers_forever(self, interval_s: float) -> None:
        """Rescan the catalogue for the served model's newcomers: at once, then this often."""
        while True:
            await self._find_newcomers(self.decider)
            await asyncio.sleep(interval_s)

    @staticmethod
    async def _find_newcomers(decider: Decider) -> None:
        # Unreachable: the last index stays, and the next scan tries again.
        try:
            await decider.newcomers.refresh()
        except UNREACHABLE as exc:
            log.warning("catalogue not scanned for new items: %s", exc)

    def _refuse(self, artefact: Path | None, exc: WitrynaError) -> None:
        if self.model_error != exc.detail:
            log.error("kept %s: %s", self.runtime.version, exc.detail)
        self._refused = artefact
        self.model_error = exc.detail

    def _policy_stamp(self) -> float | None:
        path = self.settings.policy_path
        with contextlib.suppress(OSError):
            return os.stat(path).st_mtime if path else None
        return None

    def reload_policy(self) -> None:
        stamp = self._policy_stamp()
        if stamp == self._policy_mtime:
            return
        self._policy_mtime = stamp
        try:
            self.policy = policies.load(self.settings.policy_path)
        except WitrynaError as exc:
            log.error("kept policy %s: %s", self.policy.version, exc.detail)
            self.policy_error = exc.detail
            return
        self.policy_error = None
        log.info("now following policy %s", self.policy.version)

    def close(self) -> None:
        self.decider.batcher.close()
