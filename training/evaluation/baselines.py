"""The baselines the Transformer must beat, fit on the same training split it learns from.

- ``popular_items``: the most frequent training items, the same list for every visitor.
- ``recent_items``: the prefix's own items, most recent first: shoppers return to what they
  just saw, and a next-item model must beat that rule to earn its keep.
- ``SessionKNN``: session-based kNN (Jannach & Ludewig 2017): the prefix's item set against
  every training session's item set, cosine similarity, the k most similar sessions vote
  for their items.
- ``LogisticBuy``: logistic regression (scikit-learn) on count features of the prefix, for
  P(buy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from service.model.encoding import EVENT_TYPES, FIRST_ID, Encoded
from service.schema import StoredEvent

ITEM = 0  # column of service.model.encoding.FEATURES
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
_TYPE_INDEX = {name: i for i, name in enumerate(EVENT_TYPES)}


def _known_items(encoded: Encoded) -> Ints:
    """Distinct vocabulary items of a sequence; padding and unknown items carry no signal."""
    items = encoded[:, ITEM]
    return np.unique(items[items >= FIRST_ID])


def item_counts(train_encoded: Sequence[Encoded], n_items: int) -> Ints:
    """Events per item id over the training sessions."""
    items = np.concatenate([seq[:, ITEM] for seq in train_encoded] + [np.zeros(0, np.int64)])
    counts = np.bincount(items[items >= FIRST_ID], minlength=n_items)
    return counts.astype(np.int64)


def popular_items(train_encoded: Sequence[Encoded], n_items: int, top: int = 20) -> Ints:
    """The ``top`` most frequent training items, most frequent first (ties: lower id)."""
    counts = item_counts(train_encoded, n_items)
    order = np.argsort(-counts, kind="stable")
    return order[counts[order] > 0][:top].astype(np.int64)


def recent_items(encoded: Encoded, k: int, popular: Ints, top: int = 20) -> Ints:
    """Distinct items of the first ``k`` events, most recent first, padded with popular ones."""
    items = encoded[:k, ITEM][::-1]
    items = items[items >= FIRST_ID]
    _, first = np.unique(items, return_index=True)
    recent = items[np.sort(first)][:top]
    filler = popular[~np.isin(popular, recent)]
    return np.asarray(np.r_[recent, filler][:top], dtype=np.int64)


class SessionKNN:
    """Item-set cosine kNN over training sessions, with an item -> sessions inverted index."""

    def __init__(
        self, train_encoded: Sequence[Encoded], n_items: int, k: int = 100, top: int = 20
    ) -> None:
        self.k, self.top = k, top
        sets = [_known_items(seq) for seq in train_encoded]
        self.sizes = np.array([len(s) for s in sets], dtype=np.int64)
        self.items = np.concatenate([*sets, np.zeros(0, np.int64)])
        self.starts = np.r_[0, np.cumsum(self.sizes)]
        owners = np.repeat(np.arange(len(sets), dtype=np.int64), self.sizes)
        order = np.argsort(self.items, kind="stable")
        self.sessions_by_item = owners[order]
        # Sessions holding item i are sessions_by_item[offsets[i]:offsets[i + 1]].
        self.offsets = np.searchsorted(self.items[order], np.arange(n_items + 1))
        counts = item_counts(train_encoded, n_items)
        self.popular = popular_items(train_encoded, n_items, top)
        # Ties in the vote go to the more popular item, so the order is deterministic.
        self.popularity_rank = np.argsort(np.argsort(-counts, kind="stable"), kind="stable")

    def neighbours(self, prefix_items: Ints) -> tuple[Ints, Floats]:
        """The ``k`` training sessions most similar to the item set, with their similarity."""
        prefix_items = prefix_items[prefix_items < len(self.offsets) - 1]
        if not len(prefix_items):
            return np.zeros(0, np.int64), np.zeros(0)
        spans = [self.sessions_by_item[self.offsets[i] : self.offsets[i + 1]] for i in prefix_items]
        candidates, overlap = np.unique(np.concatenate(spans), return_counts=True)
        sims = overlap / np.sqrt(len(prefix_items) * self.sizes[candidates])
        if len(candidates) > self.k:
            keep = np.argpartition(-sims, self.k - 1)[: self.k]
            candidates, sims = candidates[keep], sims[keep]
        return candidates, sims

    def recommend(self, prefix_items: Ints) -> Ints:
        """Top items by summed neighbour similarity, padded with popular items."""
        sessions, sims = self.neighbours(prefix_items)
        if not len(sessions):
            return self.popular.copy()
        parts = [self.items[self.starts[s] : self.starts[s + 1]] for s in sessions]
        voted, inverse = np.unique(np.concatenate(parts), return_inverse=True)
        scores = np.bincount(inverse, weights=np.repeat(sims, self.sizes[sessions]))
        ranked = voted[np.lexsort((self.popularity_rank[voted], -scores))][: self.top]
        # Too few neighbour items for a full list: the rest is what a popularity list says.
        filler = self.popular[~np.isin(self.popular, ranked)]
        return np.asarray(np.r_[ranked, filler][: self.top], dtype=np.int64)

    def recommend_prefix(self, encoded: Encoded, k: int) -> Ints:
        return self.recommend(_known_items(encoded[:k]))


# --- P(buy) from counts -----------------------------------------------------------------

FEATURE_NAMES: tuple[str, ...] = (
    *(f"log1p_count_{name}" for name in EVENT_TYPES),
    "log1p_length",
    "log1p_distinct_items",
    "log1p_seconds_since_first",
    *(f"last_is_{name}" for name in EVENT_TYPES),
)


def count_features(events: Sequence[StoredEvent]) -> Floats:
    """One row per prefix k = 1..n, from the first k events only."""
    n_types = len(EVENT_TYPES)
    rows = np.zeros((len(events), len(FEATURE_NAMES)))
    counts = np.zeros(n_types)
    seen: set[str] = set()
    first_ts = (events[0].ts or 0.0) if events else 0.0
    for k, event in enumerate(events):
        counts[_TYPE_INDEX[event.type]] += 1
        if event.item_id is not None:
            seen.add(event.item_id)
        # Logs tame heavy-tailed counts and durations, so one long session cannot dominate.
        rows[k, :n_types] = np.log1p(counts)
        rows[k, n_types : n_types + 3] = np.log1p(
            [k + 1, len(seen), max(0.0, (event.ts or first_ts) - first_ts)]
        )
        rows[k, n_types + 3 + _TYPE_INDEX[event.type]] = 1.0
    return rows


def prefix_features(sessions: Sequence[Sequence[StoredEvent]]) -> Floats:
    """Count features of every prefix, in ``training.data.dataset.prefix_pairs`` order."""
    blocks = [count_features(events) for events in sessions if events]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(FEATURE_NAMES)))


class LogisticBuy:
    """L2-regularised logistic regression (scikit-learn's) on standardised features.

    ``l2`` is the penalty on the sum of the per-prefix losses, as ``C = 1 / l2`` is to
    scikit-learn; the intercept carries the base rate and is not shrunk. Training prefixes of
    one class only give that class's rate for everyone, as no regression can be fit.
    """

    def __init__(self, l2: float = 1.0, max_iter: int = 100) -> None:
        self.l2, self.max_iter = l2, max_iter
        # Newton steps to a tight tolerance: the optimum itself, not where lbfgs's default
        # tolerance stops (which moved the reported figures in the fourth decimal).
        regression = LogisticRegression(
            C=1.0 / l2, solver="newton-cholesky", tol=1e-8, max_iter=max_iter
        )
        self.pipeline = make_pipeline(StandardScaler(), regression)
        self.constant: float | None = None

    def fit(self, features: Floats, positive: npt.NDArray[np.bool_]) -> LogisticBuy:
        if positive.all() or not positive.any():
            self.constant = float(positive.mean()) if len(positive) else 0.0
            return self
        self.constant = None
        self.pipeline.fit(features, positive)
        return self

    @property
    def weights(self) -> Floats:
        """Intercept, then one weight per standardised feature."""
        if self.constant is not None:
            return np.zeros(0)
        regression = self.pipeline[-1]
        return np.asarray(np.r_[regression.intercept_, regression.coef_[0]], dtype=np.float64)

    def predict(self, features: Floats) -> Floats:
        if self.constant is not None:
            return np.full(len(features), self.constant)
        return np.asarray(self.pipeline.predict_proba(features)[:, 1], dtype=np.float64)
