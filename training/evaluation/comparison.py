"""Scores of every method on the same test prefixes, as tables, and where the Transformer loses.

Undefined metrics are NaN and never count as a win or a loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from training.evaluation import metrics as em

TOP_K = 20
TRANSFORMER, POPULARITY, RECENT, SKNN, LOGISTIC, BASE_RATE = (
    "Transformer",
    "Popularity",
    "Recent items",
    "SKNN",
    "Logistic (counts)",
    "Base rate",
)
ECE = "P(buy) ECE, 10 bins"
LOWER_IS_BETTER = frozenset({ECE})
# Prefix-length buckets (inclusive bounds), short prefixes are where serving starts.
BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1),
    ("2-3", 2, 3),
    ("4-7", 4, 7),
    ("8-15", 8, 15),
    ("16+", 16, 1 << 30),
)
Table = dict[str, dict[str, float]]  # metric -> method -> value
Bools = npt.NDArray[np.bool_]


@dataclass
class Truth:
    """Per test prefix: buys later in the session, ends on add_to_cart, next item, length."""

    buy: Bools
    after_cart: Bools
    next_item: npt.NDArray[np.int64]
    length: npt.NDArray[np.int64]
    session: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    # Whose buy label is known: False where the session may have gone on after the data
    # ends (``training.model.train.open_at_end``); None: all.
    labelled: Bools | None = None


@dataclass
class Scores:
    p_buy: npt.NDArray[np.float64] | None = None
    top_items: npt.NDArray[np.int64] | None = None


def metrics_of(truth: Truth, scores: Scores, mask: Bools | None = None) -> dict[str, float]:
    """Every metric the scores allow, over the prefixes in ``mask`` (all by default)."""
    m = np.ones(len(truth.buy), dtype=bool) if mask is None else mask
    out: dict[str, float] = {}
    if scores.p_buy is not None:
        known = m if truth.labelled is None else m & truth.labelled
        p, y, cart = scores.p_buy[known], truth.buy[known], truth.after_cart[known]
        out["buy ROC-AUC"] = em.auc(p, y)
        out["buy PR-AUC"] = em.average_precision(p, y)
        out["buy ROC-AUC, prefix ends in add_to_cart"] = em.auc(p[cart], y[cart])
        out["buy PR-AUC, prefix ends in add_to_cart"] = em.average_precision(p[cart], y[cart])
        # Calibration to a label the data never has (views-only logs) says nothing.
        out[ECE] = em.expected_calibration_error(p, y) if y.any() else float("nan")
    if scores.top_items is not None:
        out.update(em.ranking_metrics(scores.top_items[m], truth.next_item[m], TOP_K))
    return out


def metric_table(truth: Truth, scores: dict[str, Scores], mask: Bools | None = None) -> Table:
    table: Table = {}
    for method, method_scores in scores.items():
        for metric, value in metrics_of(truth, method_scores, mask).items():
            table.setdefault(metric, {})[method] = value
    return table


BUCKET_METRICS = ("buy ROC-AUC", "buy PR-AUC", f"Recall@{TOP_K}")


def length_tables(
    truth: Truth, scores: dict[str, Scores]
) -> tuple[dict[str, Table], dict[str, int]]:
    """Per metric of ``BUCKET_METRICS``: bucket -> method -> value, and prefixes per bucket."""
    tables: dict[str, Table] = {metric: {} for metric in BUCKET_METRICS}
    sizes: dict[str, int] = {}
    for name, low, high in BUCKETS:
        mask = (truth.length >= low) & (truth.length <= high)
        sizes[name] = int(mask.sum())
        if not sizes[name]:
            continue
        bucket = metric_table(truth, scores, mask)
        for metric in BUCKET_METRICS:
            tables[metric][name] = bucket.get(metric, {})
    return tables, sizes


def _beats(metric: str, baseline: float, transformer: float) -> bool:
    if np.isnan(baseline) or np.isnan(transformer):
        return False
    return baseline < transformer if metric in LOWER_IS_BETTER else baseline > transformer


def transformer_losses(
    table: Table,
    by_length: dict[str, Table],
    bucket_sizes: dict[str, int],
    intervals: dict[str, dict[str, tuple[float, float]]],
) -> list[str]:
    """Every metric, overall and per length bucket, where some baseline beats the Transformer."""
    lines = []
    for metric, row in table.items():
        lines.extend(_losses_in(metric, row, "all test prefixes", intervals.get(metric, {})))
    for metric, buckets in by_length.items():
        for bucket, row in buckets.items():
            where = f"prefix length {bucket} ({bucket_sizes[bucket]} prefixes)"
            lines.extend(_losses_in(metric, row, where))
    return lines


def _losses_in(
    metric: str,
    row: dict[str, float],
    where: str,
    intervals: dict[str, tuple[float, float]] | None = None,
) -> list[str]:
    mine = row.get(TRANSFORMER, float("nan"))
    return [
        f"{metric}, {where}: {method} {value:.4f} vs Transformer {mine:.4f}"
        + _noise(metric, (intervals or {}).get(method))
        for method, value in row.items()
        if method != TRANSFORMER and _beats(metric, value, mine)
    ]


def _noise(metric: str, interval: tuple[float, float] | None) -> str:
    """Whether the paired bootstrap interval of the difference excludes a tie."""
    if interval is None:
        return ""
    low, high = interval
    clear = high < 0 if metric in LOWER_IS_BETTER else low > 0
    verdict = "clear" if clear else "within noise"
    return f" (baseline - Transformer, 95% session bootstrap: [{low:+.4f}, {high:+.4f}]; {verdict})"
