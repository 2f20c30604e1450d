"""`witryna evaluate`: metrics on hand-computed cases, baselines with known answers, end to end."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.model.encoding import FEATURES
from service.schema import StoredEvent
from tests._support.torch_threads import one_torch_thread
from training.data.labels import IGNORE
from training.evaluation import metrics as em
from training.evaluation.baselines import (
    FEATURE_NAMES,
    LogisticBuy,
    SessionKNN,
    count_features,
    popular_items,
    recent_items,
)
from training.evaluation.bootstrap import session_resamples
from training.evaluation.comparison import ECE, TRANSFORMER, transformer_losses
from training.evaluation.metrics import intent_metrics

ROOT = Path(__file__).resolve().parents[3]


def test_roc_auc_counts_ordered_pairs_and_halves_ties() -> None:
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right.
    scores, positive = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], dtype=bool)
    assert em.auc(scores, positive) == pytest.approx(0.75)
    assert em.auc(np.array([0.5, 0.5]), np.array([True, False])) == pytest.approx(0.5)
    assert math.isnan(em.auc(np.array([0.2, 0.9]), np.array([True, True])))


def test_average_precision_is_mean_precision_at_each_positive() -> None:
    scores, positive = np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0], dtype=bool)
    assert em.average_precision(scores, positive) == pytest.approx((1 + 2 / 3) / 2)
    # One tied score for everyone: precision is the prevalence.
    tied = np.full(4, 0.3)
    assert em.average_precision(tied, positive) == pytest.approx(0.5)
    assert math.isnan(em.average_precision(scores, np.zeros(4, dtype=bool)))


def test_roc_curve_runs_from_origin_to_one() -> None:
    fpr, tpr = em.roc_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], dtype=bool))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(0.75)


def test_expected_calibration_error_weights_bin_gaps_by_count() -> None:
    probs = np.array([0.05, 0.15, 0.95, 0.95])
    positive = np.array([0, 1, 1, 1], dtype=bool)
    # Bins: |0.05 - 0| x1, |0.15 - 1| x1, |0.95 - 1| x2, over 4 prefixes.
    assert em.expected_calibration_error(probs, positive) == pytest.approx(0.25)
    # 1.0 falls in the last bin, and a perfectly calibrated certainty has no error.
    assert em.expected_calibration_error(np.array([1.0]), np.array([True])) == 0.0


def test_calibration_bins_are_right_closed_with_means_of_filled_bins() -> None:
    probs = np.array([0.0, 0.1, 0.12, 0.5, 1.0])
    positive = np.array([0, 0, 1, 1, 1], dtype=bool)
    mean_pred, observed, counts = em.calibration_bins(probs, positive)
    # 0 and 0.1 share the first bin (0, 0.1]; 0.12 opens the second, 1.0 is in the last.
    assert counts.tolist() == [2, 1, 0, 0, 1, 0, 0, 0, 0, 1]
    assert mean_pred[[0, 1, 4, 9]] == pytest.approx([0.05, 0.12, 0.5, 1.0])
    assert observed[[0, 1, 4, 9]] == pytest.approx([0.0, 1.0, 1.0, 1.0])
    assert np.isnan(mean_pred[2])
    assert np.isnan(observed[2])


def test_checkpoint_metrics_stay_finite_when_undefined() -> None:
    # Every held-out prefix is a leave (intent 3): no positive for the buy AUC, no next item.
    probs = np.full((3, 4), 0.25)
    intents = np.full(3, 3, dtype=np.int64)
    none = np.full(3, IGNORE, dtype=np.int64)
    metrics = intent_metrics(probs, intents, np.ones((3, 2), np.int64), none, intents, none[:2])
    assert math.isnan(em.auc(probs[:, 0], intents == 0))
    assert metrics["buy_auc"] == 0.5
    assert metrics["next_item_recall_at_k"] == 0.0
    assert all(math.isfinite(value) for value in metrics.values())


def test_ranking_metrics_on_known_ranks() -> None:
    top = np.array([[5, 6, 7], [7, 5, 6], [1, 2, 3], [6, 7, 8]])
    targets = np.array([6, 6, 9, IGNORE])  # ranks 2, 3, missing; the last row is not scored
    metrics = em.ranking_metrics(top, targets, k=20)
    assert metrics["Recall@20"] == pytest.approx(2 / 3)
    assert metrics["MRR@20"] == pytest.approx((1 / 2 + 1 / 3) / 3)
    assert metrics["NDCG@20"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    # Only the first k columns count.
    assert em.ranking_metrics(top, targets, k=1)["Recall@1"] == 0.0


def _sessions(*item_sets: list[int]) -> list[np.ndarray]:
    """Encoded sessions whose item column holds the given ids (other features irrelevant)."""
    encoded = []
    for items in item_sets:
        rows = np.ones((len(items), len(FEATURES)), dtype=np.int64)
        rows[:, FEATURES.index("item")] = items
        encoded.append(rows)
    return encoded


TRAIN = _sessions([2, 3], [2, 4], [5, 6], [2, 3, 7])


def test_popularity_ranks_training_items_by_frequency() -> None:
    assert popular_items(TRAIN, 8, top=3).tolist() == [2, 3, 4]


def test_sknn_neighbours_and_votes_on_a_crafted_dataset() -> None:
    knn = SessionKNN(TRAIN, 8, k=2, top=5)
    sessions, sims = knn.neighbours(np.array([2, 3]))
    # Cosine of item sets: {2,3} vs {2,3} = 1, vs {2,3,7} = 2/sqrt(6), vs {2,4} = 0.5 (dropped).
    found = dict(zip(sessions.tolist(), sims.tolist(), strict=True))
    assert found == pytest.approx({0: 1.0, 3: 2 / math.sqrt(6)})
    # 2 and 3 tie on votes (2 is more popular), then 7, then popular items fill the list.
    assert knn.recommend(np.array([2, 3])).tolist() == [2, 3, 7, 4, 5]
    assert knn.recommend(np.array([6])).tolist() == [5, 6, 2, 3, 4]
    # A prefix without known items gets the popularity list.
    assert knn.recommend_prefix(_sessions([1, 1])[0], 2).tolist() == [2, 3, 4, 5, 6]


def test_logistic_baseline_separates_a_separable_toy() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    positive = x[:, 1] - 0.5 * x[:, 2] > 0
    model = LogisticBuy().fit(x, positive)
    p = model.predict(x)
    assert em.auc(p, positive) > 0.99
    assert np.mean((p > 0.5) == positive) > 0.97
    # The learnt weights point the right way: up with feature 1, down with feature 2.
    assert model.weights[2] > 0 > model.weights[3]


def test_logistic_baseline_of_one_class_predicts_its_rate() -> None:
    x = np.arange(6, dtype=np.float64).reshape(3, 2)
    assert LogisticBuy().fit(x, np.zeros(3, dtype=bool)).predict(x).tolist() == [0.0] * 3


def test_count_features_see_only_the_prefix() -> None:
    events = [
        StoredEvent(visitor_id="v", type="product_view", item_id="a", ts=100.0),
        StoredEvent(visitor_id="v", type="add_to_cart", item_id="a", ts=130.0),
        StoredEvent(visitor_id="v", type="purchase", ts=160.0),
    ]
    rows = count_features(events)
    named = [dict(zip(FEATURE_NAMES, row, strict=True)) for row in rows]
    assert rows.shape == (3, len(FEATURE_NAMES))
    assert named[1]["log1p_count_add_to_cart"] == pytest.approx(math.log(2))
    assert named[1]["log1p_count_purchase"] == 0.0  # the purchase is after prefix 2
    assert named[1]["last_is_add_to_cart"] == 1.0
    assert named[1]["last_is_product_view"] == 0.0
    assert named[2]["log1p_seconds_since_first"] == pytest.approx(math.log1p(60.0))
    assert named[2]["log1p_distinct_items"] == pytest.approx(math.log(2))


def test_losses_list_every_baseline_win_and_respect_lower_is_better() -> None:
    table = {
        "buy ROC-AUC": {TRANSFORMER: 0.8, "Logistic (counts)": 0.9, "Base rate": 0.5},
        ECE: {TRANSFORMER: 0.05, "Logistic (counts)": 0.02, "Base rate": 0.2},
        "Recall@20": {TRANSFORMER: float("nan"), "SKNN": 0.4},
    }
    by_length = {"Recall@20": {"1": {TRANSFORMER: 0.3, "SKNN": 0.31, "Popularity": 0.1}}}
    intervals = {
        "buy ROC-AUC": {"Logistic (counts)": (0.05, 0.15)},
        ECE: {"Logistic (counts)": (-0.04, 0.01)},
    }
    losses = transformer_losses(table, by_length, {"1": 7}, intervals)
    assert len(losses) == 3
    assert losses[0].startswith("buy ROC-AUC, all test prefixes: Logistic (counts) 0.9000")
    assert losses[0].endswith("clear)")
    assert losses[1].startswith(f"{ECE}, all test prefixes: Logistic (counts) 0.0200")
    assert losses[1].endswith("within noise)")
    assert losses[2].startswith("Recall@20, prefix length 1 (7 prefixes): SKNN 0.3100")
    assert transformer_losses({"MRR@20": {TRANSFORMER: 0.3, "SKNN": 0.2}}, {}, {}, {}) == []


@pytest.mark.slow
def test_witryna_evaluate_writes_a_report_with_every_method(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    command = [sys.executable, "-m", "service", "evaluate", "--sessions", "400", "--epochs", "1"]
    command += ["--seeds", "1", "--populations", "1"]  # seeds: test_evaluate_all.py
    done = subprocess.run(
        [*command, "--out", str(out), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| metric |"))
    methods = (
        "Transformer",
        "Popularity",
        "Recent items",
        "SKNN",
        "Logistic (counts)",
        "Base rate",
    )
    for method in methods:
        assert method in header
    assert "Base rate" in header
    for metric in ("buy ROC-AUC", "buy PR-AUC", ECE, "Recall@20", "MRR@20", "NDCG@20"):
        assert f"| {metric} |" in report
    assert "## Where the Transformer loses" in report
    assert "## Items the model has not seen" in report
    assert "| P(buy) ECE, 10 bins, first seed: before / after calibration | 0." in report
    for plot in ("roc.png", "calibration.png", "by_length.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({plot})" in report


def test_session_bootstrap_draws_whole_sessions() -> None:
    session = np.array([0, 0, 0, 1, 2, 2])
    for rows in session_resamples(session, 20, seed=1):
        drawn = session[rows]
        # Every drawn session comes with all of its prefixes: 3, 1 or 2 rows each.
        for s, n in zip(*np.unique(drawn, return_counts=True), strict=True):
            assert n % int((session == s).sum()) == 0
        assert len(np.unique(drawn)) <= 3


@pytest.mark.slow
def test_evaluate_a_checkpoint_with_its_own_vocabulary(tmp_path: Path) -> None:
    from training.data.simulator import simulate
    from training.evaluation.evaluate import run_evaluation
    from training.model.checkpoint import save_checkpoint
    from training.model.train import TrainConfig, train

    config = TrainConfig(epochs=1, progress=False)
    with one_torch_thread():
        trained = train([s.events for s in simulate(150, seed=3)], config)
        path = save_checkpoint(trained.checkpoint, tmp_path / "model.pt")
        sessions = [s.events for s in simulate(150, seed=4)]
        evaluation = run_evaluation(sessions, "other shoppers", config, checkpoint=path)
    assert evaluation.vocab is not None
    assert evaluation.vocab.items == trained.checkpoint["items"]
    assert str(path) in evaluation.data["Transformer"]
    assert 0.0 <= evaluation.table["Recall@20"]["Transformer"] <= 1.0
    assert set(evaluation.table["Recall@20"]) == {
        "Transformer",
        "Popularity",
        "Recent items",
        "SKNN",
    }


def test_recent_items_lists_the_prefix_items_newest_first() -> None:
    (encoded,) = _sessions([4, 2, 1, 4, 3, 7])
    popular = np.array([2, 3, 4, 5, 6])
    # Prefix of 5 events: 4, 2, unknown, 4, 3 -> 3, 4, 2; then popular items not yet listed.
    assert recent_items(encoded, 5, popular, top=5).tolist() == [3, 4, 2, 5, 6]
    assert recent_items(encoded, 1, popular, top=3).tolist() == [4, 2, 3]


def test_sessions_that_may_go_on_after_the_data_ends_have_no_buy_label() -> None:
    from service.schema import StoredEvent
    from training.evaluation.comparison import Scores, Truth, metrics_of
    from training.model.train import data_end, open_at_end

    def session(*stamps: float) -> list[StoredEvent]:
        return [StoredEvent(visitor_id="v", type="product_view", ts=ts) for ts in stamps]

    done, late, last = session(0.0, 60.0), session(100.0, 9000.0), session(9500.0, 10_000.0)
    sessions = [done, late, last]
    assert data_end(sessions) == 10_000.0
    # `late` ended 1,000 s before the data: within the 30-minute gap, it may have gone on.
    assert open_at_end(sessions, 10_000.0).tolist() == [False, True, True]
    assert open_at_end(sessions, 10_000.0, gap_s=900.0).tolist() == [False, False, True]
    # A buy metric reads only the labelled prefixes; the ranking reads every one.
    truth = Truth(
        buy=np.array([True, False, False, True]),
        after_cart=np.zeros(4, dtype=bool),
        next_item=np.array([5, 5, 5, 5]),
        length=np.ones(4, dtype=np.int64),
        labelled=np.array([True, True, False, False]),
    )
    scores = Scores(np.array([0.9, 0.1, 0.99, 0.0]), np.full((4, 20), 5))
    measured = metrics_of(truth, scores)
    assert measured["buy ROC-AUC"] == 1.0  # the unlabelled pair, which is inverted, is left out
    assert measured["Recall@20"] == 1.0
