"""Training: a time-based split, AdamW on intent + next-item cross-entropy, a checkpoint.

The held-out part is the newest sessions (by start time), the way a deployed model meets
the future; its items and categories never enter the vocabulary.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from service.cli.progress import bar as progress_bar
from service.model.encoding import FIRST_ID, Vocabulary
from service.schema import StoredEvent
from training.data.adapters import AdapterError
from training.data.dataset import (
    Pairs,
    TrainingData,
    encode_sessions,
    epoch_batches,
    fingerprint,
    prefix_batch,
    prefix_pairs,
    prefix_targets,
)
from training.data.disk_dataset import DEFAULT_CACHE_ROOT, encode_file
from training.data.treatment import LoggedTreatment
from training.evaluation.metrics import intent_metrics
from training.evaluation.uplift import heldout_qini
from training.model import distributed
from training.model.checkpoint import CHECKPOINT_FORMAT
from training.model.intent_ranker import IntentRanker, ModelConfig
from training.model.loss import batch_loss

POPULAR_ITEMS = 50


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6
    seed: int = 0
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    holdout: float = 0.2
    # The architecture's defaults are the model's own, so the two cannot drift apart.
    max_len: int = ModelConfig.max_len
    top_k: int = ModelConfig.top_k
    d_model: int = ModelConfig.d_model
    n_layers: int = ModelConfig.n_layers
    n_heads: int = ModelConfig.n_heads
    dropout: float = ModelConfig.dropout
    progress: bool = True


@dataclass
class TrainResult:
    model: IntentRanker
    checkpoint: dict[str, Any]
    seconds: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_by_time(
    sessions: Sequence[Sequence[StoredEvent]], holdout: float
) -> tuple[list[Sequence[StoredEvent]], list[Sequence[StoredEvent]]]:
    """Oldest sessions to train on, the newest ``holdout`` share to evaluate on."""
    ordered = sorted(sessions, key=lambda events: events[0].ts or 0.0)
    cut = len(ordered) - round(len(ordered) * holdout)
    return ordered[:cut], ordered[cut:]


def train(
    sessions: Sequence[Sequence[StoredEvent]],
    config: TrainConfig,
    treatments: Mapping[str, LoggedTreatment] | None = None,
) -> TrainResult:
    """``treatments`` (by ``training.data.treatment.session_key``) trains the uplift heads; the
    sessions without one, or all when it is ``None``, train only intent and next item."""
    started = time.perf_counter()
    seed_everything(config.seed)
    sessions = [events for events in sessions if events]
    train_sessions, heldout_sessions = split_by_time(sessions, config.holdout)
    vocab = Vocabulary.build(event for events in train_sessions for event in events)
    train_data = encode_sessions(train_sessions, vocab, treatments)
    heldout = encode_sessions(heldout_sessions, vocab)
    return _train_encoded(
        train_data,
        heldout,
        vocab,
        config,
        started,
        lambda model: heldout_qini(model, vocab, heldout_sessions, treatments),
    )


def train_from_file(
    paths: Path | Sequence[Path],
    fmt: str,
    config: TrainConfig,
    mapping: Sequence[str] | None = None,
    cache_root: Path = DEFAULT_CACHE_ROOT,
    **read: int,
) -> TrainResult:
    """``train`` on a clickstream file without holding it in memory: one streaming pass
    encodes it to memory-mapped arrays under ``cache_root`` (reused while the file is
    unchanged), and batches are read from there. Same split, vocabulary and model as
    ``train(list(read_sessions(...)))``; raises ``AdapterError`` on a bad request.
    ``read``: the sessioniser's ``max_open`` and ``reorder`` (``encode_file``)."""
    started = time.perf_counter()
    seed_everything(config.seed)
    progress = config.progress and distributed.is_main()
    encoded = encode_file(paths, fmt, config.holdout, mapping, cache_root, progress, **read)
    n_train, n_heldout = len(encoded.train), len(encoded.heldout)
    if n_train + n_heldout < 2:
        got = n_train + n_heldout
        raise AdapterError(f"need at least 2 sessions to train and evaluate, got {got}")
    if progress:
        print(
            f"training on {n_train} sessions, {n_heldout} held out, from {encoded.folder}",
            file=sys.stderr,
        )
    return _train_encoded(encoded.train, encoded.heldout, encoded.vocab, config, started)


def _train_encoded(
    train_data: TrainingData,
    heldout: TrainingData,
    vocab: Vocabulary,
    config: TrainConfig,
    started: float,
    extra_metrics: Callable[[IntentRanker], dict[str, float]] | None = None,
) -> TrainResult:
    model = IntentRanker(_model_config(config, vocab))
    _fit(model, train_data, config)
    metrics = evaluate(model, train_data, heldout, config)
    if extra_metrics is not None:
        metrics |= extra_metrics(model)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "train_config": asdict(config),
        "state_dict": model.state_dict(),
        "items": vocab.items,
        "categories": vocab.categories,
        "popular_items": vocab.items[:POPULAR_ITEMS],
        "metrics": metrics,
        "data_fingerprint": fingerprint(train_data.encoded),
        "max_len": config.max_len,
        "top_k": model.config.top_k,
    }
    return TrainResult(model, checkpoint, time.perf_counter() - started)


def _model_config(config: TrainConfig, vocab: Vocabulary) -> ModelConfig:
    return ModelConfig(
        item_vocab_size=vocab.item_vocab_size,
        category_vocab_size=vocab.category_vocab_size,
        max_len=config.max_len,
        top_k=min(config.top_k, len(vocab.items)),
        d_model=config.d_model,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        dropout=config.dropout,
    )


def _fit(model: IntentRanker, data: TrainingData, config: TrainConfig) -> None:
    # Under torchrun each rank trains on its own shard; one process: all of them.
    pairs = distributed.shard(prefix_pairs(data.encoded))
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = -(-len(pairs) // config.batch_size)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=max(1, steps_per_epoch * config.epochs)
    )
    model.train()
    bar = progress_bar(
        total=steps_per_epoch * config.epochs,
        unit="batch",
        enabled=config.progress and distributed.is_main(),
    )
    net = distributed.wrap(model)  # the model itself unless under torchrun
    for epoch in range(config.epochs):
        for batch in epoch_batches(pairs, config.batch_size, rng):
            loss = batch_loss(net, data, batch, config.max_len)
            optimiser.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}", refresh=False)
            bar.update()
    bar.close()
    model.eval()


@torch.no_grad()
def predict(
    model: IntentRanker, data: TrainingData, pairs: Pairs, max_len: int, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """``(intent_probs, top_items)`` for the prefixes, in the order of ``pairs``."""
    model.eval()
    order = np.argsort(pairs[:, 1], kind="stable")
    probs = np.zeros((len(pairs), 4), dtype=np.float32)
    items = np.zeros((len(pairs), model.config.top_k), dtype=np.int64)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        events = torch.from_numpy(prefix_batch(data.encoded, pairs[rows], max_len))
        intent_probs, _, top_items, _ = model(events)
        probs[rows], items[rows] = intent_probs.numpy(), top_items.numpy()
    return probs, items


def evaluate(
    model: IntentRanker, train_data: TrainingData, heldout: TrainingData, config: TrainConfig
) -> dict[str, float]:
    pairs = prefix_pairs(heldout.encoded)
    if not len(pairs):
        return {}
    probs, top_items = predict(model, heldout, pairs, config.max_len)
    intents, next_items = prefix_targets(heldout, pairs)
    train_intents = np.concatenate(list(train_data.intents))
    popular = np.arange(FIRST_ID, FIRST_ID + model.config.top_k, dtype=np.int64)
    return intent_metrics(probs, intents, top_items, next_items, train_intents, popular)
