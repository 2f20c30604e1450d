"""What the routes need of the running worker, declared here so that HTTP code depends on
the parts it uses and not on the wiring that builds them (``service.services``)."""

from __future__ import annotations

from typing import Protocol

from service.decision.pages import Pages
from service.decision.policy import Policy
from service.decision.reloader import Reloader
from service.metrics.counters import Metrics
from service.metrics.pool import MetricsPool
from service.model.runtime import ModelRuntime
from service.settings import Settings
from service.storage.catalog import Catalog
from service.storage.events import EventStore
from service.storage.identity import Identities
from service.storage.log_writer import LogWriter
from service.storage.rates import RateCounts


class Parts(Protocol):
    settings: Settings
    metrics: Metrics
    persistence: str

    @property
    def store(self) -> EventStore: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def identities(self) -> Identities: ...
    @property
    def current(self) -> Reloader: ...
    @property
    def pages(self) -> Pages: ...
    @property
    def logs(self) -> LogWriter: ...
    @property
    def metrics_pool(self) -> MetricsPool: ...
    @property
    def rates(self) -> RateCounts: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def runtime(self) -> ModelRuntime: ...
