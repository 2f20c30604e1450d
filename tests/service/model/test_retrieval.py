"""Candidates from the item index, scored exactly, against scoring every item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.model.encoding import FIRST_ID
from service.model.item_index import (
    COVISIT_ITEMS_FILE,
    COVISIT_WEIGHTS_FILE,
    INDEX_FILE,
    TABLE_FILE,
    build_index,
    lists_for,
)
from service.model.retrieval import ItemScorer

ITEMS, WIDTH, NEIGHBOURS, ROWS, HISTORY, TOP = 8_000, 16, 4, 64, 12, 20
SEED = 11


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tables and an index as an export writes them, of random weights (seed printed)."""
    print(f"retrieval tables: seed {SEED}")
    rng = np.random.default_rng(SEED)
    folder = tmp_path_factory.mktemp("retrieval")
    vocab = ITEMS + FIRST_ID
    table = rng.standard_normal((vocab, WIDTH + 1)).astype(np.float32)
    table[:, WIDTH] *= 0.5
    np.save(folder / TABLE_FILE, table)
    np.save(folder / COVISIT_ITEMS_FILE, rng.integers(0, vocab, (vocab, NEIGHBOURS), np.int32))
    np.save(folder / COVISIT_WEIGHTS_FILE, rng.random((vocab, NEIGHBOURS), np.float32) / 8)
    build_index(table, folder / INDEX_FILE)
    return folder


def inputs(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A batch of encoder outputs: histories (some padded, some unknown), queries, gates and
    pointer weights."""
    rng = np.random.default_rng(seed)
    items = rng.integers(FIRST_ID, ITEMS + FIRST_ID, (ROWS, HISTORY))
    items[:, :3] = 0
    items[::7, 5] = 1
    query = (rng.standard_normal((ROWS, WIDTH)) * 0.6).astype(np.float32)
    gate = rng.dirichlet([1.0, 1.0, 1.0], ROWS).astype(np.float32)
    pointing = rng.dirichlet(np.ones(HISTORY), (ROWS, 2)).astype(np.float32)
    pointing *= (items >= FIRST_ID)[:, None, :]
    return items, query, gate, pointing


def reference(artefact: Path, items: np.ndarray, query: np.ndarray, gate: np.ndarray,
              pointing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The full graph's arithmetic (IntentRanker.item_scores), over every item."""
    table = np.load(artefact / TABLE_FILE)
    neighbours = np.load(artefact / COVISIT_ITEMS_FILE)
    weights = np.load(artefact / COVISIT_WEIGHTS_FILE)
    logits = np.hstack([query, np.ones((len(query), 1), np.float32)]) @ table.T
    logits[:, :FIRST_ID] = -np.inf
    generated = np.exp(logits - logits.max(1, keepdims=True))
    scores = gate[:, :1] * generated / generated.sum(1, keepdims=True)
    total = gate[:, 0].astype(np.float64).copy()
    for r in range(len(query)):
        copied = pointing[r, 0] * gate[r, 1]
        followed = weights[items[r]] * (pointing[r, 1] * gate[r, 2])[:, None]
        np.add.at(scores[r], items[r], copied)
        np.add.at(scores[r], neighbours[items[r]].ravel(), followed.ravel())
        total[r] += copied.sum() + followed.sum()
    scores[:, :FIRST_ID] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP]
    return np.take_along_axis(scores, top, 1) / total[:, None], top


def test_scanning_every_item_gives_the_full_models_top_items_and_scores(artefact: Path) -> None:
    scorer = ItemScorer(artefact, candidates=64, breadth=64, top_k=TOP)
    batch = inputs(1)
    scores, items = scorer.score(*batch, exact=True)
    expected_scores, expected_items = reference(artefact, *batch)
    assert items.shape == (ROWS, TOP)
    np.testing.assert_array_equal(items, expected_items)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-4, atol=1e-7)


def overlap(found: np.ndarray, expected: np.ndarray) -> float:
    """Mean share of each row's expected top items that ``found`` holds."""
    shares = [len(set(a) & set(b)) / TOP for a, b in zip(found, expected, strict=True)]
    return float(np.mean(shares))


def test_the_index_finds_the_top_items_and_the_estimated_normaliser_keeps_their_scores(
    artefact: Path,
) -> None:
    scorer = ItemScorer(artefact, candidates=128, breadth=lists_for(ITEMS) // 2, top_k=TOP)
    batch = inputs(2)
    scores, items = scorer.score(*batch)
    expected_scores, expected_items = reference(artefact, *batch)
    found = overlap(items, expected_items)
    assert found >= 0.9, found
    assert not np.isin(items, [0, 1]).any()
    # Where both name the same first item, the estimated normaliser gives it nearly its score;
    # an item the index misses takes its mass out of the estimate, so a few rows are further.
    same = items[:, 0] == expected_items[:, 0]
    assert same.mean() >= 0.9
    error = np.abs(scores[same, 0] / expected_scores[same, 0] - 1)
    assert np.median(error) < 0.005, np.median(error)
    assert error.max() < 0.06, error.max()


def test_a_narrow_search_finds_less_than_a_wide_one(artefact: Path) -> None:
    """The breadth the manifest names (lists read) is the lever: the test above is not
    passing by luck."""
    batch = inputs(3)
    expected = reference(artefact, *batch)[1]
    found = {}
    for breadth in (2, lists_for(ITEMS)):
        scorer = ItemScorer(artefact, candidates=128, breadth=breadth, top_k=TOP)
        assert scorer.index.breadth == breadth
        found[breadth] = overlap(scorer.score(*batch)[1], expected)
    assert found[2] < found[lists_for(ITEMS)] - 0.1, found
    assert found[lists_for(ITEMS)] >= 0.95, found


def test_every_table_and_the_index_are_mapped_from_the_artefact_not_copied(
    artefact: Path,
) -> None:
    scorer = ItemScorer(artefact, candidates=64, breadth=64, top_k=TOP)
    assert isinstance(scorer.table, np.memmap)
    assert isinstance(scorer.neighbours, np.memmap)
    mapped = Path("/proc/self/maps").read_text()
    for name in (TABLE_FILE, COVISIT_ITEMS_FILE, COVISIT_WEIGHTS_FILE, INDEX_FILE):
        assert str(artefact / name) in mapped, name
