"""Qini curves: how many extra purchases an incentive buys when it goes to the top of a ranking.

Every held-out session gets one score, predicted from the events before its decision point
(``offer_at``: where the holdout showed, or withheld, the incentive). Sessions are targeted
in descending score order. With the logged treatment ``T``, purchase ``Y`` and propensity
``e``, each session contributes the inverse-propensity estimate of its own uplift,
``T*Y/e - (1-T)*Y/(1-e)``, whose mean over any set of sessions is an unbiased estimate of
the purchases the incentive adds there, per session.

Normalisation, used throughout: the curve ``Q(f)`` is the sum of those contributions over
the top ``f`` of the sessions divided by ALL sessions: the extra purchases per session of
the whole population when only the top ``f`` get the incentive. ``Q(1)`` is the average
treatment effect; random targeting is the straight line ``f * Q(1)``. The Qini coefficient is
the area between the curve and that line over ``f`` in [0, 1]: positive when the ranking puts
the persuadable first, 0 for random (and for constant scores), negative when inverted.
Tied scores are targeted together: the curve is straight across a tie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from service.model.encoding import Vocabulary, encode_events, pad_left
from service.schema import StoredEvent
from training.data.labels import BUY
from training.data.simulator import SimSession
from training.data.treatment import LoggedTreatment, treatments_for
from training.model.checkpoint import load_checkpoint, model_from_checkpoint
from training.model.intent_ranker import IntentRanker

Floats = npt.NDArray[np.float64]
QINI_PNG = "qini.png"
UPLIFT_HEAD = "uplift head"
PURCHASE_PROB = "purchase probability"
ORACLE = "true uplift (oracle)"


@dataclass(frozen=True)
class QiniCurve:
    name: str
    fraction: Floats  # share of sessions targeted, from 0 to 1
    gain: Floats  # extra purchases per session of the population, see the module docstring

    @property
    def coefficient(self) -> float:
        """Area between the curve and random targeting (``f * Q(1)``)."""
        area = float(np.sum(np.diff(self.fraction) * (self.gain[1:] + self.gain[:-1]) / 2))
        return area - float(self.gain[-1]) / 2


def incremental_purchases(
    treated: npt.ArrayLike, purchased: npt.ArrayLike, propensity: npt.ArrayLike
) -> Floats:
    """Per session, the inverse-propensity estimate of the purchases the incentive added."""
    t = np.asarray(treated, dtype=np.float64)
    y = np.asarray(purchased, dtype=np.float64)
    e = np.asarray(propensity, dtype=np.float64)
    if np.any((e <= 0) | (e >= 1)):
        raise ValueError("propensities must lie strictly between 0 and 1")
    return t * y / e - (1 - t) * y / (1 - e)


def qini_curve(
    scores: npt.ArrayLike,
    treated: npt.ArrayLike,
    purchased: npt.ArrayLike,
    propensity: npt.ArrayLike,
    name: str = "",
) -> QiniCurve:
    """The Qini curve of targeting by descending ``scores``; points at the end of each tie."""
    s = np.asarray(scores, dtype=np.float64)
    gains = incremental_purchases(treated, purchased, propensity)
    if len(s) != len(gains) or not len(s):
        raise ValueError("need one score, treatment, outcome and propensity per session")
    order = np.argsort(-s, kind="stable")
    cumulative = np.cumsum(gains[order]) / len(s)
    sorted_scores = s[order]
    ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True))
    fraction = np.concatenate([[0.0], (ends + 1) / len(s)])
    return QiniCurve(name, fraction, np.concatenate([[0.0], cumulative[ends]]))


def qini_coefficient(
    scores: npt.ArrayLike,
    treated: npt.ArrayLike,
    purchased: npt.ArrayLike,
    propensity: npt.ArrayLike,
) -> float:
    return qini_curve(scores, treated, purchased, propensity).coefficient


@torch.no_grad()
def predict_at_offer(
    model: IntentRanker,
    vocab: Vocabulary,
    sessions: Sequence[Sequence[StoredEvent]],
    offer_at: Sequence[int],
    batch_size: int = 512,
) -> tuple[Floats, Floats]:
    """``(uplift, purchase_probability)`` per session from its first ``offer_at`` events."""
    model.eval()
    max_len = model.config.max_len
    # The whole prefix is encoded before pad_left keeps its tail, so that the first kept
    # event keeps its gap, as serving does.
    prefixes = [
        encode_events(events[: max(1, k)], vocab)
        for events, k in zip(sessions, offer_at, strict=True)
    ]
    order = np.argsort([len(p) for p in prefixes], kind="stable")
    uplift = np.zeros(len(prefixes))
    buy = np.zeros(len(prefixes))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = torch.from_numpy(pad_left([prefixes[i] for i in rows], max_len))
        intent_probs, _, _, row_uplift, _ = model(batch)
        uplift[rows], buy[rows] = row_uplift.numpy(), intent_probs[:, BUY].numpy()
    return uplift, buy


def _logged_arrays(logged: Sequence[LoggedTreatment]) -> tuple[Floats, Floats, Floats]:
    return (
        np.array([t.treated for t in logged], dtype=np.float64),
        np.array([t.purchased for t in logged], dtype=np.float64),
        np.array([t.propensity for t in logged], dtype=np.float64),
    )


def model_curves(
    model: IntentRanker,
    vocab: Vocabulary,
    sessions: Sequence[Sequence[StoredEvent]],
    logged: Sequence[LoggedTreatment],
) -> list[QiniCurve]:
    """Qini curves of targeting by the uplift head and by the intent head's P(buy)."""
    uplift, buy = predict_at_offer(model, vocab, sessions, [t.offer_at for t in logged])
    arrays = _logged_arrays(logged)
    return [qini_curve(uplift, *arrays, UPLIFT_HEAD), qini_curve(buy, *arrays, PURCHASE_PROB)]


def qini_curves(
    model: IntentRanker, vocab: Vocabulary, sessions: Sequence[SimSession]
) -> list[QiniCurve]:
    """Uplift head, purchase probability, and the oracle that ranks by the true ``p1 - p0``."""
    logged = [s.logged() for s in sessions]
    curves = model_curves(model, vocab, [s.events for s in sessions], logged)
    truth = [s.true_uplift for s in sessions]
    return [*curves, qini_curve(truth, *_logged_arrays(logged), ORACLE)]


def heldout_qini(
    model: IntentRanker,
    vocab: Vocabulary,
    sessions: Sequence[Sequence[StoredEvent]],
    treatments: Mapping[str, LoggedTreatment] | None,
) -> dict[str, float]:
    """Checkpoint metrics from the held-out sessions with a logged treatment; ``{}`` if none."""
    pairs = [
        (events, t)
        for events, t in zip(sessions, treatments_for(sessions, treatments), strict=True)
        if t is not None and 0 < t.propensity < 1
    ]
    if len({t.treated for _, t in pairs}) < 2:
        return {}
    curves = model_curves(model, vocab, [e for e, _ in pairs], [t for _, t in pairs])
    return {"qini_uplift_head": curves[0].coefficient, "qini_purchase_prob": curves[1].coefficient}


def plot_qini(curves: Sequence[QiniCurve], path: Path | str) -> Path:
    """The curves and the random-targeting line, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for curve in curves:
        label = f"{curve.name} (Qini {curve.coefficient:.4f})"
        axes.plot(curve.fraction, curve.gain, label=label)
    end = float(curves[0].gain[-1]) if curves else 0.0
    axes.plot([0, 1], [0, end], linestyle="--", color="grey", label="random targeting")
    axes.set_xlabel("share of sessions shown the incentive, best-ranked first")
    axes.set_ylabel("extra purchases per session")
    axes.set_title("Qini curves on held-out sessions")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _model_and_vocab(
    model: IntentRanker | Mapping[str, Any] | Path | str, vocab: Vocabulary | None
) -> tuple[IntentRanker, Vocabulary]:
    if isinstance(model, IntentRanker):
        if vocab is None:
            raise TypeError("an IntentRanker needs its vocab; or pass the checkpoint instead")
        return model, vocab
    checkpoint = load_checkpoint(model) if isinstance(model, Path | str) else model
    found = vocab or Vocabulary(checkpoint["items"], checkpoint["categories"])
    return model_from_checkpoint(dict(checkpoint)), found


def qini_report(
    model: IntentRanker | Mapping[str, Any] | Path | str,
    sessions: Sequence[SimSession],
    out_dir: Path | str,
    vocab: Vocabulary | None = None,
) -> str:
    """Markdown with the Qini numbers, linking ``out_dir/qini.png`` (written here) by its name.

    ``model`` is a trained ``IntentRanker`` (then ``vocab`` is required), a checkpoint dict,
    or a checkpoint path; ``sessions`` are held-out simulated sessions, never trained on.
    """
    ranker, words = _model_and_vocab(model, vocab)
    curves = qini_curves(ranker, words, sessions)
    plot_qini(curves, Path(out_dir) / QINI_PNG)
    return _markdown(curves, sessions)


def _markdown(curves: Sequence[QiniCurve], sessions: Sequence[SimSession]) -> str:
    oracle = curves[-1].coefficient
    treated = np.mean([s.treated for s in sessions])
    rows = [
        f"| {c.name} | {c.coefficient:.4f} | "
        + (f"{c.coefficient / oracle:.2f} |" if oracle > 0 else "n/a |")
        for c in curves
    ]
    return "\n".join(
        [
            "## Uplift: who should get the incentive (Qini)",
            "",
            f"{len(sessions)} held-out simulated sessions, {treated:.0%} of them shown the "
            "incentive at random; one prediction per session, from the events before its "
            "decision point. The Qini coefficient is the area between a ranking's Qini curve "
            "and random targeting, in extra purchases per session of the whole population "
            "(0: no better than random; negative: worse). The oracle ranks by the simulator's "
            "true uplift p1 - p0, which no model can see.",
            "",
            "| targeting by | Qini coefficient | share of oracle |",
            "|---|---:|---:|",
            *rows,
            "",
            f"Showing everyone the incentive adds {curves[0].gain[-1]:.4f} purchases per session.",
            "",
            f"![Qini curves]({QINI_PNG})",
            "",
        ]
    )
