"""Who wins: the Transformer against each baseline, and against the bar it must clear.

Two kinds of verdict. A *difference* (Transformer - baseline, first seed) is a win or a
loss only when its 95% session-bootstrap interval excludes zero, else within noise. The
*bar* is the acceptance bar of the summary: the mean over seeds must beat the named
baselines (or, for calibration, stay under a fixed error), whatever the noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from training.evaluation.comparison import (
    BASE_RATE,
    ECE,
    LOGISTIC,
    LOWER_IS_BETTER,
    RECENT,
    SKNN,
    TOP_K,
    TRANSFORMER,
    Table,
)

WIN, LOSS, NOISE, UNDEFINED = "win", "loss", "within noise", "n/a"
PASS, FAIL = "pass", "fail"
Intervals = Mapping[str, Mapping[str, tuple[float, float]]]


@dataclass(frozen=True)
class Difference:
    """Transformer - baseline on one metric, with its bootstrap interval and verdict."""

    metric: str
    baseline: str
    value: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if not all(math.isfinite(v) for v in (self.value, self.low, self.high)):
            return UNDEFINED
        better, worse = (self.high < 0, self.low > 0)
        if self.metric not in LOWER_IS_BETTER:
            better, worse = worse, better
        return WIN if better else LOSS if worse else NOISE


def differences(table: Table, intervals: Intervals) -> list[Difference]:
    """Every (metric, baseline) pair with both values, in table order."""
    found = []
    for metric, row in table.items():
        mine = row.get(TRANSFORMER, math.nan)
        for baseline, value in row.items():
            if baseline == TRANSFORMER:
                continue
            # The bootstrap keeps baseline - Transformer; flipped to read as the model's gain.
            low, high = intervals.get(metric, {}).get(baseline, (math.nan, math.nan))
            found.append(Difference(metric, baseline, mine - value, -high, -low))
    return found


@dataclass(frozen=True)
class Bar:
    """What the Transformer's mean must do on one metric of the summary."""

    metric: str
    baselines: tuple[str, ...]  # beat every one of them; empty: stay at or under ``limit``
    limit: float = math.nan
    shown: tuple[str, ...] = ()  # baselines to compare with where ``baselines`` is empty

    @property
    def rule(self) -> str:
        if self.baselines:
            return f"above {' and '.join(self.baselines)}"
        return f"at most {self.limit:g}"


BARS: tuple[Bar, ...] = (
    Bar("buy ROC-AUC", (LOGISTIC,)),
    Bar("buy PR-AUC", (LOGISTIC,)),
    Bar(ECE, (), 0.03, shown=(LOGISTIC, BASE_RATE)),
    Bar(f"Recall@{TOP_K}", (RECENT, SKNN)),
    Bar(f"MRR@{TOP_K}", (RECENT, SKNN)),
)


@dataclass(frozen=True)
class BarVerdict:
    bar: Bar
    mean: float
    best: str  # the best of the compared baselines, "" if none has the metric
    best_value: float
    verdict: str


def bar_verdict(bar: Bar, mean: float, table: Table) -> BarVerdict:
    """Whether ``mean`` (the Transformer's, over seeds) clears ``bar`` on this ``table``."""
    row = table.get(bar.metric, {})
    names = bar.baselines or bar.shown
    compared = [(row[b], b) for b in names if b in row and math.isfinite(row[b])]
    pick = min if bar.metric in LOWER_IS_BETTER else max
    best_value, best = pick(compared) if compared else (math.nan, "")
    if not math.isfinite(mean) or (bar.baselines and not compared):
        return BarVerdict(bar, mean, best, best_value, UNDEFINED)
    passed = all(mean > value for value, _ in compared) if bar.baselines else mean <= bar.limit
    return BarVerdict(bar, mean, best, best_value, PASS if passed else FAIL)
