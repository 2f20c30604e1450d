"""Seeds, verdicts and the bar on hand-made numbers; our metrics against scikit-learn's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from training.evaluation import metrics as em
from training.evaluation.comparison import BASE_RATE, ECE, LOGISTIC, RECENT, SKNN, TRANSFORMER
from training.evaluation.fresh_uplift import FreshUplift, Population, verdict
from training.evaluation.seeds import SeedRun, epochs_run, format_mean_sd, mean_sd, seed_summary
from training.evaluation.uplift import ORACLE, PURCHASE_PROB, UPLIFT_HEAD
from training.evaluation.verdicts import (
    BARS,
    FAIL,
    LOSS,
    NOISE,
    PASS,
    UNDEFINED,
    WIN,
    Difference,
    bar_verdict,
    differences,
)


def test_mean_and_sample_sd_over_seeds_skip_undefined_runs() -> None:
    assert mean_sd([0.5, 0.7, math.nan]) == pytest.approx((0.6, math.sqrt(0.02)))
    mean, sd = mean_sd([0.5])
    assert (mean, math.isnan(sd)) == (0.5, True)
    assert format_mean_sd(0.61234, 0.00411) == "0.6123 ± 0.0041"
    assert format_mean_sd(0.5, math.nan) == "0.5000"
    assert format_mean_sd(math.nan, math.nan) == "n/a"
    runs = [SeedRun(s, {"MRR@20": v}, 2.0, 100, 3) for s, v in ((0, 0.2), (1, 0.4))]
    assert seed_summary(runs)["MRR@20"] == pytest.approx((0.3, math.sqrt(0.02)))


def test_throughput_counts_the_epochs_training_recorded() -> None:
    assert SeedRun(0, {}, 4.0, 1000, 2).events_per_second == 500.0
    assert math.isnan(SeedRun(0, {}, 0.0, 0, 2).events_per_second)  # a loaded checkpoint
    assert epochs_run({"metrics": {"epochs_run": 3.0}, "train_config": {"epochs": 9}}, 9) == 3
    assert epochs_run({"train_config": {"epochs_run": 4}}, 9) == 4
    assert epochs_run({"metrics": {}, "train_config": {"epochs": 9}}, 7) == 7


def test_difference_verdicts_follow_the_interval_and_lower_is_better() -> None:
    table = {
        "buy ROC-AUC": {TRANSFORMER: 0.8, LOGISTIC: 0.7, BASE_RATE: 0.5},
        ECE: {TRANSFORMER: 0.02, LOGISTIC: 0.05},
        "Recall@20": {TRANSFORMER: 0.5, SKNN: 0.6},
    }
    # Kept as baseline - Transformer by the bootstrap.
    intervals = {
        "buy ROC-AUC": {LOGISTIC: (-0.15, -0.05), BASE_RATE: (-0.4, 0.01)},
        ECE: {LOGISTIC: (0.01, 0.05)},
        "Recall@20": {SKNN: (0.02, 0.2)},
    }
    found = {(d.metric, d.baseline): d for d in differences(table, intervals)}
    auc = found[("buy ROC-AUC", LOGISTIC)]
    assert (auc.value, auc.low, auc.high) == pytest.approx((0.1, 0.05, 0.15))
    assert auc.verdict == WIN
    assert found[("buy ROC-AUC", BASE_RATE)].verdict == NOISE
    assert found[(ECE, LOGISTIC)].verdict == WIN  # lower calibration error wins
    assert found[("Recall@20", SKNN)].verdict == LOSS
    assert Difference("MRR@20", RECENT, 0.1, math.nan, math.nan).verdict == UNDEFINED


def test_the_bar_beats_every_named_baseline_or_stays_under_its_limit() -> None:
    bars = {bar.metric: bar for bar in BARS}
    table = {"Recall@20": {RECENT: 0.55, SKNN: 0.6}, ECE: {LOGISTIC: 0.04, BASE_RATE: 0.01}}
    recall = bar_verdict(bars["Recall@20"], 0.58, table)
    assert (recall.verdict, recall.best, recall.best_value) == (FAIL, SKNN, 0.6)
    assert bar_verdict(bars["Recall@20"], 0.61, table).verdict == PASS
    ece = bar_verdict(bars[ECE], 0.03, table)
    assert (ece.verdict, ece.best) == (PASS, BASE_RATE)
    assert bar_verdict(bars[ECE], 0.031, table).verdict == FAIL
    # Views-only data has no buy label: no Transformer value, no baseline either.
    assert bar_verdict(bars["buy ROC-AUC"], math.nan, {}).verdict == UNDEFINED


def test_fresh_uplift_bar_needs_every_population_and_half_the_oracle() -> None:
    def population(head: float, buy: float, oracle: float) -> Population:
        return Population(1000, 10, {UPLIFT_HEAD: head, PURCHASE_PROB: buy, ORACLE: oracle})

    good = FreshUplift([population(0.03, 0.01, 0.05), population(0.02, 0.0, 0.05)])
    assert good.passed
    assert good.oracle_share == pytest.approx(0.5)
    one_loss = FreshUplift([population(0.05, 0.06, 0.05), population(0.05, 0.0, 0.05)])
    assert not one_loss.passed
    assert verdict(one_loss) == "fail (the head loses to P(buy) on some population)"
    weak = FreshUplift([population(0.02, 0.01, 0.05)])
    assert verdict(weak) == "fail (mean below 50% of the oracle's)"


def test_auc_average_precision_and_calibration_match_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        n = int(rng.integers(2, 300))
        scores = np.round(rng.random(n), int(rng.integers(1, 4)))  # many ties
        positive = rng.random(n) < rng.random()
        if positive.all() or not positive.any():
            continue
        assert em.auc(scores, positive) == pytest.approx(roc_auc_score(positive, scores))
        assert em.average_precision(scores, positive) == pytest.approx(
            average_precision_score(positive, scores)
        )
        mean_pred, observed, counts = em.calibration_bins(scores, positive)
        theirs_observed, theirs_mean = calibration_curve(positive, scores, n_bins=10)
        assert observed[counts > 0] == pytest.approx(theirs_observed)
        assert mean_pred[counts > 0] == pytest.approx(theirs_mean)
