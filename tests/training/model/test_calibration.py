"""Calibration: training starts from the count regression, and temperatures undo overconfidence."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from service.model.encoding import Vocabulary
from training.data.dataset import encode_sessions
from training.data.labels import IGNORE
from training.data.simulator import simulate
from training.data.windows import lengths_of, session_windows, window_batch
from training.model.calibration import fit_temperatures, start_from_counts
from training.model.intent_ranker import IntentRanker, ModelConfig


def setup() -> tuple[IntentRanker, object, np.ndarray]:
    sessions = [s.events for s in simulate(150, seed=6)]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    data = encode_sessions(sessions, vocab)
    torch.manual_seed(0)
    model = IntentRanker(
        ModelConfig(vocab.item_vocab_size, vocab.category_vocab_size, d_model=16, n_heads=2)
    ).eval()
    return model, data, session_windows(lengths_of(data), 50)


def intent_nll(model: IntentRanker, data: object, windows: np.ndarray) -> float:
    batch = window_batch(data, windows, 50)  # type: ignore[arg-type]
    with torch.no_grad():
        events, targets = torch.from_numpy(batch.events), torch.from_numpy(batch.next_items)
        out = model.all_positions(events, targets)
    labels = torch.from_numpy(batch.intents)
    keep = labels != IGNORE
    return float(nn.functional.cross_entropy(out["intent"][keep], labels[keep]))


def test_training_starts_where_the_count_regression_ends() -> None:
    model, data, windows = setup()
    before = intent_nll(model, data, windows)
    start_from_counts(model, data, windows, np.random.default_rng(0))  # type: ignore[arg-type]
    assert (model.intent_head.weight == 0).all()
    after = intent_nll(model, data, windows)
    # Four classes guessed at random cost log 4 = 1.39; the counts know much better.
    assert after < min(before, 1.0)


def test_temperature_undoes_overconfidence_and_keeps_the_ranking() -> None:
    model, data, windows = setup()
    start_from_counts(model, data, windows, np.random.default_rng(0))  # type: ignore[arg-type]
    with torch.no_grad():
        model.intent_wide.weight.mul_(4.0)
        model.intent_wide.bias.mul_(4.0)
    overconfident = intent_nll(model, data, windows)
    intent_t, outcome_t = fit_temperatures(model, data, windows)  # type: ignore[arg-type]
    assert intent_t > 2.0
    assert outcome_t == 1.0  # no logged treatment to fit on
    assert float(model.temperatures[0]) == intent_t
    assert intent_nll(model, data, windows) < overconfident - 0.1
