"""How often the next item is new to the model, measured on the validation sessions."""

from __future__ import annotations

import pytest

from service.model.encoding import Vocabulary
from training.data.dataset import encode_sessions
from training.data.simulator import simulate
from training.model.fit import new_item_share, split_validation


def test_the_share_counts_validation_items_that_no_fitting_session_named() -> None:
    sessions = [s.events for s in simulate(400, seed=8)]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    fit_ids, val_ids = split_validation(len(sessions))
    seen = {e.item_id for s in fit_ids for e in sessions[s] if e.item_id is not None}
    named = [e.item_id for s in val_ids for e in sessions[s] if e.item_id is not None]
    expected = sum(item not in seen for item in named) / len(named)
    assert new_item_share(encode_sessions(sessions, vocab)) == pytest.approx(expected)
    # The simulator's catalogue is small, so some validation items are still first seen.
    assert 0.0 < expected < 0.2
    few = [s.events for s in simulate(10, seed=8)]
    assert new_item_share(encode_sessions(few, vocab)) == 0.0, "too few to hold any out"
