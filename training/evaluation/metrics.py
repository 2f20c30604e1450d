"""Held-out metrics in plain numpy, each next to the trivial baseline it must beat."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.data.labels import BUY, IGNORE

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def accuracy(probs: npt.NDArray[np.floating], labels: Ints) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels)) if len(labels) else 0.0


def majority_accuracy(train_labels: Ints, labels: Ints) -> float:
    """Accuracy of always answering the most frequent training label: the chance level."""
    if not len(labels):
        return 0.0
    return float(np.mean(labels == np.bincount(train_labels).argmax()))


def roc_auc(scores: npt.NDArray[np.floating], positive: npt.NDArray[np.bool_]) -> float:
    """Mann-Whitney AUC with average ranks for ties; 0.5 when one class is absent."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average rank per run of equal scores.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def recall_at_k(top_items: Ints, targets: Ints) -> float:
    """Share of prefixes with a next item whose next item is among ``top_items``."""
    valid = targets != IGNORE
    if not valid.any():
        return 0.0
    return float(np.mean((top_items[valid] == targets[valid, None]).any(axis=1)))


def popularity_recall_at_k(popular_ids: Ints, targets: Ints) -> float:
    return recall_at_k(np.broadcast_to(popular_ids, (len(targets), len(popular_ids))), targets)


def intent_metrics(
    intent_probs: npt.NDArray[np.floating],
    intents: Ints,
    top_items: Ints,
    next_items: Ints,
    train_intents: Ints,
    popular_ids: Ints,
) -> dict[str, float]:
    return {
        "intent_accuracy": accuracy(intent_probs, intents),
        "intent_majority_accuracy": majority_accuracy(train_intents, intents),
        "buy_auc": roc_auc(intent_probs[:, BUY], intents == BUY),
        "next_item_recall_at_k": recall_at_k(top_items, next_items),
        "popularity_recall_at_k": popularity_recall_at_k(popular_ids, next_items),
        "heldout_prefixes": float(len(intents)),
    }
