"""The rule that ranks catalogue items the model has not seen, through their category."""

from __future__ import annotations

import pytest

from service.decision.newcomers import newcomer_scores


def test_a_newcomer_gets_the_share_of_its_category_split_among_its_peers() -> None:
    probs = [0.0, 0.0, 0.6, 0.3, 0.1]
    ranked = newcomer_scores(probs, 0.2, {2: ["a", "b"], 3: ["c"], 4: ["d"]}, limit=10)
    assert ranked == [
        ("a", pytest.approx(0.06)),
        ("b", pytest.approx(0.06)),
        ("c", pytest.approx(0.06)),
        ("d", pytest.approx(0.02)),
    ]
    assert sum(score for _, score in ranked) == pytest.approx(0.2)


def test_limit_share_and_unknown_categories_bound_what_is_offered() -> None:
    probs = [0.0, 0.0, 0.9, 0.1]
    newcomers = {2: ["a", "b", "c"], 3: ["d"], 9: ["never"]}
    assert [item for item, _ in newcomer_scores(probs, 0.5, newcomers, limit=2)] == ["a", "b"]
    assert newcomer_scores(probs, 0.0, newcomers, limit=5) == []
    assert "never" not in dict(newcomer_scores(probs, 0.5, newcomers, limit=10))


def test_a_sampled_category_splits_its_chance_among_all_its_newcomers() -> None:
    probs = [0.0, 0.0, 0.6, 0.3]
    # The service lists at most a few of a category's newcomers, and counts them all.
    sampled = {2: ["a", "b"], 3: ["c"]}
    ranked = newcomer_scores(probs, 0.2, sampled, limit=10, counts={2: 100, 3: 1})
    assert ranked == [("c", pytest.approx(0.06)), ("a", pytest.approx(0.0012)),
                      ("b", pytest.approx(0.0012))]  # fmt: skip
    # Fewer counted than listed: the list is what there is.
    assert newcomer_scores(probs, 0.2, sampled, limit=1, counts={2: 1}) == [
        ("a", pytest.approx(0.06))
    ]


def test_only_the_best_categories_are_expanded_and_ties_keep_their_order() -> None:
    probs = [0.0, 0.0] + [0.01] * 500 + [0.5]
    many = {category: [f"item-{category}-{n}" for n in range(50)] for category in range(2, 503)}
    ranked = newcomer_scores(probs, 1.0, many, limit=3)
    assert ranked == [(f"item-502-{n}", pytest.approx(0.01)) for n in range(3)]
