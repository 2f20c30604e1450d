"""Uplift on fresh shoppers: the trained model targets simulated populations it never saw.

The test split of the training population shares its shoppers' simulator seed; a fresh
population is drawn with another seed, so no session of it (nor its random incentive
assignment) took part in training. On each, the uplift head's Qini is set against targeting
by purchase probability and against the oracle that ranks by the true uplift.
The bar: the uplift head beats purchase probability on every population, and its mean
Qini reaches at least half the oracle's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.model.encoding import Vocabulary
from training.data.simulator import simulate
from training.evaluation.uplift import ORACLE, PURCHASE_PROB, UPLIFT_HEAD, qini_curves
from training.model.intent_ranker import IntentRanker

# Fresh populations are drawn at training seed + this + i: never the training seed.
SEED_OFFSET = 1000
ORACLE_SHARE = 0.5


@dataclass(frozen=True)
class Population:
    seed: int
    sessions: int
    qini: dict[str, float]  # UPLIFT_HEAD, PURCHASE_PROB, ORACLE -> Qini coefficient

    @property
    def head_beats_purchase_prob(self) -> bool:
        return self.qini[UPLIFT_HEAD] > self.qini[PURCHASE_PROB]


@dataclass(frozen=True)
class FreshUplift:
    populations: list[Population]

    def mean(self, name: str) -> float:
        return float(np.mean([p.qini[name] for p in self.populations]))

    @property
    def beats_everywhere(self) -> bool:
        return all(p.head_beats_purchase_prob for p in self.populations)

    @property
    def oracle_share(self) -> float:
        oracle = self.mean(ORACLE)
        return self.mean(UPLIFT_HEAD) / oracle if oracle > 0 else float("nan")

    @property
    def passed(self) -> bool:
        return self.beats_everywhere and self.oracle_share >= ORACLE_SHARE


def fresh_seeds(training_seed: int, count: int) -> list[int]:
    return [training_seed + SEED_OFFSET + i for i in range(count)]


def fresh_uplift(
    model: IntentRanker, vocab: Vocabulary, seeds: Sequence[int], sessions: int
) -> FreshUplift:
    """Qini coefficients on ``len(seeds)`` fresh populations of ``sessions`` sessions each."""
    populations = []
    for seed in seeds:
        shoppers = [s for s in simulate(sessions, seed) if s.events]
        curves = qini_curves(model, vocab, shoppers)
        qini = {curve.name: curve.coefficient for curve in curves}
        populations.append(Population(seed, len(shoppers), qini))
    return FreshUplift(populations)


def markdown(result: FreshUplift, model_seed: int) -> str:
    """The report section: one row per population, the mean, the bar and its verdict."""
    return "\n".join(
        [
            "## Uplift on fresh shoppers",
            "",
            f"The model of the first training seed ({model_seed}) targets "
            f"{len(result.populations)} fresh simulated populations, drawn with simulator "
            "seeds that training never used: every session is new, with its own random "
            "incentive assignment. Qini coefficient: the area between a ranking's Qini curve "
            "and random targeting, in extra purchases per session (0: no better than random).",
            "",
            *table(result),
            "",
            bar_line(result),
            "",
        ]
    )


def table(result: FreshUplift) -> list[str]:
    """Markdown rows: Qini per population and their mean."""
    rows = [
        f"| {p.seed} | {p.sessions} | {p.qini[UPLIFT_HEAD]:.4f} | {p.qini[PURCHASE_PROB]:.4f} "
        f"| {p.qini[ORACLE]:.4f} | {'yes' if p.head_beats_purchase_prob else 'no'} |"
        for p in result.populations
    ]
    means = [result.mean(name) for name in (UPLIFT_HEAD, PURCHASE_PROB, ORACLE)]
    won = sum(p.head_beats_purchase_prob for p in result.populations)
    return [
        f"| simulator seed | sessions | {UPLIFT_HEAD} | {PURCHASE_PROB} | {ORACLE} "
        "| head beats P(buy) |",
        "|---:|---:|---:|---:|---:|---|",
        *rows,
        "| mean | | " + " | ".join(f"{m:.4f}" for m in means) + f" | {won} of {len(rows)} |",
    ]


def bar_line(result: FreshUplift) -> str:
    return (
        "Bar: the uplift head beats purchase-probability targeting on every population "
        f"and its mean Qini is at least {ORACLE_SHARE:.0%} of the oracle's. "
        f"Share of the oracle: {result.oracle_share:.2f}. **Verdict: {verdict(result)}**."
    )


def verdict(result: FreshUplift) -> str:
    if result.passed:
        return "pass"
    why = []
    if not result.beats_everywhere:
        why.append("the head loses to P(buy) on some population")
    if not result.oracle_share >= ORACLE_SHARE:
        why.append(f"mean below {ORACLE_SHARE:.0%} of the oracle's")
    return "fail (" + "; ".join(why) + ")"
