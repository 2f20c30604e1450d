"""Training windows: every prefix of every session a target exactly once, as serving reads it."""

from __future__ import annotations

import numpy as np

from service.model.encoding import UNKNOWN, Vocabulary, pad_left
from training.data.dataset import encode_sessions, prefix_pairs, prefix_targets
from training.data.labels import IGNORE
from training.data.simulator import simulate
from training.data.treatment import logged_treatments
from training.data.windows import lengths_of, session_windows, window_batch, window_batches


def test_long_sessions_are_covered_by_overlapping_windows_each_prefix_once() -> None:
    windows = session_windows(np.array([3, 10, 23]), max_len=8)
    by_session = {s: windows[windows[:, 0] == s] for s in range(3)}
    assert by_session[0].tolist() == [[0, 3, 1]]
    assert by_session[1].tolist() == [[1, 8, 1], [1, 10, 9]]
    assert by_session[2].tolist() == [[2, 8, 1], [2, 12, 9], [2, 16, 13], [2, 20, 17], [2, 23, 21]]
    for s, n in enumerate((3, 10, 23)):
        targets = [k for _, end, first in by_session[s] for k in range(first, end + 1)]
        assert targets == list(range(1, n + 1))
    # Every later window gives its first target at least half a window of history.
    later = windows[windows[:, 2] > 1]
    assert (later[:, 2] - 1 - np.maximum(0, later[:, 1] - 8) >= 4).all()


def test_a_batch_holds_each_prefix_target_where_serving_ends_it() -> None:
    sims = simulate(40, seed=4)
    sessions = [s.events for s in sims]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    data = encode_sessions(sessions, vocab, logged_treatments(sims))
    max_len = 6
    windows = session_windows(lengths_of(data), max_len)
    batch = window_batch(data, windows, max_len)
    pairs = prefix_pairs(data.encoded)
    intents, next_items = prefix_targets(data, pairs)
    found = 0
    for row, (s, end, first) in enumerate(windows):
        start = max(0, end - max_len)
        for k in range(first, end + 1):
            col = batch.events.shape[1] - (end - k) - 1
            index = int(np.flatnonzero((pairs[:, 0] == s) & (pairs[:, 1] == k))[0])
            assert batch.intents[row, col] == intents[index]
            assert batch.next_items[row, col] == next_items[index]
            # What the window holds up to this position is the prefix, cut as serving cuts.
            served = pad_left([data.encoded[s][:k]], max_len)[0]
            held = batch.events[row, : col + 1][-len(served) :]
            assert (held[-(k - start) :] == served[-(k - start) :]).all()
            found += 1
            offer = sims[s].offer_at
            assert batch.offered[row, col] == (k == offer and data.treatments[s] is not None)
    assert found == len(pairs)
    assert int(batch.offered.sum()) == sum(t is not None for t in data.treatments)


def test_item_dropout_hides_items_from_the_encoder_only() -> None:
    sessions = [s.events for s in simulate(30, seed=5)]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    data = encode_sessions(sessions, vocab)
    windows = session_windows(lengths_of(data), 50)
    plain = window_batch(data, windows, 50)
    rng = np.random.default_rng(0)
    dropped = window_batch(data, windows, 50, item_dropout=0.5, rng=rng)
    hidden = (dropped.events[..., 0] == UNKNOWN) & (plain.events[..., 0] > UNKNOWN)
    share = hidden.sum() / (plain.events[..., 0] > UNKNOWN).sum()
    assert 0.4 < share < 0.6
    assert (dropped.next_items == plain.next_items).all()
    assert (dropped.items == plain.events[..., 0]).all(), "the copy source still sees them"
    assert (dropped.events[..., 1:] == plain.events[..., 1:]).all()


def test_batches_cover_every_window_once() -> None:
    windows = session_windows(np.arange(1, 200), max_len=16)
    batches = list(window_batches(windows, 32, np.random.default_rng(1)))
    seen = np.concatenate(batches)
    assert len(seen) == len(windows)
    assert {tuple(w) for w in seen} == {tuple(w) for w in windows}


def test_the_category_target_is_the_next_category_named_even_by_an_unknown_item() -> None:
    sessions = [s.events for s in simulate(30, seed=6)]
    events = max(sessions, key=len)
    # A vocabulary without the session's last-named item: its category must still count.
    last = next(e for e in reversed(events) if e.item_id is not None)
    others = [e for s in sessions for e in s if e.item_id != last.item_id]
    vocab = Vocabulary.build(others)
    data = encode_sessions([events], vocab)
    batch = window_batch(data, session_windows(lengths_of(data), len(events)), len(events))
    expected = []
    for k in range(1, len(events) + 1):
        named = (e.category for e in events[k:] if e.category in vocab.category_ids)
        upcoming = next(named, None)
        expected.append(IGNORE if upcoming is None else vocab.category_ids[upcoming])
    assert batch.next_categories[0, -len(events) :].tolist() == expected
    assert UNKNOWN in batch.events[0, :, 0].tolist(), "the left-out item is unknown"
    assert expected.count(IGNORE) < len(expected)
