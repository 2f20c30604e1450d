"""Evaluation metrics in plain numpy: ranking of P(buy), its calibration, next-item ranks.

Undefined values (one class absent, no prefix with a next item) are NaN, not a flattering
0.5 or 0: a report must say "n/a" rather than compare a number that means nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.data.labels import IGNORE
from training.evaluation.metrics import roc_auc

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
NAN = float("nan")


def auc(scores: npt.NDArray[np.floating], positive: Bools) -> float:
    """ROC-AUC, NaN when only one class is present."""
    if positive.all() or not positive.any():
        return NAN
    return roc_auc(np.asarray(scores, dtype=np.float64), positive)


def _descending_thresholds(
    scores: npt.NDArray[np.floating], positive: Bools
) -> tuple[Floats, Floats]:
    """Cumulative (true positives, false positives) at each distinct score, highest first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked, hits = np.asarray(scores)[order], positive[order].astype(np.float64)
    # The last position of every run of equal scores: ties enter together.
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tps = np.cumsum(hits)[ends]
    return tps, (ends + 1) - tps


def average_precision(scores: npt.NDArray[np.floating], positive: Bools) -> float:
    """PR-AUC as step-wise average precision: sum of (recall gain x precision) per threshold."""
    n_pos = int(positive.sum())
    if n_pos == 0 or len(positive) == 0:
        return NAN
    tps, fps = _descending_thresholds(scores, positive)
    precision = tps / (tps + fps)
    recall_gain = np.diff(np.r_[0.0, tps]) / n_pos
    return float(np.sum(recall_gain * precision))


def roc_curve(scores: npt.NDArray[np.floating], positive: Bools) -> tuple[Floats, Floats]:
    """``(false positive rate, true positive rate)`` from (0, 0) to (1, 1)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    tps, fps = _descending_thresholds(scores, positive)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def calibration_bins(
    probs: npt.NDArray[np.floating], positive: Bools, bins: int = 10
) -> tuple[Floats, Floats, Ints]:
    """Per equal-width bin: ``(mean predicted, observed rate, count)``; NaN in empty bins."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    # A probability of exactly 1.0 belongs to the last bin, not to an eleventh one.
    index = np.minimum((probs * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(index, weights=probs, minlength=bins) / counts
        observed = np.bincount(index, weights=positive.astype(np.float64), minlength=bins) / counts
    return mean_pred, observed, counts


def expected_calibration_error(
    probs: npt.NDArray[np.floating], positive: Bools, bins: int = 10
) -> float:
    """Count-weighted mean |predicted - observed| over equal-width bins."""
    if len(positive) == 0:
        return NAN
    mean_pred, observed, counts = calibration_bins(probs, positive, bins)
    filled = counts > 0
    gaps = np.abs(mean_pred[filled] - observed[filled])
    return float(np.sum(gaps * counts[filled]) / counts.sum())


def target_ranks(top_items: Ints, targets: Ints) -> Ints:
    """1-based rank of each target in its row of ``top_items``; 0 when absent."""
    hits = top_items == targets[:, None]
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1) + 1, 0).astype(np.int64)


def ranking_metrics(top_items: Ints, targets: Ints, k: int = 20) -> dict[str, float]:
    """Recall@k, MRR@k and NDCG@k (one relevant item) over rows whose target is known."""
    valid = targets != IGNORE
    if not valid.any():
        return {f"Recall@{k}": NAN, f"MRR@{k}": NAN, f"NDCG@{k}": NAN}
    ranks = target_ranks(top_items[valid, :k], targets[valid])
    hit = ranks > 0
    safe = np.where(hit, ranks, 1)
    return {
        f"Recall@{k}": float(hit.mean()),
        f"MRR@{k}": float(np.where(hit, 1.0 / safe, 0.0).mean()),
        f"NDCG@{k}": float(np.where(hit, 1.0 / np.log2(safe + 1.0), 0.0).mean()),
    }
