"""Calibration of the intent and outcome heads on the validation split, by likelihood, into
the graph's buffers, so that the service serves calibrated probabilities as is.

The outcome heads get temperature scaling (Guo et al. 2017): one number that divides the
logits and keeps every ranking. The intent head gets vector scaling, a temperature and a
bias per class: the share of sessions that buy moves with the season and the hour, and a
bias follows it where a temperature alone cannot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

from service.model.encoding import INTENTS
from training.data.dataset import TrainingData
from training.data.labels import IGNORE
from training.data.windows import Windows, window_batch
from training.model.intent_ranker import IntentRanker
from training.model.layers import wide_features

# Fewer logged offers than this leave the outcome heads' temperature at 1.
MIN_OUTCOMES = 50
START_ROWS = 200_000
LOG_LIMIT = 3.0  # temperatures between e^-3 and e^3


@torch.no_grad()
def fit_temperatures(
    model: IntentRanker, data: TrainingData, windows: Windows, batch_size: int = 256
) -> tuple[float, float]:
    """``(intent, outcome)`` temperatures, also set in ``model``; 1 without validation data."""
    model.temperatures.fill_(1.0)
    model.intent_bias.zero_()
    intent_logits, intents, outcome_logits, bought = [], [], [], []
    for start in range(0, len(windows), batch_size):
        batch = window_batch(data, windows[start : start + batch_size], model.config.max_len)
        out = model.all_positions(
            torch.from_numpy(batch.events), torch.from_numpy(batch.next_items)
        )
        labels = torch.from_numpy(batch.intents)
        keep = labels != IGNORE
        intent_logits.append(out["intent"][keep])
        intents.append(labels[keep])
        offered = torch.from_numpy(batch.offered)
        arm = torch.from_numpy(batch.arm).unsqueeze(-1)
        outcome_logits.append(out["outcome"].gather(-1, arm).squeeze(-1)[offered])
        bought.append(torch.from_numpy(batch.bought)[offered])
    intent_t, bias = _intent_scaling(intent_logits, intents)
    outcome_t = _outcome_temperature(outcome_logits, bought)
    model.temperatures.copy_(torch.tensor([intent_t, outcome_t]))
    model.intent_bias.copy_(bias)
    return intent_t, outcome_t


def _intent_scaling(logits: list[Tensor], labels: list[Tensor]) -> tuple[float, Tensor]:
    """``(temperature, bias per class)``."""
    if not logits or sum(len(t) for t in labels) == 0:
        return 1.0, torch.zeros(len(INTENTS))
    x, y = torch.cat(logits), torch.cat(labels)
    bias = torch.zeros(len(INTENTS), requires_grad=True)
    t = _best(lambda log_t: nn.functional.cross_entropy(x / torch.exp(log_t) + bias, y), [bias])
    return t, bias.detach()


def _outcome_temperature(logits: list[Tensor], bought: list[Tensor]) -> float:
    if sum(len(t) for t in bought) < MIN_OUTCOMES:
        return 1.0
    x, y = torch.cat(logits), torch.cat(bought)
    return _best(
        lambda log_t: nn.functional.binary_cross_entropy_with_logits(x / torch.exp(log_t), y)
    )


def _best(nll: Callable[[Tensor], Tensor], others: list[Tensor] | None = None) -> float:
    """The temperature of least ``nll(log temperature)``, by L-BFGS from 1, together with
    ``others`` (fitted in place)."""
    log_t = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t, *(others or [])], lr=0.5, max_iter=100)

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = nll(log_t)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.enable_grad():
        optimiser.step(closure)  # type: ignore[no-untyped-call]
    return float(torch.exp(log_t.detach().clamp(-LOG_LIMIT, LOG_LIMIT)))


@torch.no_grad()
def start_from_counts(
    model: IntentRanker, data: TrainingData, windows: Windows, rng: np.random.Generator
) -> None:
    """Set the intent head's wide part to a multinomial logistic regression (scikit-learn's)
    on the count features of up to ``START_ROWS`` training positions, its sequence part to
    zero: training starts where the count baseline ends and learns what the sequence adds.
    A small clickstream gives too few steps for gradient descent to find that optimum."""
    rows = windows[rng.permutation(len(windows))[: max(1, START_ROWS // model.config.max_len)]]
    features, labels = [], []
    for start in range(0, len(rows), 256):
        batch = window_batch(data, rows[start : start + 256], model.config.max_len)
        wide = wide_features(torch.from_numpy(batch.events))
        keep = batch.intents != IGNORE
        features.append(wide.numpy()[keep])
        labels.append(batch.intents[keep])
    x, y = np.concatenate(features), np.concatenate(labels)
    if len(np.unique(y)) < 2:
        return
    scaler = StandardScaler().fit(x)
    regression = LogisticRegression(C=1.0, max_iter=300).fit(scaler.transform(x), y)
    weight = np.zeros((len(INTENTS), x.shape[1]))
    bias = np.full(len(INTENTS), -10.0)  # a class never seen in training stays unlikely
    classes = regression.classes_.astype(np.int64)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    coef = (
        regression.coef_
        if len(classes) > 2
        else np.vstack([-regression.coef_, regression.coef_]) / 2
    )
    intercept = (
        regression.intercept_
        if len(classes) > 2
        else np.array([-regression.intercept_[0], regression.intercept_[0]]) / 2
    )
    weight[classes] = coef / scale
    bias[classes] = intercept - (coef * scaler.mean_ / scale).sum(axis=1)
    model.intent_wide.weight.copy_(torch.from_numpy(weight).float())
    model.intent_wide.bias.copy_(torch.from_numpy(bias).float())
    model.intent_head.weight.zero_()
    model.intent_head.bias.zero_()
