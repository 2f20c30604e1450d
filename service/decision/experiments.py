"""Experiments: sticky, even assignment by hashing, and per-arm results with 95% intervals."""

from __future__ import annotations

import hashlib
import math
import os

from msgspec import Struct

from service.decision.policy import Experiment, Policy
from service.storage.client import Client
from service.storage.keys import converted_key, exposed_key

HOLDOUT = "holdout"
Z95 = 1.959963984540054
# Random ids tried for an arm: a 0.1% arm is missed one time in 10^8.
MINT_TRIES = 20_000


def bucket(*parts: str) -> float:
    """A uniform number in [0, 1) fixed by ``parts``: the same visitor always lands alike."""
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_holdout(policy: Policy, visitor_id: str) -> bool:
    return policy.holdout > 0 and bucket(HOLDOUT, visitor_id) < policy.holdout


def arm_of(experiment: Experiment, visitor_id: str) -> str:
    point, total = bucket(experiment.id, visitor_id), 0.0
    for arm, share in experiment.arms.items():
        total += share
        if point < total:
            return arm
    return next(reversed(experiment.arms))


def assign(policy: Policy, visitor_id: str) -> dict[str, str]:
    """Every experiment's arm for this visitor; holdout visitors are ``holdout`` in all."""
    if in_holdout(policy, visitor_id):
        return {e.id: HOLDOUT for e in policy.experiments}
    return {e.id: arm_of(e, visitor_id) for e in policy.experiments}


def arms_to_choose(policy: Policy) -> dict[str, list[str]]:
    """Each experiment's arms, and the holdout where the policy keeps one."""
    holdout = [HOLDOUT] if policy.holdout > 0 else []
    return {e.id: [*e.arms, *holdout] for e in policy.experiments}


def new_visitor_in(policy: Policy, experiment_id: str, arm: str) -> str | None:
    """A new random visitor id that the hash assigns to ``arm``, or None if none was found.

    The way to choose an arm without overriding anyone's: assignment stays the sticky hash,
    and the id is new, so no existing visitor moves.
    """
    for _ in range(MINT_TRIES):
        visitor = "v-" + os.urandom(12).hex()
        if assign(policy, visitor).get(experiment_id) == arm:
            return visitor
    return None


class ArmResult(Struct, kw_only=True):
    arm: str
    exposures: int
    conversions: int
    conversion_rate: float
    ci95: tuple[float, float]
    uplift: float | None = None
    uplift_ci95: tuple[float, float] | None = None


class ExperimentResult(Struct, kw_only=True):
    id: str
    control: str
    arms: list[ArmResult]


def wilson(successes: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _difference(
    arm: tuple[int, int], control: tuple[int, int]
) -> tuple[float, tuple[float, float]]:
    (c1, n1), (c0, n0) = arm, control
    p1, p0 = c1 / n1, c0 / n0
    half = Z95 * math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1 - p0, (p1 - p0 - half, p1 - p0 + half)


async def results(client: Client, experiment: Experiment) -> ExperimentResult:
    arms = [*experiment.arms, HOLDOUT]
    pipe = client.pipeline(transaction=False)
    for arm in arms:
        pipe.scard(exposed_key(experiment.id, arm))
        pipe.sintercard(2, [exposed_key(experiment.id, arm), converted_key(experiment.id, arm)])
    counts = await pipe.execute()
    tallies = {arm: (int(counts[2 * i + 1]), int(counts[2 * i])) for i, arm in enumerate(arms)}
    control = tallies[experiment.control]
    rows = []
    for arm, (conversions, exposures) in tallies.items():
        row = ArmResult(
            arm=arm,
            exposures=exposures,
            conversions=conversions,
            conversion_rate=conversions / exposures if exposures else 0.0,
            ci95=wilson(conversions, exposures),
        )
        if arm != experiment.control and exposures and control[1]:
            row.uplift, row.uplift_ci95 = _difference((conversions, exposures), control)
        rows.append(row)
    return ExperimentResult(id=experiment.id, control=experiment.control, arms=rows)
