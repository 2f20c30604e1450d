"""The model: shapes, masking, padding that changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.model.encoding import FEATURES, INTENTS, Vocabulary, encode_events, pad_left
from training.data.simulator import simulate
from training.model.intent_ranker import IntentRanker, ModelConfig


def tiny_model(seed: int = 0, top_k: int = 20) -> IntentRanker:
    torch.manual_seed(seed)
    config = ModelConfig(item_vocab_size=60, category_vocab_size=10, max_len=16, top_k=top_k)
    return IntentRanker(config).eval()


def encoded_prefixes() -> tuple[list[np.ndarray], Vocabulary]:
    sessions = [s.events for s in simulate(30, seed=9) if len(s.events) >= 6]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    vocab = Vocabulary(vocab.items[:58], vocab.categories[:8])
    lengths = [1, 2, 3, 6, 1, 4]
    return [
        encode_events(events[:n], vocab) for events, n in zip(sessions, lengths, strict=False)
    ], vocab


def test_forward_shapes_dtypes_and_ranges() -> None:
    model = tiny_model()
    prefixes, _ = encoded_prefixes()
    batch = torch.from_numpy(pad_left(prefixes, 16))
    with torch.no_grad():
        probs, scores, items, uplift, categories = model(batch)
    assert probs.shape == (len(prefixes), len(INTENTS))
    assert uplift.shape == (len(prefixes),)
    assert uplift.dtype == torch.float32
    assert (uplift.abs() <= 1).all()
    assert scores.shape == items.shape == (len(prefixes), 20)
    assert probs.dtype == scores.dtype == torch.float32
    assert items.dtype == torch.int64
    assert torch.allclose(probs.sum(dim=1), torch.ones(len(prefixes)))
    assert (items >= 2).all(), "padding (0) and unknown (1) are never recommended"
    assert (items < 60).all()
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    assert categories.shape == (len(prefixes), model.config.category_vocab_size)
    assert torch.allclose(categories.sum(dim=1), torch.ones(len(prefixes)))
    assert (categories[:, :2] == 0).all(), "padding and unknown are no category"
    state, _ = model.encode(batch)
    item_logits = model.generated_logits(state[:, -1])
    assert item_logits.shape == (len(prefixes), 60)
    assert torch.isneginf(item_logits[:, :2]).all()


def test_heavy_padding_gives_no_nan_and_changes_nothing() -> None:
    model = tiny_model()
    prefixes, _ = encoded_prefixes()
    short = prefixes[0][:1]
    alone = torch.from_numpy(pad_left([short], 16))
    # 63 padding positions in front of the one real event, next to a longer row.
    padded = np.zeros((2, 64, len(FEATURES)), dtype=np.int64)
    padded[0, -1:] = short
    padded[1, -len(prefixes[3]) :] = prefixes[3]
    with torch.no_grad():
        out_alone = model(alone)
        out_padded = model(torch.from_numpy(padded))
        hidden, _ = model.encode(torch.from_numpy(padded))
    assert not torch.isnan(hidden).any()
    for a, b in zip(out_alone[:2] + out_alone[3:], out_padded[:2] + out_padded[3:], strict=True):
        assert not torch.isnan(b).any()
        torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(out_alone[2][0], out_padded[2][0])


def test_earlier_events_matter() -> None:
    model = tiny_model()
    prefixes, _ = encoded_prefixes()
    longer = prefixes[3]
    with torch.no_grad():
        full = model(torch.from_numpy(pad_left([longer], 16)))[0]
        last_only = model(torch.from_numpy(pad_left([longer[-1:]], 16)))[0]
    assert not torch.allclose(full, last_only, atol=1e-4)


def test_top_k_cannot_exceed_real_items() -> None:
    with pytest.raises(ValueError, match="top_k"):
        tiny_model(top_k=59)


def test_every_position_reads_as_serving_reads_its_prefix() -> None:
    """Training reads a window's every position at once; serving reads one prefix. The
    distance bias makes the two the same model, which is what lets every position train."""
    model = tiny_model()
    prefixes, _ = encoded_prefixes()
    session = prefixes[3]
    targets = torch.full((1, len(session)), -100)
    with torch.no_grad():
        out = model.all_positions(torch.from_numpy(pad_left([session], 16)), targets)
        for k in range(1, len(session) + 1):
            served = model(torch.from_numpy(pad_left([session[:k]], 16)))[0][0]
            trained = torch.softmax(out["intent"][0, k - 1], dim=-1)
            torch.testing.assert_close(trained, served, atol=1e-5, rtol=1e-5)


def test_copy_source_puts_the_history_first() -> None:
    """With the gate on the copy source, the visitor's own items lead the top items."""
    model = tiny_model()
    with torch.no_grad():
        model.gate.weight.zero_()
        model.gate.bias.copy_(torch.tensor([0.0, 8.0, -8.0]))
    prefixes, _ = encoded_prefixes()
    session = prefixes[3]
    with torch.no_grad():
        _, scores, items, *_ = model(torch.from_numpy(pad_left([session], 16)))
    seen = {int(i) for i in session[:, 0] if i >= 2}
    assert seen
    assert {int(i) for i in items[0, : len(seen)]} == seen
    assert scores[0, : len(seen)].sum() > 0.9


def test_covisited_items_follow_the_history() -> None:
    model = tiny_model()
    prefixes, _ = encoded_prefixes()
    prefix = next(p for p in prefixes if p[-1, 0] >= 2)
    last = int(prefix[-1, 0])
    with torch.no_grad():
        model.gate.weight.zero_()
        model.gate.bias.copy_(torch.tensor([-8.0, -8.0, 8.0]))
        model.covisit_items.zero_()
        model.covisit_weights.zero_()
        model.covisit_items[last, 0] = 42
        model.covisit_weights[last, 0] = 0.9
        _, scores, items, *_ = model(torch.from_numpy(pad_left([prefix], 16)))
    assert int(items[0, 0]) == 42
    assert float(scores[0, 0]) > 0.9


def test_data_without_categories_trains_to_finite_weights() -> None:
    """DIGINETICA names no category: the category head has no class to learn, and its
    softmax must not turn every weight into NaN through the gradient's norm clipping."""
    import msgspec

    from training.data.simulator import simulate
    from training.model.train import TrainConfig, train

    sessions = [
        [msgspec.structs.replace(e, category=None) for e in s.events] for s in simulate(80, seed=9)
    ]
    result = train(sessions, TrainConfig(epochs=2, progress=False))
    assert result.model.config.category_vocab_size == 2
    for name, value in result.model.state_dict().items():
        assert torch.isfinite(value.float()).all(), name
    assert result.checkpoint["metrics"]["next_item_recall_at_k"] > 0.0
