"""The training loss, at every position of a window: intent cross-entropy, the next item's
negative log-likelihood under the mixture of sources (``IntentRanker.item_probs``), the
uplift heads' loss at the offer prefix of a logged incentive treatment, and the next item's
category cross-entropy (its head reads a detached state, so it moves nothing else).

The next item's generated probability comes from a full softmax up to
``FULL_SOFTMAX_ITEMS``; above that from a sampled softmax over the batch's own targets and
``UNIFORM_NEGATIVES`` uniform items, each logit less the log of its chance to be among the
candidates (the log-Q correction, Yi et al. 2019), so that frequent items are not punished
for being sampled often.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from service.model.encoding import FIRST_ID
from training.data.labels import IGNORE
from training.data.windows import WindowBatch
from training.model.covisit import CovisitLookup
from training.model.intent_ranker import COPY, COVISIT

FULL_SOFTMAX_ITEMS = 20_000
UNIFORM_NEGATIVES = 2048
# Columns of the outcome heads' logits: P(buy | no incentive), P(buy | incentive).
CONTROL, TREATED = 0, 1


class Sampler:
    """Candidates of a sampled softmax, with their log inclusion chance."""

    def __init__(self, item_counts: np.ndarray, generator: torch.Generator) -> None:
        counts = torch.as_tensor(item_counts, dtype=torch.float64)
        self.frequency = counts / counts.sum().clamp(min=1.0)
        self.n_items = len(item_counts)
        self.generator = generator

    def candidates(self, targets: Tensor) -> Tensor:
        """``[2, S]``: sorted candidate ids (as floats) and their log inclusion chance."""
        real = targets[targets >= FIRST_ID]
        uniform = torch.randint(
            FIRST_ID, self.n_items, (UNIFORM_NEGATIVES,), generator=self.generator
        )
        ids = torch.unique(torch.cat([real, uniform]))
        chance = len(real) * self.frequency[ids] + UNIFORM_NEGATIVES / self.n_items
        return torch.stack([ids.to(torch.float64), torch.log(chance.clamp(max=1.0))]).float()


def batch_loss(
    model: Any,
    batch: WindowBatch,
    covisit: CovisitLookup,
    fold: Tensor,
    sampler: Sampler | None = None,
) -> dict[str, Tensor]:
    """``{"intent", "item", "uplift", "category", "total"}`` means over their targets;
    ``fold`` picks each row's co-visitation table. ``model``: an ``IntentRanker`` or its
    DDP view."""
    events = torch.from_numpy(batch.events)
    targets = torch.from_numpy(batch.next_items)
    candidates = None if sampler is None else sampler.candidates(targets)
    items = torch.from_numpy(batch.items)
    out = model.all_positions(events, targets, candidates, items)
    intents = torch.from_numpy(batch.intents)
    intent_loss = _mean_ce(out["intent"], intents)
    item_loss = _item_nll(out, items, targets, covisit, fold)
    arm = torch.from_numpy(batch.arm)
    chosen = out["outcome"].gather(-1, arm.unsqueeze(-1)).squeeze(-1)
    bought, offered = torch.from_numpy(batch.bought), torch.from_numpy(batch.offered)
    losses = nn.functional.binary_cross_entropy_with_logits(chosen, bought, reduction="none")
    # A batch without a logged treatment still depends on the heads, so that every parameter
    # gets a gradient each step (DistributedDataParallel expects that).
    uplift_loss = (losses * offered).sum() / max(1, int(offered.sum()))
    category_loss = _mean_ce(out["category"], torch.from_numpy(batch.next_categories))
    total = intent_loss + item_loss + uplift_loss + category_loss
    return {
        "intent": intent_loss,
        "item": item_loss,
        "uplift": uplift_loss,
        "category": category_loss,
        "total": total,
    }


def _mean_ce(logits: Tensor, labels: Tensor) -> Tensor:
    flat = labels.flatten()
    loss = nn.functional.cross_entropy(
        logits.flatten(0, 1), flat, ignore_index=IGNORE, reduction="sum"
    )
    return loss / max(1, int((flat != IGNORE).sum()))


def _item_nll(
    out: dict[str, Tensor], items: Tensor, targets: Tensor, covisit: CovisitLookup, fold: Tensor
) -> Tensor:
    """Negative log-likelihood of each next item under the gated mixture of sources."""
    valid = targets >= FIRST_ID
    if not valid.any():
        return out["gates"].sum() * 0.0
    pointing = out["pointing"]  # [B, 2, L, L]
    copy_hits = (items.unsqueeze(1) == targets.unsqueeze(2)).to(pointing.dtype)
    p_copy = (pointing[:, COPY] * copy_hits).sum(-1)
    links = covisit.weights(fold, items, targets)
    p_covisit = (pointing[:, COVISIT] * links).sum(-1)
    masses = torch.stack(
        [
            torch.ones_like(p_copy),
            pointing[:, COPY].sum(-1),
            (pointing[:, COVISIT] * covisit.mass(fold, items).unsqueeze(1)).sum(-1),
        ],
        dim=-1,
    )
    log_gates = out["gates"]
    log_gen = out["log_generated"]
    tiny = 1e-12
    parts = torch.stack(
        [
            log_gates[..., 0][valid] + log_gen,
            log_gates[..., 1][valid] + torch.log(p_copy[valid] + tiny),
            log_gates[..., 2][valid] + torch.log(p_covisit[valid] + tiny),
        ],
        dim=-1,
    )
    normaliser = torch.logsumexp(log_gates[valid] + torch.log(masses[valid] + tiny), dim=-1)
    return (normaliser - torch.logsumexp(parts, dim=-1)).mean()
