"""A seeded shopper simulator whose sessions come from known archetypes.

Archetypes overlap on purpose (some hesitant shoppers buy, some buyers abandon at checkout,
any shopper may wander off-topic) so that intent is learnable from the sequence, not from a
single tell-tale event. Labels are later derived from the events, never from the archetype.

Each shopper also has a KNOWN response to an incentive (a discount shown at the shopper's
decision point: the page view after which they either head for checkout or not): a purchase
probability ``p0`` without it and ``p1`` with it, per archetype on the logit scale plus
individual noise. A randomised holdout shows the incentive to half of the sessions
(``TREATMENT_SHARE``, logged as the propensity) and the purchase follows ``p1`` or ``p0``.
The incentive is never an event: serving cannot know it, so it is a label-side fact only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.schema import Channel, StoredEvent
from training.data.catalogue import Catalogue, build_catalogue
from training.data.shopper import PLAYS, Shopper
from training.data.treatment import LoggedTreatment

ARCHETYPES: dict[str, float] = {
    "buyer": 0.2,
    "hesitant": 0.2,
    "browser": 0.3,
    "help_seeker": 0.1,
    "leaver": 0.2,
}
# 2026-11-02 00:00 UTC, a Monday; sessions spread over four weeks after it.
EPOCH = 1_793_577_600.0
SPAN_DAYS = 28
# The holdout's randomisation: the share of sessions shown the incentive, whoever they are.
TREATMENT_SHARE = 0.5
# Per archetype: logit of P(buy | no incentive), and how much the incentive shifts that logit.
# Hesitant cart-abandoners are persuadable, buyers buy anyway, stuck help seekers are put off
# by a pushy discount ("sleeping dogs"), browsers and leavers never buy (an offer is spam).
_RESPONSE: dict[str, tuple[float, float]] = {
    "buyer": (2.0, 0.3),
    "hesitant": (-2.2, 2.2),
    "browser": (float("-inf"), 0.0),
    "help_seeker": (-0.6, -0.8),
    "leaver": (float("-inf"), 0.0),
}
# Individual spread (logit sd) of both the baseline and the shift within an archetype.
_RESPONSE_NOISE = 0.5


@dataclass
class SimSession:
    """One session plus what a randomised incentive holdout logged about it.

    ``p0``/``p1`` are the true purchase probabilities without/with the incentive, known only
    because this is a simulation; ``treated``, ``propensity`` and ``purchased`` are what a
    real holdout logs. ``offer_at`` is how many events the shopper had made when the
    incentive was (or, untreated, would have been) shown.
    """

    archetype: str
    events: list[StoredEvent]
    treated: bool = False
    propensity: float = TREATMENT_SHARE
    p0: float = 0.0
    p1: float = 0.0
    purchased: bool = False
    offer_at: int = 0

    @property
    def true_uplift(self) -> float:
        return self.p1 - self.p0

    def logged(self) -> LoggedTreatment:
        """The label-side record a training run may use (never the true p0/p1)."""
        return LoggedTreatment(self.treated, self.propensity, self.purchased, self.offer_at)


# Median seconds between events, and share of app traffic, per archetype. Hesitant shoppers
# linger, which (with their cart dithering) is what tells them from buyers before the offer.
_MEDIAN_GAP = {
    "buyer": 20.0,
    "hesitant": 60.0,
    "browser": 70.0,
    "help_seeker": 45.0,
    "leaver": 30.0,
}
_APP_SHARE = {"buyer": 0.3, "hesitant": 0.2, "browser": 0.15, "help_seeker": 0.2, "leaver": 0.1}
# Buyers shop in the evening, browsers all day long.
_EVENING = {"buyer": 0.6, "hesitant": 0.4, "browser": 0.25, "help_seeker": 0.35, "leaver": 0.3}


def _start_ts(rng: np.random.Generator, archetype: str) -> float:
    day = int(rng.integers(SPAN_DAYS))
    hour = rng.uniform(18, 23) if rng.random() < _EVENING[archetype] else rng.uniform(7, 23)
    return EPOCH + day * 86_400 + hour * 3_600


def _response(rng: np.random.Generator, archetype: str) -> tuple[float, float]:
    """``(p0, p1)`` of one shopper: the archetype's logits plus individual noise."""
    base, shift = _RESPONSE[archetype]
    logit0 = base + rng.normal(0.0, _RESPONSE_NOISE)
    logit1 = logit0 + shift + rng.normal(0.0, _RESPONSE_NOISE)
    # exp(inf) overflows to inf on purpose: a -inf logit is probability 0.
    with np.errstate(over="ignore"):
        return float(1 / (1 + np.exp(-logit0))), float(1 / (1 + np.exp(-logit1)))


def simulate_one(
    rng: np.random.Generator, catalogue: Catalogue, index: int, archetype: str
) -> SimSession:
    p0, p1 = _response(rng, archetype)
    treated = bool(rng.random() < TREATMENT_SHARE)
    purchased = bool(rng.random() < (p1 if treated else p0))
    channel: Channel = "app" if rng.random() < _APP_SHARE[archetype] else "web"
    shopper = Shopper(
        rng=rng,
        catalogue=catalogue,
        visitor_id=f"v-{index:06d}",
        session_id=f"s-{index:06d}",
        channel=channel,
        ts=_start_ts(rng, archetype),
        median_gap=_MEDIAN_GAP[archetype],
        outcome=purchased,
    )
    PLAYS[archetype](shopper)
    return SimSession(
        archetype=archetype,
        events=shopper.events,
        treated=treated,
        propensity=TREATMENT_SHARE,
        p0=p0,
        p1=p1,
        purchased=purchased,
        offer_at=shopper.offer_at,
    )


def simulate(n_sessions: int, seed: int, catalogue: Catalogue | None = None) -> list[SimSession]:
    """``n_sessions`` sessions, the same ones for the same seed, ordered by start time."""
    catalogue = catalogue if catalogue is not None else build_catalogue()
    rng = np.random.default_rng(seed)
    names = list(ARCHETYPES)
    weights = np.array(list(ARCHETYPES.values()))
    picks = rng.choice(len(names), size=n_sessions, p=weights / weights.sum())
    sessions = [simulate_one(rng, catalogue, i, names[int(k)]) for i, k in enumerate(picks)]
    sessions.sort(key=lambda session: session.events[0].ts or 0.0)
    return sessions
