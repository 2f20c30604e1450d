"""How sure is "a baseline beats the Transformer"? A paired bootstrap over test sessions.

Prefixes of one session share a label and a shopper, so they are not independent: the
bootstrap resamples whole test sessions and recomputes every method's metric on the same
resample, which keeps the comparison paired.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from training.evaluation.comparison import TRANSFORMER, Scores, Table, Truth, metric_table

Ints = npt.NDArray[np.int64]
Interval = tuple[float, float]


def session_resamples(session: Ints, n: int, seed: int = 0) -> Iterator[Ints]:
    """Row indices of ``n`` resamples that draw whole sessions with replacement."""
    rng = np.random.default_rng(seed)
    order = np.argsort(session, kind="stable")
    _, counts = np.unique(session[order], return_counts=True)
    rows = np.split(order, np.cumsum(counts)[:-1])
    for _ in range(n):
        picked = rng.integers(0, len(rows), len(rows))
        yield np.concatenate([rows[i] for i in picked])


def _take_truth(truth: Truth, rows: Ints) -> Truth:
    labelled = None if truth.labelled is None else truth.labelled[rows]
    return Truth(
        truth.buy[rows],
        truth.after_cart[rows],
        truth.next_item[rows],
        truth.length[rows],
        labelled=labelled,
    )


def _take_scores(scores: Scores, rows: Ints) -> Scores:
    return Scores(
        None if scores.p_buy is None else scores.p_buy[rows],
        None if scores.top_items is None else scores.top_items[rows],
    )


def difference_intervals(
    truth: Truth, scores: dict[str, Scores], session: Ints, n: int = 200, level: float = 0.95
) -> dict[str, dict[str, Interval]]:
    """metric -> baseline -> interval of (baseline - Transformer) at ``level``."""
    samples: dict[tuple[str, str], list[float]] = {}
    for rows in session_resamples(session, n):
        table: Table = metric_table(
            _take_truth(truth, rows), {m: _take_scores(s, rows) for m, s in scores.items()}
        )
        for metric, row in table.items():
            mine = row.get(TRANSFORMER)
            for method, value in row.items():
                if method != TRANSFORMER and mine is not None:
                    samples.setdefault((metric, method), []).append(value - mine)
    tail = (1 - level) / 2 * 100
    intervals: dict[str, dict[str, Interval]] = {}
    for (metric, method), diffs in samples.items():
        finite = np.asarray(diffs)[np.isfinite(diffs)]
        if len(finite) >= n // 2:
            low, high = np.percentile(finite, [tail, 100 - tail])
            intervals.setdefault(metric, {})[method] = (float(low), float(high))
    return intervals
