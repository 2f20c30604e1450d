"""Held-out metrics: ranking of P(buy) and its calibration (as scikit-learn defines them),
next-item ranks, and the trivial baselines a model must beat.

One convention for undefined values: a metric that the data cannot define (one class only,
no prefix with a next item, no prefixes at all) is NaN, never a flattering 0.5 or 0, so that
a report says "n/a" rather than compare a number that means nothing. The one exception is
``intent_metrics``, the checkpoint's figures, which go into the JSON manifest where NaN has
no place: there an undefined ROC-AUC is the chance level 0.5, and the other figures 0.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_curve as sklearn_roc_curve

from training.data.labels import BUY, IGNORE

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
NAN = float("nan")


def _one_class(positive: Bools) -> bool:
    return bool(positive.all() or not positive.any())


# ROC-AUC, average precision and calibration bins are computed here, as scikit-learn defines
# them (the tests hold the two equal): the session bootstrap calls them thousands of times,
# and scikit-learn's input validation cost ~1 ms a call, 90% of the bootstrap's time.


def auc(scores: npt.NDArray[np.floating], positive: Bools) -> float:
    """ROC-AUC (ties count half): the Mann-Whitney U on mid-ranks; NaN with one class only."""
    if _one_class(positive):
        return NAN
    _, inverse, counts = np.unique(
        np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True
    )
    mid_ranks = np.cumsum(counts) - (counts - 1) / 2
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    rank_sum = float(mid_ranks[inverse.reshape(-1)][positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def average_precision(scores: npt.NDArray[np.floating], positive: Bools) -> float:
    """PR-AUC as step-wise average precision over distinct thresholds; NaN without a positive."""
    if not positive.any():
        return NAN
    # Distinct scores, highest first; a tie is one threshold.
    _, inverse = np.unique(-np.asarray(scores, dtype=np.float64), return_inverse=True)
    inverse = inverse.reshape(-1)
    true_pos = np.cumsum(np.bincount(inverse, weights=positive.astype(np.float64)))
    predicted = np.cumsum(np.bincount(inverse))
    recall = true_pos / true_pos[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * true_pos / predicted))


def roc_curve(scores: npt.NDArray[np.floating], positive: Bools) -> tuple[Floats, Floats]:
    """``(false positive rate, true positive rate)`` from (0, 0) to (1, 1); the diagonal when
    one class is absent."""
    if _one_class(positive):
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    fpr, tpr, _ = sklearn_roc_curve(
        positive, np.asarray(scores, dtype=np.float64), drop_intermediate=False
    )
    return np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)


def calibration_bins(
    probs: npt.NDArray[np.floating], positive: Bools, bins: int = 10
) -> tuple[Floats, Floats, Ints]:
    """Per equal-width bin: ``(mean predicted, observed rate, count)``; NaN in empty bins.

    Binned as scikit-learn's ``calibration_curve`` bins (right-closed, 0 in the first bin),
    which gives the means of the filled bins."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], probs)
    counts = np.bincount(which, minlength=bins).astype(np.int64)
    mean_pred, observed = np.full(bins, NAN), np.full(bins, NAN)
    filled = counts > 0
    sums = np.bincount(which, weights=probs, minlength=bins)
    hits = np.bincount(which, weights=np.asarray(positive, dtype=np.float64), minlength=bins)
    mean_pred[filled] = sums[filled] / counts[filled]
    observed[filled] = hits[filled] / counts[filled]
    return mean_pred, observed, counts


def expected_calibration_error(
    probs: npt.NDArray[np.floating], positive: Bools, bins: int = 10
) -> float:
    """Count-weighted mean |predicted - observed| over equal-width bins; NaN when empty."""
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


def accuracy(probs: npt.NDArray[np.floating], labels: Ints) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels)) if len(labels) else NAN


def majority_accuracy(train_labels: Ints, labels: Ints) -> float:
    """Accuracy of always answering the most frequent training label: the chance level."""
    if not len(labels):
        return NAN
    return float(np.mean(labels == np.bincount(train_labels).argmax()))


def recall_at_k(top_items: Ints, targets: Ints) -> float:
    """Share of prefixes with a next item whose next item is among ``top_items``."""
    valid = targets != IGNORE
    if not valid.any():
        return NAN
    return float(np.mean((top_items[valid] == targets[valid, None]).any(axis=1)))


def popularity_recall_at_k(popular_ids: Ints, targets: Ints) -> float:
    return recall_at_k(np.broadcast_to(popular_ids, (len(targets), len(popular_ids))), targets)


def _or(value: float, undefined: float) -> float:
    return undefined if math.isnan(value) else value


def intent_metrics(
    intent_probs: npt.NDArray[np.floating],
    intents: Ints,
    top_items: Ints,
    next_items: Ints,
    train_intents: Ints,
    popular_ids: Ints,
) -> dict[str, float]:
    """The checkpoint's held-out figures, finite for the manifest (see the module docstring)."""
    return {
        "intent_accuracy": _or(accuracy(intent_probs, intents), 0.0),
        "intent_majority_accuracy": _or(majority_accuracy(train_intents, intents), 0.0),
        "buy_auc": _or(auc(intent_probs[:, BUY], intents == BUY), 0.5),
        "next_item_recall_at_k": _or(recall_at_k(top_items, next_items), 0.0),
        "popularity_recall_at_k": _or(popularity_recall_at_k(popular_ids, next_items), 0.0),
        "heldout_prefixes": float(len(intents)),
    }
