"""Training: a time-based split, the model sized by a rule from the data, the loop of
``training.model.fit``, a checkpoint.

The held-out part is the newest sessions (by start time), the way a deployed model meets
the future; its items and categories never enter the vocabulary.

One set of defaults serves every dataset; what must follow the data's size follows it by
``sizes_for``: a small clickstream gets a narrower, more regularised model (with little
data a wide one memorises), and a large vocabulary fewer co-visitation neighbours per item.
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
import numpy.typing as npt
import torch

from service.model.encoding import FIRST_ID, Vocabulary
from service.schema import StoredEvent
from training.data.adapters import AdapterError
from training.data.dataset import (
    Pairs,
    TrainingData,
    encode_sessions,
    fingerprint,
    prefix_batch,
    prefix_pairs,
    prefix_targets,
)
from training.data.disk_dataset import DEFAULT_CACHE_ROOT, encode_file
from training.data.events_jsonl import SESSION_GAP_S
from training.data.treatment import LoggedTreatment
from training.data.windows import lengths_of
from training.evaluation.metrics import intent_metrics
from training.evaluation.uplift import heldout_qini
from training.model import distributed, fit
from training.model.checkpoint import CHECKPOINT_FORMAT
from training.model.intent_ranker import IntentRanker, ModelConfig

POPULAR_ITEMS = 50
# Export tunes and checks an item index on these (training/model/retrieval.py): prefixes of
# held-out sessions, as shoppers' histories are.
HELD_OUT_HISTORIES = 1024


SMALL_DATA_EVENTS = 100_000
LARGE_VOCABULARY = 200_000


@dataclass(frozen=True)
class TrainConfig:
    # The most passes over the data: training stops earlier when the validation loss stops
    # improving (training.model.fit).
    epochs: int = 30
    seed: int = 0
    batch_size: int = 64  # windows of up to max_len events
    lr: float = 2e-3
    weight_decay: float = 0.05
    holdout: float = 0.2
    # The history the model reads (serving keeps at least this many events per visitor).
    max_len: int = ModelConfig.max_len
    top_k: int = ModelConfig.top_k
    # None: chosen by ``sizes_for`` from the training data.
    d_model: int | None = None
    n_layers: int = ModelConfig.n_layers
    dropout: float | None = None
    neighbours: int | None = None
    progress: bool = True


def neighbours_for(items: int) -> int:
    """Co-visitation neighbours kept per item: fewer for a large vocabulary, whose table
    travels in the graph."""
    return 20 if items > LARGE_VOCABULARY else 50


def sizes_for(events: int, items: int, config: TrainConfig) -> dict[str, Any]:
    """Width, heads, dropout and co-visitation neighbours for ``events`` training events
    over ``items`` vocabulary items, where ``config`` leaves them open."""
    small = events < SMALL_DATA_EVENTS
    d_model = config.d_model or (32 if small else 64)
    return {
        "d_model": d_model,
        "n_heads": max(1, d_model // 16),
        "dropout": config.dropout if config.dropout is not None else (0.3 if small else 0.1),
        "neighbours": config.neighbours if config.neighbours is not None else neighbours_for(items),
    }


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


def data_end(sessions: Sequence[Sequence[StoredEvent]]) -> float:
    """The time of the data's last event."""
    return max(((events[-1].ts or 0.0) for events in sessions if events), default=0.0)


def open_at_end(
    sessions: Sequence[Sequence[StoredEvent]], end: float, gap_s: float = SESSION_GAP_S
) -> npt.NDArray[np.bool_]:
    """Per session: may it have gone on after the data ends at ``end``? A session whose last
    event lies within one session gap of the end may have gone on (to a purchase, say) after
    the export was cut, so what follows its prefixes is unknown. Exports of a time window all
    have such a tail, and it holds the newest sessions, which a time split puts in the test."""
    last = np.array([(events[-1].ts or 0.0) if events else 0.0 for events in sessions])
    flags: npt.NDArray[np.bool_] = last > end - gap_s
    return flags


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
    model = IntentRanker(_model_config(config, vocab, _event_count(train_data)))
    report = fit.fit(
        model,
        train_data,
        fit.FitSettings(
            config.epochs,
            config.batch_size,
            config.lr,
            config.weight_decay,
            config.seed,
            config.progress,
        ),
    )
    metrics = evaluate(model, train_data, heldout, config) | fit.describe(report)
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
        "new_item_share": fit.new_item_share(train_data),
    }
    histories = held_out_histories(heldout, config.max_len, config.seed)
    if histories is not None:
        checkpoint["heldout_histories"] = histories
    return TrainResult(model, checkpoint, time.perf_counter() - started)


def held_out_histories(heldout: TrainingData, max_len: int, seed: int) -> torch.Tensor | None:
    """Up to ``HELD_OUT_HISTORIES`` prefixes of held-out sessions ``[N, L, features]``."""
    pairs = prefix_pairs(heldout.encoded)
    if not len(pairs):
        return None
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(pairs), min(len(pairs), HELD_OUT_HISTORIES), replace=False))
    return torch.from_numpy(prefix_batch(heldout.encoded, pairs[rows], max_len).astype(np.int32))


def _event_count(data: TrainingData) -> int:
    return int(lengths_of(data).sum())


def _model_config(config: TrainConfig, vocab: Vocabulary, events: int) -> ModelConfig:
    return ModelConfig(
        item_vocab_size=vocab.item_vocab_size,
        category_vocab_size=vocab.category_vocab_size,
        max_len=config.max_len,
        top_k=min(config.top_k, len(vocab.items)),
        n_layers=config.n_layers,
        **sizes_for(events, len(vocab.items), config),
    )


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
        intent_probs, _, top_items, *_ = model(events)
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
