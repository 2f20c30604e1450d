"""Uplift: Qini arithmetic, the simulator's known incentive response, the uplift heads' loss
and export, and the acceptance check that the uplift head targets better than P(buy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from service.model.encoding import Vocabulary
from service.model.manifest import MANIFEST_FILE, MODEL_FILE, read_manifest
from service.model.runtime import ModelRuntime
from training.data.dataset import encode_sessions
from training.data.simulator import SimSession, simulate
from training.data.treatment import logged_treatments, session_key
from training.data.windows import lengths_of, session_windows, window_batch
from training.evaluation.uplift import (
    ORACLE,
    PURCHASE_PROB,
    QINI_PNG,
    UPLIFT_HEAD,
    qini_coefficient,
    qini_curve,
    qini_curves,
    qini_report,
)
from training.model.covisit import CovisitLookup, Table
from training.model.export import OUTPUT_NAMES, check_parity, parity_batch
from training.model.intent_ranker import IntentRanker, ModelConfig
from training.model.loss import batch_loss
from training.model.train import TrainConfig, TrainResult, train

# Hand-made: two persuadables (treated, bought), one sleeping dog (untreated, bought).
TREATED = [1, 0, 1, 0, 1, 0, 1, 0]
BOUGHT = [1, 0, 1, 0, 0, 0, 0, 1]
HALF = [0.5] * 8
PERFECT = [9, 5, 8, 5, 5, 5, 5, 1]


def test_qini_by_hand_perfect_beats_constant_beats_inverted() -> None:
    perfect = qini_coefficient(PERFECT, TREATED, BOUGHT, HALF)
    # Gains sorted [2, 2, 0, 0, 0, 0, 0, -2] / 8 sessions: the curve climbs to 0.5, stays,
    # and ends at 0.25; the area under it is 0.421875, the random line's 0.125.
    assert perfect == pytest.approx(0.296875)
    assert qini_coefficient([3] * 8, TREATED, BOUGHT, HALF) == pytest.approx(0.0, abs=1e-12)
    assert qini_coefficient(-np.array(PERFECT), TREATED, BOUGHT, HALF) == pytest.approx(-perfect)
    curve = qini_curve(PERFECT, TREATED, BOUGHT, HALF)
    # The five tied middle scores make one straight segment: 0, 1/8, 2/8, 7/8, 1.
    assert curve.fraction.tolist() == [0.0, 0.125, 0.25, 0.875, 1.0]
    assert curve.gain.tolist() == [0.0, 0.25, 0.5, 0.5, 0.25]


def test_qini_random_ranking_is_near_zero_and_truth_is_far_above() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    uplift = rng.choice([0.0, 0.4, -0.1], size=n, p=[0.6, 0.3, 0.1])
    p0 = np.full(n, 0.2)
    treated = rng.random(n) < 0.3
    bought = rng.random(n) < p0 + treated * uplift
    propensity = np.full(n, 0.3)  # unequal arms: the estimate must weight them back
    truth = qini_coefficient(uplift, treated, bought, propensity)
    random = qini_coefficient(rng.random(n), treated, bought, propensity)
    # Ideal: the 30% persuadables first gain 0.12 per session, then the last 10% lose 0.01.
    assert truth == pytest.approx(0.3 * 0.12 / 2 + 0.6 * 0.12 + 0.1 * 0.115 - 0.11 / 2, abs=0.01)
    assert abs(random) < 0.2 * truth
    assert qini_curve(uplift, treated, bought, propensity).gain[-1] == pytest.approx(0.11, abs=0.02)


def test_qini_refuses_impossible_propensities() -> None:
    with pytest.raises(ValueError, match="propensit"):
        qini_coefficient([1, 2], [1, 0], [1, 0], [1.0, 0.5])


@pytest.fixture(scope="module")
def population() -> list[SimSession]:
    return simulate(4000, seed=5)


def rate(sessions: list[SimSession], archetype: str, treated: bool) -> float:
    group = [s for s in sessions if s.archetype == archetype and s.treated == treated]
    assert len(group) > 100, (archetype, treated)
    return float(np.mean([s.purchased for s in group]))


def test_simulated_incentive_response(population: list[SimSession]) -> None:
    assert rate(population, "hesitant", True) > rate(population, "hesitant", False) + 0.2
    assert min(rate(population, "buyer", t) for t in (True, False)) > 0.75
    assert abs(rate(population, "buyer", True) - rate(population, "buyer", False)) < 0.1
    for archetype in ("browser", "leaver"):
        assert rate(population, archetype, True) == rate(population, archetype, False) == 0.0
    helpers = [s for s in population if s.archetype == "help_seeker"]
    assert np.mean([s.true_uplift for s in helpers]) < -0.05, "pushy offers put them off"
    hesitant = [s for s in population if s.archetype == "hesitant"]
    assert np.std([s.true_uplift for s in hesitant]) > 0.05, "shoppers differ individually"


def test_holdout_is_randomised_and_logged(population: list[SimSession]) -> None:
    treated = [s for s in population if s.treated]
    assert abs(len(treated) / len(population) - 0.5) < 0.03
    for session in population:
        assert session.propensity == 0.5
        assert 0.0 <= session.p0 <= 1.0
        assert 0.0 <= session.p1 <= 1.0
        assert session.true_uplift == session.p1 - session.p0
        assert session.purchased == any(e.type == "purchase" for e in session.events)
        assert 1 <= session.offer_at <= len(session.events)
        before = session.events[: session.offer_at]
        assert not any(e.type == "purchase" for e in before), "the outcome follows the offer"
    # What precedes the offer cannot depend on the arm: same archetype mix, same length.
    arms = [[s for s in population if s.treated == arm] for arm in (True, False)]
    for group in arms:
        assert abs(np.mean([s.archetype == "hesitant" for s in group]) - 0.2) < 0.03
    offer_at = [np.mean([s.offer_at for s in group]) for group in arms]
    assert abs(offer_at[0] - offer_at[1]) < 0.6


def test_uplift_loss_only_on_the_logged_offer_prefix() -> None:
    sims = [s for s in simulate(12, seed=3) if s.offer_at < len(s.events)][:3]
    assert len(sims) == 3
    logged = logged_treatments(sims[:2])  # the third session logged nothing
    events = [s.events for s in sims]
    assert session_key(events[0]) in logged
    vocab = Vocabulary.build(e for session in events for e in session)
    data = encode_sessions(events, vocab, logged)
    windows = session_windows(lengths_of(data), 50)
    batch = window_batch(data, windows, 50)
    assert int(batch.offered.sum()) == 2
    for row, (s, end, _) in enumerate(windows):
        for col in np.flatnonzero(batch.offered[row]):
            assert s < 2
            assert end - (batch.events.shape[1] - 1 - col) == sims[s].offer_at
            assert batch.arm[row, col] == sims[s].treated
            assert batch.bought[row, col] == sims[s].purchased
    torch.manual_seed(0)
    model = IntentRanker(ModelConfig(vocab.item_vocab_size, vocab.category_vocab_size, top_k=5))
    last = model.outcome_head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    n = vocab.item_vocab_size
    lookup = CovisitLookup([Table(np.zeros((n, 1), np.int64), np.zeros((n, 1), np.float32))], n)
    folds = torch.zeros(len(windows), dtype=torch.int64)
    loss = batch_loss(model, batch, lookup, folds)["uplift"]
    assert loss.item() == pytest.approx(np.log(2), rel=1e-5)  # BCE at logit 0
    loss.backward()
    # The gradient reaches only the column of the logged arms.
    arms = {int(a) for a in batch.arm[batch.offered]}
    grad = last.bias.grad
    assert grad is not None
    assert all(grad[a] != 0 for a in arms)
    assert all(grad[a] == 0 for a in {0, 1} - arms)
    empty = window_batch(encode_sessions(events, vocab), windows, 50)
    quiet = batch_loss(model, empty, lookup, folds)["uplift"]
    assert quiet.item() == 0.0
    assert quiet.requires_grad


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")
def test_export_has_uplift_output_with_parity(
    tiny_checkpoints: tuple[Path, Path], tiny_artefact: Path, tmp_path: Path
) -> None:
    """On the run's exported tiny model (tests/training/conftest.py), trained with the
    simulated holdout's logged offers."""
    tiny, artefact = tiny_checkpoints[0], tiny_artefact
    manifest = read_manifest(artefact)
    assert manifest.feature_spec.outputs == list(OUTPUT_NAMES)
    assert OUTPUT_NAMES[3] == "uplift"
    session = ort.InferenceSession(str(artefact / MODEL_FILE), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    vocab = Vocabulary(manifest.items, manifest.categories)
    batch = parity_batch(vocab, 50, rows=9, seed=4)
    model = _load(tiny)
    with torch.no_grad():
        theirs = model(torch.from_numpy(batch))[3].numpy()
    ours = session.run(["uplift"], {"events": batch})[0]
    assert ours.shape == (9,)
    assert ours.dtype == np.float32
    assert np.abs(ours - theirs).max() <= 1e-4
    assert (np.abs(ours) <= 1).all()
    assert check_parity(model, artefact / MODEL_FILE, batch) <= 1e-4
    runtime = ModelRuntime(artefact, threads=1, device="cpu")
    prediction = runtime.predict(batch)
    assert prediction.uplift is not None
    np.testing.assert_allclose(prediction.uplift, ours, atol=1e-6)
    # An artefact whose manifest names the older three outputs still serves, without uplift.
    old = tmp_path / "old"
    shutil.copytree(artefact, old)
    raw = json.loads((old / MANIFEST_FILE).read_text())
    raw["feature_spec"]["outputs"] = list(OUTPUT_NAMES[:3])
    (old / MANIFEST_FILE).write_text(json.dumps(raw))
    older = ModelRuntime(old, threads=1, device="cpu").predict(batch)
    assert older.uplift is None
    np.testing.assert_allclose(older.intent_probs, prediction.intent_probs, atol=1e-6)


def _load(path: Path) -> IntentRanker:
    from training.model.checkpoint import load_checkpoint, model_from_checkpoint

    return model_from_checkpoint(load_checkpoint(path))


# Big enough that the held-out Qini tells the heads apart, small enough for ~30 s on a CPU.
ACCEPT_SESSIONS = 5000
ACCEPT_HOLDOUT = 0.5


@pytest.fixture(scope="module")
def accepted() -> tuple[TrainResult, list[SimSession]]:
    torch.set_num_threads(1)
    sims = simulate(ACCEPT_SESSIONS, seed=0)
    config = TrainConfig(epochs=3, seed=0, holdout=ACCEPT_HOLDOUT, progress=False)
    result = train([s.events for s in sims], config, logged_treatments(sims))
    # simulate() orders by start time, as train() splits: the newest share was held out.
    return result, sims[len(sims) - round(len(sims) * ACCEPT_HOLDOUT) :]


@pytest.mark.slow
def test_uplift_head_targets_better_than_purchase_probability(
    accepted: tuple[TrainResult, list[SimSession]], tmp_path: Path
) -> None:
    result, heldout = accepted
    vocab = Vocabulary(result.checkpoint["items"], result.checkpoint["categories"])
    curves = {c.name: c.coefficient for c in qini_curves(result.model, vocab, heldout)}
    print(curves)
    # Measured 0.0086 vs 0.0052 (oracle 0.045) with these seeds; a second seed gave 0.0146
    # vs 0.0084. Deterministic on one CPU thread, but the margin is modest.
    assert curves[UPLIFT_HEAD] > curves[PURCHASE_PROB]
    assert curves[UPLIFT_HEAD] > 0.005
    assert curves[ORACLE] > curves[UPLIFT_HEAD]
    metrics = result.checkpoint["metrics"]
    assert metrics["qini_uplift_head"] == pytest.approx(curves[UPLIFT_HEAD])
    markdown = qini_report(result.checkpoint, heldout, tmp_path)
    assert f"{curves[UPLIFT_HEAD]:.4f}" in markdown
    assert f"]({QINI_PNG})" in markdown
    assert (tmp_path / QINI_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
