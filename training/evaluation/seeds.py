"""The Transformer trained with several seeds: its metrics as mean ± sd, and how fast it trained.

One training run is one draw of initial weights and batch order; a difference between two
models smaller than the spread over seeds says nothing. The baselines are deterministic
given the split, so they are fitted once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_SEEDS = 3


@dataclass(frozen=True)
class SeedRun:
    """One training seed: the Transformer's metrics on all test prefixes and its fit."""

    seed: int
    metrics: dict[str, float]
    fit_seconds: float
    train_events: int
    epochs: int

    @property
    def events_per_second(self) -> float:
        """Training events seen per second of fitting: events x epochs run / fit seconds."""
        if self.fit_seconds <= 0 or not self.train_events:
            return math.nan
        return self.train_events * self.epochs / self.fit_seconds


def epochs_run(checkpoint: Mapping[str, Any], configured: int) -> int:
    """Epochs actually run (training may stop early and record it), else the configured ones."""
    for part in ("metrics", "train_config"):
        recorded = (checkpoint.get(part) or {}).get("epochs_run")
        if recorded is not None:
            return int(recorded)
    return configured


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample sd (n - 1) of the finite values; sd is NaN below two of them."""
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if not len(finite):
        return math.nan, math.nan
    sd = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
    return float(finite.mean()), sd


def seed_summary(runs: Sequence[SeedRun]) -> dict[str, tuple[float, float]]:
    """metric -> (mean, sd) over the seeds, for every metric the first run has."""
    if not runs:
        return {}
    return {
        metric: mean_sd([run.metrics.get(metric, math.nan) for run in runs])
        for metric in runs[0].metrics
    }


def format_mean_sd(mean: float, sd: float) -> str:
    """``0.6123 ± 0.0041``; ``n/a`` when undefined; the mean alone for a single run."""
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.4f}" if math.isnan(sd) else f"{mean:.4f} ± {sd:.4f}"
