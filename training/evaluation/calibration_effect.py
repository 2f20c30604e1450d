"""What the calibration fitted on the validation split (``training.model.calibration``) does
to P(buy) on the test prefixes: ECE with the graph's temperatures and biases, and without."""

from __future__ import annotations

import numpy as np
import torch

from training.data.dataset import EncodedSessions, Pairs
from training.data.labels import BUY
from training.evaluation import metrics as em
from training.evaluation.comparison import Truth
from training.model.intent_ranker import IntentRanker
from training.model.train import predict


def ece_before_after(
    model: IntentRanker,
    data: EncodedSessions,
    pairs: Pairs,
    truth: Truth,
    max_len: int,
    served: np.ndarray,
) -> tuple[float, float]:
    """``(uncalibrated, calibrated)`` 10-bin ECE of P(buy) over the labelled test prefixes;
    ``served`` is the model's own P(buy) for them, as scored already: only the uncalibrated
    one is computed here."""
    known = np.ones(len(pairs), dtype=bool) if truth.labelled is None else truth.labelled
    if not truth.buy[known].any():
        return float("nan"), float("nan")
    fitted = model.temperatures.clone(), model.intent_bias.clone()
    try:
        with torch.no_grad():
            model.temperatures.fill_(1.0)
            model.intent_bias.zero_()
        before = predict(model, data, pairs, max_len)[0][:, BUY]
    finally:
        with torch.no_grad():
            model.temperatures.copy_(fitted[0])
            model.intent_bias.copy_(fitted[1])
    y = truth.buy[known]
    return (
        em.expected_calibration_error(before[known], y),
        em.expected_calibration_error(served[known], y),
    )
