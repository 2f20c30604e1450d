"""The Prometheus text exposition format (version 0.0.4), written by hand: it is small."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import accumulate

from service.decision.experiments import ExperimentResult
from service.metrics.counters import BOUNDS, EXPOSED, STATUS_CLASSES
from service.metrics.pool import Pooled

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

POOLED = "summed over this server's workers, each as it published within the last second"

Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _sample(name: str, labels: Labels, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value!r}" if inner else f"{name} {value!r}"


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[Labels, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [_sample(name, labels, value) for labels, value in samples]
    return lines


def _histograms(pool: Pooled) -> list[str]:
    name = "witryna_http_request_duration_seconds"
    lines = [
        f"# HELP {name} Time from the handler's start to the response's last byte; {POOLED}.",
        f"# TYPE {name} histogram",
    ]
    for route in pool.routes:
        labels = {"method": route.method, "route": route.route}
        cumulative = list(accumulate(route.buckets))
        for i in EXPOSED:
            lines.append(
                _sample(f"{name}_bucket", {**labels, "le": repr(BOUNDS[i])}, cumulative[i])
            )
        lines.append(_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, cumulative[-1]))
        lines.append(_sample(f"{name}_sum", labels, route.seconds))
        lines.append(_sample(f"{name}_count", labels, cumulative[-1]))
    return lines


def render(pool: Pooled, experiments: Iterable[ExperimentResult]) -> str:
    requests = [
        ({"method": r.method, "route": r.route, "status": status}, n)
        for r in pool.routes
        for status, n in zip(STATUS_CLASSES, r.statuses, strict=True)
        if n
    ]
    variants = [
        ({"slot": slot, "variant": variant}, n)
        for slot, served in sorted(pool.variants.items())
        for variant, n in sorted(served.items())
    ]
    results = [(e.id, arm) for e in experiments for arm in e.arms]
    lines = [
        *_family(
            "witryna_http_requests_total", "counter",
            f"HTTP requests by route template and status class; {POOLED}.", requests,
        ),
        *_histograms(pool),
        *_family(
            "witryna_decisions_total", "counter",
            f"Page-view decisions by intent (the model's most likely; unknown when it was not "
            f"asked); {POOLED}.",
            (({"intent": k}, n) for k, n in sorted(pool.intents.items())),
        ),
        *_family(
            "witryna_variants_served_total", "counter",
            f"Variants served per slot (_other: slots the policy lacks); {POOLED}.", variants,
        ),
        *_family(
            "witryna_degraded_decisions_total", "counter",
            f"Page views answered with default content because Redis or the model failed; "
            f"{POOLED}.",
            [({}, pool.degraded)],
        ),
        *_family(
            "witryna_model_info", "gauge", "Workers serving each model version.",
            (({"version": v}, n) for v, n in sorted(pool.model_versions.items())),
        ),
        *_family(
            "witryna_policy_info", "gauge", "Workers following each policy version.",
            (({"version": v}, n) for v, n in sorted(pool.policy_versions.items())),
        ),
        *_family(
            "witryna_metrics_workers", "gauge",
            "Workers whose counts these sums hold (published in the last 10 s).",
            [({}, pool.workers)],
        ),
        *_family(
            "witryna_metrics_pooled", "gauge",
            "1 when the sums were read from Redis; 0 when Redis did not answer and they are "
            "the answering worker's own.",
            [({}, int(pool.pooled))],
        ),
        *_family(
            "witryna_experiment_exposures", "gauge",
            "Visitors exposed per experiment arm, read from Redis: shared by every server, "
            "so take max, not sum, across servers.",
            (({"experiment": e, "arm": a.arm}, a.exposures) for e, a in results),
        ),
        *_family(
            "witryna_experiment_conversions", "gauge",
            "Exposed visitors who then bought, per experiment arm, read from Redis: shared by "
            "every server, so take max, not sum, across servers.",
            (({"experiment": e, "arm": a.arm}, a.conversions) for e, a in results),
        ),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
