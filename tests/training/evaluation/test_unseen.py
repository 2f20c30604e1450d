"""Recall@20 on next items the training vocabulary lacks, ranked through their category."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
import torch

from service.model.encoding import Vocabulary
from tests._support.torch_threads import one_torch_thread
from training.data.dataset import encode_sessions, prefix_pairs
from training.data.simulator import simulate
from training.evaluation.unseen import (
    RECENT_RAW,
    TRANSFORMER_ALONE,
    TRANSFORMER_WITH_NEWCOMERS,
    evaluate_unseen,
    newcomers_of,
    unseen_section,
)
from training.model.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained() -> tuple[torch.nn.Module, Vocabulary]:
    with one_torch_thread():
        result = train([s.events for s in simulate(150, seed=3)], TrainConfig(epochs=1))
    saved = result.checkpoint
    return result.model, Vocabulary(saved["items"], saved["categories"])


def renamed(sessions: list, every: int) -> list:
    """Every ``every``-th item renamed to an id no training session had, category kept."""
    vocab_free = []
    for events in sessions:
        vocab_free.append(
            [
                msgspec.structs.replace(e, item_id=f"new-{e.item_id}")
                if e.item_id is not None and int(e.item_id[-2:]) % every == 0
                else e
                for e in events
            ]
        )
    return vocab_free


def test_newcomers_are_recalled_through_their_category_and_only_with_a_share(
    trained: tuple[torch.nn.Module, Vocabulary],
) -> None:
    model, vocab = trained
    sessions = renamed([s.events for s in simulate(60, seed=4)], every=5)
    newcomers = newcomers_of(sessions, vocab)
    listed = [item for items in newcomers.values() for item in items]
    assert not set(listed) & set(vocab.item_ids)
    assert sum(item.startswith("new-") for item in listed) > 10
    data = encode_sessions(sessions, vocab)
    pairs = prefix_pairs(data.encoded)
    shown = evaluate_unseen(model, vocab, sessions, data, pairs, share=0.5, max_len=50)  # type: ignore[arg-type]
    assert shown.unseen_prefixes > 20
    assert shown.known_prefixes > 20
    assert shown.unseen[TRANSFORMER_ALONE] == 0.0, "the model alone cannot name them"
    assert shown.unseen[TRANSFORMER_WITH_NEWCOMERS] > 0.1
    assert 0.0 < shown.unseen[RECENT_RAW] < 1.0
    # Newcomers take places in the list: known next items may lose some, never gain.
    assert shown.known[TRANSFORMER_WITH_NEWCOMERS] <= shown.known[TRANSFORMER_ALONE]
    hidden = evaluate_unseen(model, vocab, sessions, data, pairs, share=0.0, max_len=50)  # type: ignore[arg-type]
    assert hidden.unseen[TRANSFORMER_WITH_NEWCOMERS] == 0.0
    assert hidden.known[TRANSFORMER_WITH_NEWCOMERS] == hidden.known[TRANSFORMER_ALONE]
    section = "\n".join(unseen_section(shown))
    assert "## Items the model has not seen" in section
    assert f"| next item new ({shown.unseen_prefixes:,} prefixes) |" in section
    assert np.isclose(shown.share, 0.5)
