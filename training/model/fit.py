"""The training loop: every position a target, early stopping on a time-ordered validation
split, the best checkpoint kept, then temperatures fitted on that split and the shipped
co-visitation table computed from all training sessions.

The validation split is the newest ``VALIDATION`` share of the training sessions (they come
ordered by start time), the way the held-out test split is the newest of all.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from service.cli.progress import bar as progress_bar
from service.model.encoding import FIRST_ID
from training.data.dataset import TrainingData
from training.data.windows import Windows, lengths_of, session_windows, window_batch, window_batches
from training.model import calibration, covisit, distributed
from training.model.intent_ranker import IntentRanker
from training.model.loss import FULL_SOFTMAX_ITEMS, Sampler, batch_loss

VALIDATION = 0.1
MIN_VALIDATION_SESSIONS = 20
PATIENCE = 2
WARMUP_STEPS = 50
ITEM_DROPOUT = 0.1
# The fold index of the co-visitation table built from every fitting session (validation's).
ALL_FOLDS = covisit.FOLDS


@dataclass(frozen=True)
class FitSettings:
    max_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    progress: bool


@dataclass
class FitReport:
    epochs_run: int
    best_epoch: int
    validation_loss: float
    events_per_second: float
    temperatures: tuple[float, float]


def split_validation(n_sessions: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(fit, validation)``; no validation when too few sessions to stop on."""
    n_val = round(n_sessions * VALIDATION)
    if n_val < MIN_VALIDATION_SESSIONS or n_sessions - n_val < 2:
        return np.arange(n_sessions), np.zeros(0, dtype=np.int64)
    return np.arange(n_sessions - n_val), np.arange(n_sessions - n_val, n_sessions)


def new_item_share(data: TrainingData) -> float:
    """Of the items the validation sessions name, the share that are a first encounter with
    an item no fitting session named: how often shoppers move on to an item the model
    cannot know and have not seen, which serving grants to catalogue items newer than the
    model. A return to such an item within the session is not counted: it is the visitor's
    own, and ranking it through its category would not be how it is found. (The encoding
    cannot tell an item too rare for the vocabulary from no item, so those are left out.)"""
    fit_ids, val_ids = split_validation(len(data.encoded))
    if not len(val_ids):
        return 0.0
    seen = np.zeros(0, dtype=np.int64)
    if len(fit_ids):
        seen = np.unique(np.concatenate([np.asarray(data.encoded[s])[:, 0] for s in fit_ids]))
    named = new = 0
    for s in val_ids:
        items = np.asarray(data.encoded[s])[:, 0]
        items = items[items >= FIRST_ID]
        _, first = np.unique(items, return_index=True)
        firsts = np.zeros(len(items), dtype=bool)
        firsts[first] = True
        named += len(items)
        new += int((firsts & ~np.isin(items, seen)).sum())
    return new / named if named else 0.0


def _parameter_groups(model: IntentRanker, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: biases, norms and the pointer's bias per distance are
    offsets, which decay would pull to zero (and with them the recency prior the pointer
    starts from, ``intent_ranker.Pointer``)."""
    decayed: list[nn.Parameter] = []
    kept: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        offset = parameter.ndim < 2 or name.endswith("by_distance")
        (kept if offset else decayed).append(parameter)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]


def fit(model: IntentRanker, data: TrainingData, settings: FitSettings) -> FitReport:
    lengths = lengths_of(data)
    fit_ids, val_ids = split_validation(len(lengths))
    max_len = model.config.max_len
    windows = session_windows(lengths, max_len)
    fitting = windows[np.isin(windows[:, 0], fit_ids)]
    validating = windows[np.isin(windows[:, 0], val_ids)]
    lookup = _lookup(data, fit_ids, model)
    n_items = model.config.item_vocab_size
    counts = _item_counts(data, fit_ids, n_items)
    generator = torch.Generator().manual_seed(settings.seed)
    sampler = Sampler(counts, generator) if n_items > FULL_SOFTMAX_ITEMS else None
    rng = np.random.default_rng(settings.seed)
    calibration.start_from_counts(model, data, fitting, rng)
    shard = distributed.shard(fitting)
    steps = -(-len(shard) // settings.batch_size)
    optimiser = torch.optim.AdamW(_parameter_groups(model, settings.weight_decay), lr=settings.lr)
    warmup = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / WARMUP_STEPS)
    )
    net = distributed.wrap(model)
    bar = progress_bar(
        total=steps * settings.max_epochs,
        unit="batch",
        enabled=settings.progress and distributed.is_main(),
    )
    best, best_state, best_epoch, epochs_run, clock = math.inf, None, 0, 0, _Clock()
    for epoch in range(settings.max_epochs):
        model.train()
        with clock:
            for batch_windows in window_batches(shard, settings.batch_size, rng):
                batch = window_batch(data, batch_windows, max_len, ITEM_DROPOUT, rng)
                fold = torch.from_numpy(covisit.fold_of(batch.sessions))
                loss = batch_loss(net, batch, lookup, fold, sampler)["total"]
                optimiser.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
                warmup.step()
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}", refresh=False)
                bar.update()
        epochs_run = epoch + 1
        if not len(validating):
            continue
        loss_now = validation_loss(model, data, validating, lookup, sampler)
        bar.set_postfix(epoch=epoch + 1, validation=f"{loss_now:.4f}", refresh=True)
        if loss_now < best - 1e-4:
            best, best_state, best_epoch = loss_now, copy.deepcopy(model.state_dict()), epochs_run
        elif epochs_run - best_epoch >= PATIENCE:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    temperatures = calibration.fit_temperatures(model, data, validating)
    _ship_covisit(model, data)
    trained_events = int(lengths[fit_ids].sum()) * epochs_run
    return FitReport(
        epochs_run,
        best_epoch or epochs_run,
        best,
        trained_events / max(clock.seconds, 1e-9),
        temperatures,
    )


class _Clock:
    """Seconds spent inside ``with`` blocks: training, without validation."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start


@torch.no_grad()
def validation_loss(
    model: IntentRanker,
    data: TrainingData,
    windows: Windows,
    lookup: covisit.CovisitLookup,
    sampler: Sampler | None,
    batch_size: int = 256,
) -> float:
    """Mean intent + next-item loss over the validation windows, the model in eval mode."""
    model.eval()
    total, weight = 0.0, 0
    for batch_windows in _in_order(windows, batch_size):
        batch = window_batch(data, batch_windows, model.config.max_len)
        fold = torch.full((len(batch_windows),), ALL_FOLDS)
        losses = batch_loss(model, batch, lookup, fold, sampler)
        total += float(losses["intent"] + losses["item"]) * len(batch_windows)
        weight += len(batch_windows)
    return total / max(1, weight)


def _in_order(windows: Windows, batch_size: int) -> Iterator[Windows]:
    order = windows[np.argsort(windows[:, 1], kind="stable")]
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _lookup(data: TrainingData, fit_ids: np.ndarray, model: IntentRanker) -> covisit.CovisitLookup:
    """Per fold, the table of the other folds' sessions; last, the table of all of them."""
    n_items, width = model.config.item_vocab_size, max(1, model.config.neighbours)
    folds = covisit.fold_of(fit_ids)
    tables = [
        covisit.table([data.encoded[i] for i in fit_ids[folds != f]], n_items, width)
        for f in range(covisit.FOLDS)
    ]
    tables.append(covisit.table([data.encoded[i] for i in fit_ids], n_items, width))
    if not model.config.neighbours:
        tables = [_empty(n_items, width) for _ in tables]
    return covisit.CovisitLookup(tables, n_items)


def _empty(n_items: int, width: int) -> covisit.Table:
    return covisit.Table(
        np.zeros((n_items, width), np.int64), np.zeros((n_items, width), np.float32)
    )


def _ship_covisit(model: IntentRanker, data: TrainingData) -> None:
    """The served table: from every training session, validation's included."""
    if not model.config.neighbours:
        return
    sessions = [data.encoded[i] for i in range(len(lengths_of(data)))]
    shipped = covisit.table(sessions, model.config.item_vocab_size, model.config.neighbours)
    model.covisit_items.copy_(torch.from_numpy(shipped.items))
    model.covisit_weights.copy_(torch.from_numpy(shipped.weights))


def _item_counts(data: TrainingData, ids: np.ndarray, n_items: int) -> np.ndarray:
    items = np.concatenate([data.encoded[i][:, 0] for i in ids] + [np.zeros(0, np.int64)])
    return np.bincount(items, minlength=n_items).astype(np.float64)


def describe(report: FitReport) -> dict[str, Any]:
    return {
        "epochs_run": float(report.epochs_run),
        "best_epoch": float(report.best_epoch),
        "training_events_per_second": report.events_per_second,
        "intent_temperature": report.temperatures[0],
        "outcome_temperature": report.temperatures[1],
    }
