"""The training loss: intent and next-item cross-entropy, plus the uplift heads' loss where a
session has a logged incentive treatment (``training.data.treatment``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from training.data.dataset import Pairs, TrainingData, prefix_batch, prefix_targets
from training.data.labels import IGNORE

# Columns of the outcome heads' logits: P(buy | no incentive), P(buy | incentive).
CONTROL, TREATED = 0, 1


def batch_loss(model: Any, data: TrainingData, batch: Pairs, max_len: int) -> Tensor:
    """``model``: an ``IntentRanker``, or its DistributedDataParallel view under torchrun."""
    events = torch.from_numpy(prefix_batch(data.encoded, batch, max_len))
    intents, items = (torch.from_numpy(t) for t in prefix_targets(data, batch))
    intent_logits, item_logits, outcome_logits = model.heads(events)
    intent_loss = nn.functional.cross_entropy(intent_logits, intents)
    # A sum over the valid targets: a batch without any next item must not give NaN.
    item_loss = nn.functional.cross_entropy(
        item_logits, items, ignore_index=IGNORE, reduction="sum"
    ) / max(1, int((items != IGNORE).sum()))
    loss: Tensor = intent_loss + item_loss + uplift_loss(outcome_logits, data, batch)
    return loss


def uplift_targets(
    data: TrainingData, pairs: Pairs
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """``(arm, purchased, mask)`` per prefix.

    Only the offer prefix counts (the first ``offer_at`` events: what the shopper had done
    when the holdout showed or withheld the incentive). Later prefixes may already hold the
    incentive's effect, which a T-learner must not learn from; earlier ones would teach the
    uplift of an offer shown at some later, unknown moment, and (measured) blur shoppers who
    decide early, such as leavers, with the start of everybody else's session.
    """
    arm = np.zeros(len(pairs), dtype=np.int64)
    bought = np.zeros(len(pairs), dtype=np.float32)
    mask = np.zeros(len(pairs), dtype=np.bool_)
    logged = data.treatments
    for row, (s, k) in enumerate(pairs):
        t = logged[s] if s < len(logged) else None
        if t is not None and k == t.offer_at:
            arm[row], bought[row], mask[row] = int(t.treated), float(t.purchased), True
    return arm, bought, mask


def uplift_loss(outcome_logits: Tensor, data: TrainingData, pairs: Pairs) -> Tensor:
    """Binary cross-entropy of the head matching each prefix's logged arm, mean over masked.

    A batch without logged treatment still returns a zero that depends on the heads, so that
    every parameter gets a gradient each step (DistributedDataParallel expects that).
    """
    arm, bought, mask = (torch.from_numpy(a) for a in uplift_targets(data, pairs))
    chosen = outcome_logits.gather(1, arm.unsqueeze(1)).squeeze(1)
    losses = nn.functional.binary_cross_entropy_with_logits(chosen, bought, reduction="none")
    return (losses * mask).sum() / max(1, int(mask.sum()))
