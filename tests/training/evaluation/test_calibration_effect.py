"""The report's ECE of P(buy) before and after the calibration fitted in training."""

from __future__ import annotations

import numpy as np
import torch

from service.model.encoding import Vocabulary
from tests._support.torch_threads import one_torch_thread
from training.data.dataset import encode_sessions, prefix_pairs, prefix_targets
from training.data.labels import BUY
from training.data.simulator import simulate
from training.evaluation import metrics as em
from training.evaluation.calibration_effect import ece_before_after
from training.evaluation.comparison import Truth
from training.model.train import TrainConfig, predict, train


def test_ece_is_measured_with_and_without_the_graphs_calibration_which_stays() -> None:
    with one_torch_thread():
        result = train([s.events for s in simulate(200, seed=3)], TrainConfig(epochs=1))
    model, saved = result.model, result.checkpoint
    vocab = Vocabulary(saved["items"], saved["categories"])
    with torch.no_grad():
        model.temperatures[0] = 3.0  # a calibration to undo: far from none
    fitted = model.temperatures.clone(), model.intent_bias.clone()
    data = encode_sessions([s.events for s in simulate(80, seed=4)], vocab)
    pairs = prefix_pairs(data.encoded)
    intents, _ = prefix_targets(data, pairs)
    buy = intents == BUY
    truth = Truth(buy, np.zeros(len(buy), bool), intents, pairs[:, 1], pairs[:, 0])
    served = predict(model, data, pairs, 50)[0][:, BUY]
    before, after = ece_before_after(model, data, pairs, truth, 50, served)
    assert after == em.expected_calibration_error(served, buy)
    assert before != after
    assert torch.equal(model.temperatures, fitted[0])
    assert torch.equal(model.intent_bias, fitted[1])
