"""Training arrays come from the serving encoder, prefix by prefix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from service.model.encoding import FEATURES, Vocabulary, encode_events, pad_left
from training.data.dataset import (
    PrefixDataset,
    block_shuffled_batches,
    encode_sessions,
    epoch_batches,
    fingerprint,
    length_bucketed_batches,
    prefix_batch,
    prefix_pairs,
)
from training.data.simulator import simulate


def test_prefix_batch_is_pad_left_of_encoded_prefixes() -> None:
    sessions = [s.events for s in simulate(20, seed=2)]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    data = encode_sessions(sessions, vocab)
    pairs = prefix_pairs(data.encoded)
    assert len(pairs) == sum(len(events) for events in sessions)
    chosen = pairs[[0, len(pairs) // 2, len(pairs) - 1]]
    expected = pad_left([encode_events(sessions[s][:k], vocab) for s, k in chosen], 8)
    assert np.array_equal(prefix_batch(data.encoded, chosen, max_len=8), expected)


def test_dataloader_yields_aligned_tensors() -> None:
    sessions = [s.events for s in simulate(30, seed=4)]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    dataset = PrefixDataset(encode_sessions(sessions, vocab), max_len=12)
    loader = DataLoader(dataset, batch_size=16, shuffle=True, collate_fn=dataset.collate)
    seen = 0
    for events, intents, items in loader:
        assert events.dtype == torch.int64
        assert events.shape[0] == intents.shape[0] == items.shape[0]
        assert events.shape[1] <= 12
        assert events.shape[2] == len(FEATURES)
        assert (events[:, -1, 1] != 0).all(), "the last position is always a real event"
        seen += len(events)
    assert seen == len(dataset)


def test_bucketed_batches_cover_every_prefix_once() -> None:
    pairs = np.array([(s, k) for s in range(40) for k in range(1, s % 9 + 2)], dtype=np.int64)
    batches = list(length_bucketed_batches(pairs, 8, np.random.default_rng(0), pool=4))
    assert all(len(b) <= 8 for b in batches)
    seen = sorted(map(tuple, np.concatenate(batches).tolist()))
    assert seen == sorted(map(tuple, pairs.tolist()))


def test_block_shuffled_batches_cover_a_memory_mapped_file_once(tmp_path: Path) -> None:
    pairs = np.array([(s, k) for s in range(500) for k in range(1, s % 9 + 2)], dtype=np.int64)
    pairs.tofile(tmp_path / "pairs.bin")
    mapped = np.memmap(tmp_path / "pairs.bin", dtype=np.int64, mode="r", shape=pairs.shape)
    batches = list(epoch_batches(mapped, 8, np.random.default_rng(0)))
    # The same count as the in-memory shuffle gives, so the LR schedule and torchrun agree.
    assert len(batches) == -(-len(pairs) // 8)
    assert all(len(b) <= 8 for b in batches)
    seen = sorted(map(tuple, np.concatenate(batches).tolist()))
    assert seen == sorted(map(tuple, pairs.tolist()))
    # Blocks of 32 pairs, two at a time: the first 8 batches hold two whole blocks, picked
    # at random rather than the file's first two.
    small = list(block_shuffled_batches(mapped, 8, np.random.default_rng(0), pool=4, mix=2))
    first = np.concatenate(small[:8])
    assert len(first) == 64
    assert not np.isin(first[:, 0], pairs[:64, 0]).all()


def test_fingerprint_tracks_the_data() -> None:
    a = [np.arange(14, dtype=np.int64).reshape(2, 7)]
    b = [np.arange(14, dtype=np.int64).reshape(2, 7)]
    assert fingerprint(a) == fingerprint(b)
    b[0][1, 3] += 1
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint([a[0][:1], a[0][1:]]) != fingerprint(a)
