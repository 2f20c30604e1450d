"""Item co-visitation, computed from training sessions and shipped in the model.

For every item, the items that followed it (or came shortly before it) in training sessions,
weighted by closeness: ``1/d`` for an item ``d`` events later, half that for one ``d`` events
earlier, up to ``LAG`` events apart. Each item keeps its ``neighbours`` heaviest, as a
distribution whose total is ``n / (n + PRIOR)`` of the item's summed weight ``n``: an item
seen beside others once says less than one seen a thousand times, and the mixture in the
model gives a source the share that its mass holds.

Training needs the table without each session's own pairs, or the gate would learn to trust
co-visitation on data it has already seen: sessions are split in two folds by index and each
fold learns with the table of the other (``CovisitLookup``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from scipy import sparse
from torch import Tensor

from service.model.encoding import FIRST_ID, Encoded

LAG = 8
PRIOR = 2.0
BACKWARD = 0.5
FOLDS = 2
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Table:
    items: Ints  # [V, C] neighbour ids, 0 where none
    weights: Floats  # [V, C]


def pair_counts(sessions: Sequence[Encoded], n_items: int) -> sparse.csr_matrix:
    """``[V, V]`` summed closeness weights of (item, later or earlier item) pairs."""
    flat = [seq[:, 0] for seq in sessions if len(seq)]
    if not flat:
        return sparse.csr_matrix((n_items, n_items), dtype=np.float64)
    items = np.concatenate(flat)
    owner = np.repeat(np.arange(len(flat)), [len(f) for f in flat])
    rows, cols, weights = [], [], []
    for lag in range(1, LAG + 1):
        a, b = items[:-lag], items[lag:]
        keep = (owner[:-lag] == owner[lag:]) & (a >= FIRST_ID) & (b >= FIRST_ID) & (a != b)
        a, b = a[keep], b[keep]
        rows += [a, b]
        cols += [b, a]
        weights += [np.full(len(a), 1.0 / lag), np.full(len(a), BACKWARD / lag)]
    matrix = sparse.coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
    )
    return matrix.tocsr()


def table(sessions: Sequence[Encoded], n_items: int, neighbours: int) -> Table:
    """The ``neighbours`` heaviest co-visited items of every item, as a shrunk distribution."""
    counts = pair_counts(sessions, n_items)
    counts.sum_duplicates()
    row_of = np.repeat(np.arange(n_items), np.diff(counts.indptr))
    order = np.lexsort((-counts.data, row_of))
    rank = np.arange(len(order)) - counts.indptr[row_of[order]]
    kept = order[rank < neighbours]
    rows, cols, values = row_of[kept], counts.indices[kept], counts.data[kept]
    slot = rank[rank < neighbours]
    totals = np.asarray(counts.sum(axis=1)).ravel()
    kept_totals = np.bincount(rows, weights=values, minlength=n_items)
    scale = np.where(kept_totals > 0, totals / (totals + PRIOR) / np.maximum(kept_totals, 1e-12), 0)
    out_items = np.zeros((n_items, neighbours), dtype=np.int64)
    out_weights = np.zeros((n_items, neighbours), dtype=np.float32)
    out_items[rows, slot] = cols
    out_weights[rows, slot] = values * scale[rows]
    return Table(out_items, out_weights)


def fold_of(sessions: Ints) -> Ints:
    return sessions % FOLDS


class CovisitLookup:
    """``weight(item -> target)`` and each item's mass, per fold, as the loss asks for them:
    the tables of all folds as one sorted key array, looked up by binary search."""

    def __init__(self, tables: Sequence[Table], n_items: int) -> None:
        self.n_items = n_items
        keys, values, masses = [], [], []
        for fold, t in enumerate(tables):
            source = np.repeat(np.arange(n_items, dtype=np.int64), t.items.shape[1])
            live = t.weights.ravel() > 0
            offset = fold * n_items * n_items
            keys.append(offset + source[live] * n_items + t.items.ravel()[live])
            values.append(t.weights.ravel()[live])
            masses.append(t.weights.sum(axis=1))
        key = np.concatenate(keys)
        order = np.argsort(key)
        self.keys = torch.from_numpy(key[order])
        self.values = torch.from_numpy(np.concatenate(values)[order].astype(np.float32))
        self.masses = torch.from_numpy(np.stack(masses).astype(np.float32))

    def weights(self, fold: Tensor, items: Tensor, targets: Tensor) -> Tensor:
        """``[B, Q, L]``: weight of history item ``items[b, j]`` towards ``targets[b, i]``."""
        offset = fold.view(-1, 1, 1) * self.n_items * self.n_items
        key = offset + items.unsqueeze(1) * self.n_items + targets.clamp(min=0).unsqueeze(2)
        if not len(self.keys):
            return torch.zeros(key.shape)
        found = torch.searchsorted(self.keys, key.flatten()).clamp(max=len(self.keys) - 1)
        hit = self.keys[found] == key.flatten()
        return torch.where(hit, self.values[found], 0.0).view(key.shape)

    def mass(self, fold: Tensor, items: Tensor) -> Tensor:
        """``[B, L]`` total weight of each history item's neighbours."""
        return self.masses[fold.unsqueeze(1).expand_as(items), items]
