"""Next items for a large catalogue: candidates from the index, scored exactly.

The artefact's encoder graph (``training.model.retrieval``) stops short of the item
scores: it gives the next-item query, the three sources' gate and the pointer's weights over
the visitor's own events. This module finishes the model's ``item_scores`` on numpy:

* the *generated* source over the candidates: the items the index estimates highest (or,
  ``exact``, the top of a full scan) and every item the pointer sources name, each scored
  ``query . item + bias`` exactly;
* its normaliser: exact in a full scan; else the candidates' mass plus the rest of the
  catalogue's estimated from a fixed uniform sample of items, those not found (their mean
  times their number);
* the *copy* and *co-visitation* sources added on, and the top ``K`` divided by the total
  mass, as the full graph does.

The work per row is the index search and some thousand gathered rows, whatever the size of
the catalogue; rows are handled together, in one sort of all their candidates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from service.model.encoding import FIRST_ID
from service.model.item_index import (
    COVISIT_ITEMS_FILE,
    COVISIT_WEIGHTS_FILE,
    INDEX_FILE,
    TABLE_FILE,
    Floats,
    Ids,
    ItemIndex,
    load_table,
)

ENCODER_INPUTS = ("events", "item_vectors")
ENCODER_OUTPUTS = ("intent_probs", "uplift", "category_probs", "query", "gate", "pointing")
ITEM_COLUMN = 0  # of the encoded features

# Items whose scores estimate the normaliser's tail; at 4,096 its error is about 1.5% of
# the tail's mass for a logit spread of one nat.
TAIL_SAMPLE = 4096
TAIL_SEED = 20261201


class ItemScorer:
    """The item tables of one artefact and, unless ``exact``, its index."""

    def __init__(
        self, artefact: Path, candidates: int, breadth: int, top_k: int, threads: int = 1
    ) -> None:
        # NumPy's BLAS would start a thread per core for the small products below, which on
        # a worker pinned to its core only take turns with the event loop.
        threadpool_limits(max(threads, 1), user_api="blas")
        self.table: npt.NDArray[np.float32] = load_table(artefact, TABLE_FILE)  # type: ignore[assignment]
        self.neighbours: npt.NDArray[np.int32] = load_table(artefact, COVISIT_ITEMS_FILE)  # type: ignore[assignment]
        self.weights: npt.NDArray[np.float32] = load_table(artefact, COVISIT_WEIGHTS_FILE)  # type: ignore[assignment]
        self.width = self.table.shape[1] - 1
        self.candidates = candidates
        self.top_k = top_k
        self.index = ItemIndex(artefact / INDEX_FILE, breadth)
        real = len(self.table) - FIRST_ID
        rng = np.random.default_rng(TAIL_SEED)
        sample = np.sort(rng.choice(real, size=min(real, TAIL_SAMPLE), replace=False)) + FIRST_ID
        self._tail = np.ascontiguousarray(self.table[sample])
        self._tail_ids = sample.astype(np.int64)
        self._real = real

    def item_vectors(self, items: Ids) -> Floats:
        """``[B, L, d]`` the input embeddings of ``items [B, L]``, the encoder's second input."""
        rows = self.table[items.ravel(), : self.width]
        return np.ascontiguousarray(rows, dtype=np.float32).reshape(*items.shape, self.width)

    def feed(self, batch: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.generic]]:
        """The encoder graph's inputs for the encoded ``batch [B, L, features]``."""
        return {"events": batch, "item_vectors": self.item_vectors(batch[..., ITEM_COLUMN])}

    def finish(
        self, batch: npt.NDArray[np.int64], outputs: list[Floats], exact: bool = False
    ) -> tuple[Floats, Ids]:
        """The top ``K`` of ``batch`` from the encoder's ``outputs`` (``ENCODER_OUTPUTS``)."""
        _, _, _, query, gate, pointing = outputs
        return self.score(batch[..., ITEM_COLUMN], query, gate, pointing, exact=exact)

    def score(
        self,
        items: Ids,
        query: Floats,
        gate: Floats,
        pointing: Floats,
        exact: bool = False,
    ) -> tuple[Floats, Ids]:
        """The top ``K`` next items of each row from the encoder's outputs: ``items [B, L]``
        the history's ids, ``query [B, d]``, ``gate [B, 3]`` (generated, copy, co-visitation)
        and ``pointing [B, 2, L]``."""
        rows = len(query)
        augmented = np.hstack([query, np.ones((rows, 1), np.float32)])
        if exact:
            found, log_norm = self._full_scan(augmented)
        else:
            found = self.index.search(query, self.candidates)
            log_norm = None
        copied = pointing[:, 0] * gate[:, 1:2]
        neighbours = self.neighbours[items].reshape(rows, -1).astype(np.int64)
        followed = (self.weights[items] * (pointing[:, 1] * gate[:, 2:3])[..., None]).reshape(
            rows, -1
        )
        found_logits = np.einsum("bmj,bj->bm", self.table[found], augmented)
        valid = found >= FIRST_ID
        if log_norm is None:
            log_norm = self._estimated_norm(augmented, found, found_logits, valid)
        keys, pointed = self._pointed(
            found, found_logits, valid, log_norm, gate[:, 0],
            np.hstack([items, neighbours]), np.hstack([copied, followed]),
        )  # fmt: skip
        row, item = np.divmod(keys, len(self.table))
        logits = self._logits(keys, row, item, augmented, found, found_logits)
        scores = gate[row, 0] * np.exp(logits - log_norm[row]) + pointed
        scores[item < FIRST_ID] = -np.inf
        total = gate[:, 0] + copied.sum(1) + followed.sum(1)
        return self._top(row, item, scores, rows, total)

    def _pointed(
        self,
        found: Ids,
        found_logits: Floats,
        valid: npt.NDArray[np.bool_],
        log_norm: npt.NDArray[np.float64],
        generated: Floats,
        ids: Ids,
        mass: Floats,
    ) -> tuple[Ids, npt.NDArray[np.float64]]:
        """``(keys, pointer mass)`` of the items to score, a key ``row * V + item``: the found
        ones, and those the pointer sources name that could still reach a row's top ``K``.

        An item not found scores no higher than the lowest found one, so its generated share
        is at most ``cap``; one whose pointer mass plus ``cap`` falls short of the ``K``-th
        found item's generated share alone cannot make the top. Most co-visited items are
        such, and need not be gathered from the table (a thousand rows a row at 20
        neighbours of 50 events)."""
        rows, vocab = len(found), len(self.table)
        offset = np.arange(rows)[:, None] * vocab
        floor = np.where(valid, found_logits, np.inf).min(axis=1)
        cap = generated * np.exp(floor - log_norm)
        shares = np.where(valid, generated[:, None] * np.exp(found_logits - log_norm[:, None]), 0)
        k = min(self.top_k, shares.shape[1])
        kth = -np.partition(-shares, k - 1, axis=1)[:, k - 1]
        named, inverse = np.unique(ids + offset, return_inverse=True)
        named_mass = np.bincount(inverse.ravel(), mass.ravel(), minlength=len(named))
        found_keys = (found + offset).ravel()
        near = named_mass + cap[named // vocab] >= kth[named // vocab]
        near |= np.isin(named, found_keys)  # a found item keeps its pointer mass
        named, named_mass = named[near], named_mass[near]
        keys, at = np.unique(np.concatenate([found_keys, named]), return_inverse=True)
        pointed = np.bincount(at[found.size :], named_mass, minlength=len(keys))
        return keys.astype(np.int64), pointed.astype(np.float64)

    def _logits(
        self, keys: Ids, row: Ids, item: Ids, augmented: Floats, found: Ids, found_logits: Floats
    ) -> Floats:
        """The logits of ``keys``: the found items' computed already, the rest gathered. A
        gather of random rows is the dearest step after the index (70 us for 512 rows on a
        million-item table), so no row is gathered twice."""
        found_keys = (found + np.arange(len(found))[:, None] * len(self.table)).ravel()
        place = np.searchsorted(keys, found_keys)
        logits = np.empty(len(keys), np.float32)
        logits[place] = found_logits.ravel()
        rest = np.ones(len(keys), bool)
        rest[place] = False
        logits[rest] = np.einsum("ij,ij->i", self.table[item[rest]], augmented[row[rest]])
        return logits

    def _full_scan(self, augmented: Floats) -> tuple[Ids, npt.NDArray[np.float64]]:
        logits = augmented @ np.asarray(self.table[FIRST_ID:]).T
        count = min(self.candidates, logits.shape[1])
        top = np.argpartition(-logits, count - 1, axis=1)[:, :count]
        peak = logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits - peak).sum(axis=1, dtype=np.float64)) + peak[:, 0]
        return top + FIRST_ID, log_norm

    def _estimated_norm(
        self, augmented: Floats, found: Ids, found_logits: Floats, valid: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        """The log of the generated distribution's normaliser: the found items' exact mass
        plus the rest's, estimated from the sample's items that were not found, times the
        catalogue's share the sample is: unbiased whichever items the index missed."""
        head = np.where(valid, found_logits, -np.inf).astype(np.float64)
        tail = (augmented @ self._tail.T).astype(np.float64)
        # The sample's ids are sorted: a found item's place among them says if it is one.
        at = np.minimum(np.searchsorted(self._tail_ids, found), len(self._tail_ids) - 1)
        sampled = self._tail_ids[at] == found
        tail[np.nonzero(sampled)[0], at[sampled]] = -np.inf
        both = np.hstack([head, tail + np.log(self._real / tail.shape[1])])
        peak = both.max(axis=1, keepdims=True)
        norm: npt.NDArray[np.float64] = np.log(np.exp(both - peak).sum(axis=1)) + peak[:, 0]
        return norm

    def _top(
        self, row: Ids, item: Ids, scores: npt.NDArray[np.float64], rows: int, total: Floats
    ) -> tuple[Floats, Ids]:
        counts = np.bincount(row, minlength=rows)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        width = int(counts.max())
        grid = np.full((rows, width), -np.inf)
        ids = np.zeros((rows, width), np.int64)
        column = np.arange(len(row)) - starts[row]
        grid[row, column] = scores
        ids[row, column] = item
        k = min(self.top_k, width)
        top = np.argpartition(-grid, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(grid, top, 1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, 1)
        best = np.take_along_axis(grid, top, 1) / total[:, None]
        return best.astype(np.float32), np.take_along_axis(ids, top, 1)
