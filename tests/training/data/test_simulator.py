"""The simulator is deterministic and its archetypes really behave differently."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from training.data.catalogue import ITEMS_PER_CATEGORY, build_catalogue
from training.data.simulator import ARCHETYPES, SimSession, simulate


@pytest.fixture(scope="module")
def sessions() -> list[SimSession]:
    return simulate(1500, seed=11)


def by_archetype(sessions: list[SimSession], archetype: str) -> list[SimSession]:
    found = [s for s in sessions if s.archetype == archetype]
    assert len(found) > 50, archetype
    return found


def purchase_rate(sessions: list[SimSession]) -> float:
    return float(np.mean([any(e.type == "purchase" for e in s.events) for s in sessions]))


def test_same_seed_same_sessions_other_seed_other_sessions() -> None:
    assert simulate(40, seed=3) == simulate(40, seed=3)
    assert simulate(40, seed=3) != simulate(40, seed=4)


def test_events_are_complete_and_time_ordered(sessions: list[SimSession]) -> None:
    for session in sessions:
        assert session.archetype in ARCHETYPES
        assert session.events
        assert len({(e.visitor_id, e.session_id) for e in session.events}) == 1
        times = [e.ts for e in session.events]
        assert all(t is not None for t in times)
        assert all(a < b for a, b in itertools.pairwise(times))
        for event in session.events:
            assert event.channel in ("web", "app")
            if event.item_id is not None:
                assert event.category is not None
                assert event.price is not None
                assert event.price > 0


def test_archetypes_differ(sessions: list[SimSession]) -> None:
    buyers = by_archetype(sessions, "buyer")
    hesitant = by_archetype(sessions, "hesitant")
    browsers = by_archetype(sessions, "browser")
    helpers = by_archetype(sessions, "help_seeker")
    leavers = by_archetype(sessions, "leaver")
    assert purchase_rate(buyers) > 0.8
    assert 0.03 < purchase_rate(hesitant) < 0.35
    assert purchase_rate(browsers) == 0.0
    assert 0.15 < purchase_rate(helpers) < 0.6
    assert all(any(e.type == "help" for e in s.events) for s in helpers)
    assert np.mean([len(s.events) for s in leavers]) < 3.5
    assert np.mean([len(s.events) for s in browsers]) > 2 * np.mean(
        [len(s.events) for s in leavers]
    )
    browser_categories = np.mean([len({e.category for e in s.events} - {None}) for s in browsers])
    buyer_categories = np.mean([len({e.category for e in s.events} - {None}) for s in buyers])
    assert browser_categories > buyer_categories + 1
    assert mean_gap(browsers) > 2 * mean_gap(buyers)


def mean_gap(sessions: list[SimSession]) -> float:
    gaps = [
        b.ts - a.ts
        for s in sessions
        for a, b in itertools.pairwise(s.events)
        if a.ts is not None and b.ts is not None
    ]
    return float(np.median(gaps))


def test_catalogue_shape_popularity_and_neighbours() -> None:
    catalogue = build_catalogue()
    assert len(catalogue.items) == 600
    assert len(catalogue.categories) == 24
    assert catalogue.items[42] == "sku-00042"
    assert catalogue.popularity.sum() == pytest.approx(1.0)
    top_tenth = np.sort(catalogue.popularity)[::-1][: len(catalogue.items) // 10].sum()
    assert top_tenth > 0.4
    rng = np.random.default_rng(0)
    for item in catalogue.items[:: ITEMS_PER_CATEGORY // 2]:
        neighbour = catalogue.neighbour(rng, item)
        assert neighbour != item
        assert catalogue.category_of[neighbour] == catalogue.category_of[item]
    assert catalogue.items_in("tv") == list(catalogue.items[:ITEMS_PER_CATEGORY])


def test_next_item_is_often_a_neighbour(sessions: list[SimSession]) -> None:
    catalogue = build_catalogue()
    steps = [
        abs(catalogue.index_of[b.item_id] - catalogue.index_of[a.item_id])
        for s in sessions
        for a, b in itertools.pairwise(s.events)
        if a.type == "product_view" and b.type == "product_view" and a.item_id and b.item_id
    ]
    assert np.mean([1 <= step <= 3 for step in steps]) > 0.5
