"""`witryna evaluate`: the Transformer against baselines, all measured in one run, one split.

Sessions are split by start time (older to train, newest to test); the Transformer and
every baseline learn from the same training sessions and are scored on the same test
prefixes, with the same labels (training.data.labels) and the same vocabulary.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from service.cli.progress import bar as progress_bar
from service.model.encoding import Vocabulary
from service.schema import StoredEvent
from training.data.dataset import (
    EncodedSessions,
    Pairs,
    encode_sessions,
    prefix_pairs,
    prefix_targets,
)
from training.data.labels import BUY
from training.evaluation.baselines import (
    LogisticBuy,
    SessionKNN,
    popular_items,
    prefix_features,
    recent_items,
)
from training.evaluation.bootstrap import difference_intervals
from training.evaluation.calibration_effect import ece_before_after
from training.evaluation.comparison import (
    BASE_RATE,
    LOGISTIC,
    POPULARITY,
    RECENT,
    SKNN,
    TOP_K,
    TRANSFORMER,
    Scores,
    Table,
    Truth,
    length_tables,
    metric_table,
    metrics_of,
)
from training.evaluation.describe import describe
from training.evaluation.seeds import SeedRun, epochs_run
from training.evaluation.unseen import Unseen, evaluate_unseen
from training.model.checkpoint import load_checkpoint, model_from_checkpoint
from training.model.intent_ranker import IntentRanker
from training.model.train import (
    TrainConfig,
    data_end,
    open_at_end,
    predict,
    split_by_time,
    train,
)


@dataclass
class Evaluation:
    source: str
    truth: Truth
    scores: dict[str, Scores]
    table: Table
    by_length: dict[str, Table] = field(default_factory=dict)  # metric -> bucket -> method
    bucket_sizes: dict[str, int] = field(default_factory=dict)
    # metric -> baseline -> 95% interval of (baseline - Transformer), sessions resampled
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    model: IntentRanker | None = None
    vocab: Vocabulary | None = None
    test_sessions: list[Sequence[StoredEvent]] = field(default_factory=list)
    # one per training seed, the first being the one scored above
    runs: list[SeedRun] = field(default_factory=list)
    unseen: Unseen | None = None


def run_evaluation(
    sessions: Sequence[Sequence[StoredEvent]],
    source: str,
    config: TrainConfig,
    checkpoint: Path | None = None,
    treatments: Mapping[str, Any] | None = None,
    seeds: int = 1,
) -> Evaluation:
    """``treatments`` (logged incentive holdout, by session key) also trains uplift heads.

    The Transformer trains ``seeds`` times (seeds ``config.seed``, ``config.seed + 1``, ...);
    the first seed's scores feed the per-prefix tables, the plots and the bootstrap, every
    seed's metrics feed ``Evaluation.runs``. A ``checkpoint`` is one run.
    """
    sessions = [events for events in sessions if events]
    train_sessions, test_sessions = split_by_time(sessions, config.holdout)
    if not train_sessions or not test_sessions:
        raise ValueError(f"need sessions on both sides of the time split, got {len(sessions)}")
    seconds: dict[str, float] = {"transformer_fit": 0.0, "transformer_score": 0.0}
    count = 1 if checkpoint else max(1, seeds)
    runs: list[SeedRun] = []
    first: _Scored | None = None
    for seed in range(config.seed, config.seed + count):
        split = (train_sessions, test_sessions)
        run, result = _seed(split, replace(config, seed=seed), checkpoint, treatments, seconds)
        runs.append(run)
        first = first or result
    assert first is not None  # the loop runs at least once
    fitted, test_data, pairs, truth, scored = first
    vocab = fitted.vocab
    train_data = encode_sessions(train_sessions, vocab)
    scores = {TRANSFORMER: scored}
    train_part, test_part = (train_sessions, train_data), (test_sessions, test_data)
    scores.update(_baselines(train_part, test_part, pairs, config.progress, seconds))
    evaluation = Evaluation(source, truth, scores, metric_table(truth, scores), model=fitted.model)
    evaluation.by_length, evaluation.bucket_sizes = length_tables(truth, scores)
    started = time.perf_counter()
    evaluation.intervals = difference_intervals(truth, scores, truth.session)
    seconds["bootstrap"] = time.perf_counter() - started
    evaluation.data = describe(source, train_sessions, test_sessions, train_data, truth, vocab)
    evaluation.data["test sessions maybe still open when the data ends (no buy label)"] = int(
        open_at_end(test_sessions, data_end(sessions)).sum()
    )
    evaluation.seconds, evaluation.test_sessions = seconds, list(test_sessions)
    evaluation.vocab, evaluation.runs = vocab, runs
    started = time.perf_counter()
    evaluation.unseen = evaluate_unseen(
        fitted.model, vocab, test_sessions, test_data, pairs, fitted.share, fitted.max_len
    )
    seconds["unseen_items"] = time.perf_counter() - started
    served = scored.p_buy
    assert served is not None  # the Transformer always scores P(buy)
    before, after = ece_before_after(fitted.model, test_data, pairs, truth, fitted.max_len, served)
    evaluation.data["P(buy) ECE, 10 bins, first seed: before / after calibration"] = (
        "n/a" if np.isnan(after) else f"{before:.4f} / {after:.4f}"
    )
    evaluation.data["Transformer"] = (
        f"checkpoint {checkpoint} (not checked against this test split)"
        if checkpoint
        else f"trained here on the train split, {config.epochs} epochs, "
        f"{len(runs)} seeds ({', '.join(str(run.seed) for run in runs)})"
    )
    return evaluation


@dataclass
class _Fitted:
    model: IntentRanker
    vocab: Vocabulary
    max_len: int
    epochs: int
    seconds: float
    # Manifest.new_item_share of this model
    share: float = 0.0


_Scored = tuple[_Fitted, EncodedSessions, Pairs, Truth, Scores]


def _seed(
    split: tuple[Sequence[Sequence[StoredEvent]], Sequence[Sequence[StoredEvent]]],
    config: TrainConfig,
    checkpoint: Path | None,
    treatments: Mapping[str, Any] | None,
    seconds: dict[str, float],
) -> tuple[SeedRun, _Scored]:
    """Train (or load) once with ``config.seed`` and score every test prefix."""
    train_sessions, test_sessions = split
    fitted = _transformer(train_sessions, config, checkpoint, treatments)
    seconds["transformer_fit"] += fitted.seconds
    started = time.perf_counter()
    # Encoded with this run's vocabulary, in case training ever makes it seed-dependent.
    test_data = encode_sessions(test_sessions, fitted.vocab)
    pairs = prefix_pairs(test_data.encoded)
    end = max(data_end(train_sessions), data_end(test_sessions))
    truth = _truth(test_sessions, test_data, pairs, end)
    scored = _score_transformer(fitted.model, test_data, pairs, fitted.max_len, config.progress)
    seconds["transformer_score"] += time.perf_counter() - started
    # A loaded checkpoint was not fitted here: no throughput to report.
    events = 0 if checkpoint else sum(map(len, train_sessions))
    run = SeedRun(config.seed, metrics_of(truth, scored), fitted.seconds, events, fitted.epochs)
    return run, (fitted, test_data, pairs, truth, scored)


def _transformer(
    train_sessions: Sequence[Sequence[StoredEvent]],
    config: TrainConfig,
    checkpoint: Path | None,
    treatments: Mapping[str, Any] | None,
) -> _Fitted:
    if checkpoint is not None:
        saved = load_checkpoint(checkpoint)
        vocab = Vocabulary(saved["items"], saved["categories"])
        epochs = epochs_run(saved, int((saved.get("train_config") or {}).get("epochs", 0)))
        share = float(saved.get("new_item_share", 0.0))
        model = model_from_checkpoint(saved)
        return _Fitted(model, vocab, int(saved["max_len"]), epochs, 0.0, share)
    # The split is done here; train() must not hold out a second time.
    once = replace(config, holdout=0.0)
    result = train(train_sessions, once, treatments) if treatments else train(train_sessions, once)
    saved = result.checkpoint
    vocab = Vocabulary(saved["items"], saved["categories"])
    epochs = epochs_run(saved, config.epochs)
    share = float(saved["new_item_share"])
    return _Fitted(result.model, vocab, int(saved["max_len"]), epochs, result.seconds, share)


def _score_transformer(
    model: IntentRanker, data: EncodedSessions, pairs: Pairs, max_len: int, progress: bool
) -> Scores:
    chunk = 2048
    p_buy, tops = [], []
    with progress_bar(
        total=len(pairs), desc="score Transformer", unit="prefix", enabled=progress
    ) as bar:
        for start in range(0, len(pairs), chunk):
            probs, top_items = predict(model, data, pairs[start : start + chunk], max_len)
            p_buy.append(probs[:, BUY].astype(np.float64))
            tops.append(top_items)
            bar.update(len(probs))
    return Scores(np.concatenate(p_buy), np.concatenate(tops))


Part = tuple[Sequence[Sequence[StoredEvent]], EncodedSessions]


def _baselines(
    train_part: Part, test_part: Part, pairs: Pairs, progress: bool, seconds: dict[str, float]
) -> dict[str, Scores]:
    """Popularity, SKNN, logistic regression and the base rate; fit times into ``seconds``."""
    (train_sessions, train_data), (test_sessions, test_data) = train_part, test_part
    n_items = max(int(seq[:, 0].max()) for seq in train_data.encoded + test_data.encoded) + 1
    clock = time.perf_counter()
    popular = popular_items(train_data.encoded, n_items, TOP_K)
    knn = SessionKNN(train_data.encoded, n_items, k=100, top=TOP_K)
    top_knn = np.zeros((len(pairs), TOP_K), dtype=np.int64)
    top_recent = np.zeros((len(pairs), TOP_K), dtype=np.int64)
    with progress_bar(
        total=len(pairs), desc="score SKNN and recent items", unit="prefix", enabled=progress
    ) as bar:
        for row, (s, k) in enumerate(pairs):
            ranked = knn.recommend_prefix(test_data.encoded[s], int(k))
            top_knn[row, : len(ranked)] = ranked
            ranked = recent_items(test_data.encoded[s], int(k), popular, TOP_K)
            top_recent[row, : len(ranked)] = ranked
            bar.update()
    seconds["sknn_and_recent_fit_and_score"] = time.perf_counter() - clock
    clock = time.perf_counter()
    train_buy = np.concatenate(train_data.intents) == BUY
    logistic = LogisticBuy().fit(prefix_features(train_sessions), train_buy)
    p_logistic = logistic.predict(prefix_features(test_sessions))
    seconds["logistic_fit_and_score"] = time.perf_counter() - clock
    base = np.full(len(pairs), float(train_buy.mean()))
    return {
        POPULARITY: Scores(top_items=np.broadcast_to(popular, (len(pairs), len(popular)))),
        RECENT: Scores(top_items=top_recent),
        SKNN: Scores(top_items=top_knn),
        LOGISTIC: Scores(p_buy=p_logistic),
        BASE_RATE: Scores(p_buy=base),
    }


def _truth(
    sessions: Sequence[Sequence[StoredEvent]], data: EncodedSessions, pairs: Pairs, end: float
) -> Truth:
    intents, next_items = prefix_targets(data, pairs)
    after_cart = np.array([sessions[s][k - 1].type == "add_to_cart" for s, k in pairs], dtype=bool)
    buy, length, session = intents == BUY, pairs[:, 1].copy(), pairs[:, 0].copy()
    labelled = ~open_at_end(sessions, end)[session]
    return Truth(buy, after_cart.reshape(-1), next_items, length, session, labelled)
