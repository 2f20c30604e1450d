"""Co-visitation: the items that came near an item, weighted by closeness, shrunk by evidence."""

from __future__ import annotations

import numpy as np
import torch

from training.model.covisit import BACKWARD, PRIOR, CovisitLookup, pair_counts, table


def session(*items: int) -> np.ndarray:
    rows = np.ones((len(items), 7), dtype=np.int64)
    rows[:, 0] = items
    return rows


def test_pairs_weigh_closeness_forward_more_than_backward() -> None:
    counts = pair_counts([session(2, 3, 4), session(2, 3), session(1, 5, 5)], 6).toarray()
    assert counts[2, 3] == 2.0  # twice right after
    assert counts[3, 2] == 2 * BACKWARD
    assert counts[2, 4] == 0.5  # two events later
    assert counts[1].sum() == 0
    assert counts[:, 1].sum() == 0
    assert counts[5, 5] == 0  # an item is not its own neighbour


def test_table_keeps_the_heaviest_and_shrinks_little_evidence() -> None:
    sessions = [session(2, 3)] * 10 + [session(2, 4)] * 2 + [session(2, 5)]
    t = table(sessions, 6, neighbours=2)
    assert t.items[2].tolist() == [3, 4]
    total = 10 + 2 + 1
    assert np.isclose(t.weights[2].sum(), total / (total + PRIOR))
    assert np.isclose(t.weights[2, 0] / t.weights[2, 1], 5.0)
    # Item 5 was seen next to item 2 once: its table says so with a small mass.
    assert t.items[5, 0] == 2
    assert np.isclose(t.weights[5].sum(), BACKWARD / (BACKWARD + PRIOR))
    assert t.weights[0].sum() == 0
    assert t.weights[1].sum() == 0


def test_lookup_answers_per_fold_and_item_pair() -> None:
    a = table([session(2, 3)] * 4, 5, neighbours=2)
    b = table([session(2, 4)] * 4, 5, neighbours=2)
    lookup = CovisitLookup([a, b], 5)
    items = torch.tensor([[2, 3], [2, 3]])
    targets = torch.tensor([[3, 4], [3, 4]])
    fold = torch.tensor([0, 1])
    weights = lookup.weights(fold, items, targets)
    assert weights.shape == (2, 2, 2)
    assert weights[0, 0, 0] == torch.tensor(a.weights[2, 0])  # fold 0: 2 -> 3
    assert weights[0, 1, 0] == 0  # fold 0 knows no 2 -> 4
    assert weights[1, 1, 0] == torch.tensor(b.weights[2, 0])  # fold 1: 2 -> 4
    assert lookup.mass(fold, items)[0, 1] > 0
    assert lookup.mass(fold, items)[1, 1] == 0
