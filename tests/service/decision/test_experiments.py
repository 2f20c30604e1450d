"""Experiments: sticky, even assignment, and results that recover a known uplift."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.decision.experiments import assign, bucket, wilson
from service.decision.policy import load, parse
from tests._support.stack import SECRET, Backend, Service, on_one_redis, wait_for
from training.data.simulator import simulate

# Chi-square critical value, 1 degree of freedom, p = 0.001.
CHI2_1DF_999 = 10.828
SEED = 20261123

BANNER_POLICY = """
version = "banner-test"
[pages.default]
slots = ["offer"]

[[experiments]]
id = "banner-test"
arms = { control = 0.5, incentive = 0.5 }

[[slots.offer.variants]]
name = "free_shipping_banner"
priority = 10
experiment = "banner-test"
arms = ["incentive"]

[[slots.offer.variants]]
name = "none"
kind = "none"
"""


def test_assignment_is_sticky_and_even_over_100k_visitors() -> None:
    policy = load(None)
    visitors = [f"visitor-{i}" for i in range(100_000)]
    arms = Counter(assign(policy, v)["cart-incentive"] for v in visitors)
    assert set(arms) == {"control", "incentive", "holdout"}
    assert abs(arms["holdout"] / 100_000 - policy.holdout) < 0.004
    n = arms["control"] + arms["incentive"]
    chi2 = sum((arms[a] - n / 2) ** 2 / (n / 2) for a in ("control", "incentive"))
    assert chi2 < CHI2_1DF_999, arms
    assert all(assign(policy, v) == assign(policy, v) for v in visitors[:1000])


def test_arms_of_different_experiments_are_independent() -> None:
    a = [bucket("exp-a", f"v{i}") < 0.5 for i in range(40_000)]
    b = [bucket("exp-b", f"v{i}") < 0.5 for i in range(40_000)]
    both = sum(x and y for x, y in zip(a, b, strict=True))
    assert abs(both / 40_000 - 0.25) < 0.01


def test_wilson_interval_holds_the_rate() -> None:
    low, high = wilson(30, 100)
    assert low < 0.3 < high
    assert (round(low, 3), round(high, 3)) == (0.219, 0.396)
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.fixture
def banner_service(tmp_path: Path, backend: Backend) -> Iterator[str]:
    parse(BANNER_POLICY, "banner.toml")
    path = tmp_path / "banner.toml"
    path.write_text(BANNER_POLICY)
    with Service(backend.url, WITRYNA_POLICY_PATH=str(path), **backend.env) as service:
        yield service.url


def test_exposures_and_conversions_are_counted_per_arm(http: httpx.Client) -> None:
    exposed: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    purchases = []
    for i in range(60):
        view = {"visitor_id": f"count-{i}", "page": {"type": "cart"}}
        arm = http.post("/v1/page-views", json=view).json()["experiments"]["cart-incentive"]
        exposed[arm] += 1
        if i % 3 == 0:
            purchases.append({"visitor_id": f"count-{i}", "type": "purchase", "item_id": "sku-1"})
            converted[arm] += 1
    # A purchase without an exposure is no conversion.
    purchases.append({"visitor_id": "never-exposed", "type": "purchase", "item_id": "sku-1"})
    assert http.post("/v1/events", json={"events": purchases}).status_code == 202
    expected = {arm: (exposed[arm], converted[arm]) for arm in ("control", "incentive", "holdout")}

    def tallies() -> dict[str, tuple[int, int]]:
        arms = http.get("/v1/experiments/cart-incentive").json()["arms"]
        return {a["arm"]: (a["exposures"], a["conversions"]) for a in arms}

    wait_for(lambda: tallies() == expected)
    assert tallies() == expected
    assert min(exposed["control"], exposed["incentive"]) > 0, exposed


# Thousands of page views: the per-arm counting it leans on runs on the cluster above.
@on_one_redis
def test_a_simulated_experiment_recovers_the_known_uplift(
    banner_service: str, redis_client: object
) -> None:
    print(f"simulator and outcome seed {SEED}")
    shoppers = simulate(3000, seed=SEED)
    true_uplift = sum(s.p1 - s.p0 for s in shoppers) / len(shoppers)
    rng = random.Random(SEED)
    purchases = []
    with httpx.Client(headers=SECRET, base_url=banner_service, timeout=10.0) as http:

        def banner_shown(i: int) -> bool:
            view = {"visitor_id": f"exp-{i}", "page": {"type": "cart"}}
            decision = http.post("/v1/page-views", json=view).json()
            shown: bool = decision["slots"]["offer"]["variant"] == "free_shipping_banner"
            assert shown == (decision["experiments"]["banner-test"] == "incentive")
            return shown

        # Eight shoppers at a time, as a shop has them; the outcomes drawn in order after.
        with ThreadPoolExecutor(8) as pool:
            shown_to = list(pool.map(banner_shown, range(len(shoppers))))
        for i, (shopper, shown) in enumerate(zip(shoppers, shown_to, strict=True)):
            visitor = f"exp-{i}"
            if rng.random() < (shopper.p1 if shown else shopper.p0):
                purchases.append({"visitor_id": visitor, "type": "purchase", "item_id": "sku-1"})
        for start in range(0, len(purchases), 1000):
            batch = {"events": purchases[start : start + 1000]}
            assert http.post("/v1/events", json=batch).status_code == 202

        def counted() -> bool:
            arms = http.get("/v1/experiments/banner-test").json()["arms"]
            return sum(a["exposures"] for a in arms) == len(shoppers) and sum(
                a["conversions"] for a in arms
            ) == len(purchases)

        wait_for(counted)
        result = http.get("/v1/experiments/banner-test").json()
        assert http.get("/v1/experiments/nothing").status_code == 404
    arms = {a["arm"]: a for a in result["arms"]}
    assert sum(a["conversions"] for a in arms.values()) == len(purchases)
    low, high = arms["incentive"]["uplift_ci95"]
    measured = arms["incentive"]["uplift"]
    print(f"true uplift {true_uplift:.4f}, measured {measured:.4f} [{low:.4f}, {high:.4f}]")
    assert low <= true_uplift <= high
    assert low > 0, "the simulator's incentive works; the experiment must see it"
    assert arms["control"]["uplift"] is None
