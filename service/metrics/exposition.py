"""/metrics in the Prometheus text format, written by prometheus-client from the pooled sums.

The sums are read from Redis asynchronously, before a scrape is rendered, while a
collector's ``collect`` is synchronous: so each scrape gets its own registry holding one
collector over what was read. A registry of its own, never the library's global one,
also keeps import free of side effects and lets two apps live in one process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import TypeVar

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from service.decision.experiments import ExperimentResult
from service.metrics.counters import BOUNDS, EXPOSED, STATUS_CLASSES
from service.metrics.pool import Pooled

# generate_latest writes the 0.0.4 format (legacy names, underscore escaping) and the
# library's own handler labels it so; CONTENT_TYPE_LATEST now says 1.0.0, which would
# change what scrapers are told without changing a byte of the body.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

POOLED = "summed over this server's workers, each as it published within the last second"
ROUTE = ("method", "route")
ARM = ("experiment", "arm")
# repr, as the hand-written format had it: le values are part of each series' identity.
_LE = tuple(repr(BOUNDS[i]) for i in EXPOSED)


Family = TypeVar("Family", GaugeMetricFamily, CounterMetricFamily)


def _family(
    kind: type[Family],
    name: str,
    help_text: str,
    labels: Sequence[str],
    samples: Iterable[tuple[list[str], float]],
) -> Family:
    family = kind(name, help_text, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _gauge(
    name: str, help_text: str, labels: Sequence[str], samples: Iterable[tuple[list[str], float]]
) -> GaugeMetricFamily:
    return _family(GaugeMetricFamily, name, help_text, labels, samples)


def _counter(
    name: str, help_text: str, labels: Sequence[str], samples: Iterable[tuple[list[str], float]]
) -> CounterMetricFamily:
    return _family(CounterMetricFamily, name, help_text, labels, samples)


class PooledCollector(Collector):
    """The families of one scrape, from the server's pooled sums and the experiment tallies."""

    def __init__(self, pool: Pooled, experiments: Iterable[ExperimentResult]) -> None:
        self.pool = pool
        self.arms = [(e.id, arm) for e in experiments for arm in e.arms]

    def collect(self) -> Iterator[Metric]:
        pool = self.pool
        # Counter names without "_total": the library adds it to the family and its samples.
        yield _counter(
            "witryna_http_requests",
            f"HTTP requests by route template and status class; {POOLED}.",
            (*ROUTE, "status"),
            (
                ([r.method, r.route, status], n)
                for r in pool.routes
                for status, n in zip(STATUS_CLASSES, r.statuses, strict=True)
                if n
            ),
        )
        yield self._durations()
        yield _counter(
            "witryna_decisions",
            f"Page-view decisions by intent (the model's most likely; unknown when it was not "
            f"asked); {POOLED}.",
            ("intent",),
            (([intent], n) for intent, n in sorted(pool.intents.items())),
        )
        yield _counter(
            "witryna_variants_served",
            f"Variants served per slot (_other: slots the policy lacks); {POOLED}.",
            ("slot", "variant"),
            (
                ([slot, variant], n)
                for slot, served in sorted(pool.variants.items())
                for variant, n in sorted(served.items())
            ),
        )
        yield _counter(
            "witryna_degraded_decisions",
            f"Page views answered with default content because Redis or the model failed; "
            f"{POOLED}.",
            (),
            [([], pool.degraded)],
        )
        yield from self._gauges()

    def _durations(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "witryna_http_request_duration_seconds",
            f"Time from the handler's start to the response's last byte; {POOLED}.",
            labels=ROUTE,
        )
        for route in self.pool.routes:
            cumulative = list(accumulate(route.buckets))
            buckets = [(le, float(cumulative[i])) for le, i in zip(_LE, EXPOSED, strict=True)]
            # The finer bounds the dashboard reads are summed into the exposed ones above;
            # everything past the last bound, and the count, is the +Inf bucket.
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([route.method, route.route], buckets, route.seconds)
        return family

    def _gauges(self) -> Iterator[GaugeMetricFamily]:
        pool = self.pool
        yield _gauge(
            "witryna_model_info",
            "Workers serving each model version.",
            ("version",),
            (([v], n) for v, n in sorted(pool.model_versions.items())),
        )
        yield _gauge(
            "witryna_policy_info",
            "Workers following each policy version.",
            ("version",),
            (([v], n) for v, n in sorted(pool.policy_versions.items())),
        )
        yield _gauge(
            "witryna_metrics_workers",
            "Workers whose counts these sums hold (published in the last 10 s).",
            (),
            [([], pool.workers)],
        )
        yield _gauge(
            "witryna_metrics_pooled",
            "1 when the sums were read from Redis; 0 when Redis did not answer and they are "
            "the answering worker's own.",
            (),
            [([], int(pool.pooled))],
        )
        yield _gauge(
            "witryna_experiment_exposures",
            "Visitors exposed per experiment arm, read from Redis: shared by every server, "
            "so take max, not sum, across servers.",
            ARM,
            (([e, a.arm], a.exposures) for e, a in self.arms),
        )
        yield _gauge(
            "witryna_experiment_conversions",
            "Exposed visitors who then bought, per experiment arm, read from Redis: shared by "
            "every server, so take max, not sum, across servers.",
            ARM,
            (([e, a.arm], a.conversions) for e, a in self.arms),
        )


def render(pool: Pooled, experiments: Iterable[ExperimentResult]) -> bytes:
    registry = CollectorRegistry()
    registry.register(PooledCollector(pool, experiments))
    return generate_latest(registry)
