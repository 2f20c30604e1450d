"""Targets look after a prefix; features never do."""

from __future__ import annotations

import numpy as np
import pytest

from service.model.encoding import UNKNOWN, Vocabulary, encode_events, pad_left
from service.schema import StoredEvent
from training.data.dataset import encode_sessions, prefix_batch
from training.data.labels import (
    BROWSE,
    BUY,
    HESITATE,
    IGNORE,
    LEAVE,
    intent_labels,
    next_item_targets,
    session_labels,
)
from training.data.simulator import simulate


def event(type_: str, item: str | None = None, ts: float = 1_800_000_000.0) -> StoredEvent:
    return StoredEvent(
        visitor_id="v-1", session_id="s-1", type=type_, item_id=item, category="tv", ts=ts
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["product_view", "add_to_cart", "checkout", "purchase"], [BUY, BUY, BUY, LEAVE]),
        (["product_view", "add_to_cart", "cart_view"], [HESITATE, HESITATE, LEAVE]),
        (["home_view", "product_view", "search"], [BROWSE, BROWSE, LEAVE]),
        (["product_view"], [LEAVE]),
        # Bought, then browsed on: the cart activity lies before the purchase.
        (["add_to_cart", "purchase", "product_view", "search"], [BUY, BROWSE, BROWSE, LEAVE]),
        # Bought, then carted again without buying.
        (
            ["add_to_cart", "purchase", "home_view", "add_to_cart", "help"],
            [BUY, HESITATE, HESITATE, HESITATE, LEAVE],
        ),
    ],
)
def test_intent_rule(types: list[str], expected: list[int]) -> None:
    assert intent_labels(types).tolist() == expected


def test_next_item_skips_itemless_events_and_masks_unknown_items() -> None:
    vocab = Vocabulary(["a", "b"], ["tv"])
    events = [event("product_view", "a"), event("search"), event("product_view", "zzz")]
    events += [event("cart_view"), event("product_view", "b"), event("help")]
    targets = next_item_targets(events, vocab)
    a, b = vocab.item_ids["a"], vocab.item_ids["b"]
    assert targets.tolist() == [IGNORE, IGNORE, b, b, IGNORE, IGNORE]
    assert next_item_targets(events[:2], vocab).tolist() == [IGNORE, IGNORE]
    assert next_item_targets([event("home_view"), events[0]], vocab).tolist() == [a, IGNORE]


def rewrite_future(events: list[StoredEvent], k: int, seed: int) -> list[StoredEvent]:
    """Keep events[:k]; replace everything after it with a different future, and extend it."""
    rng = np.random.default_rng(seed)
    future = []
    ts = events[k - 1].ts or 0.0
    for i in range(len(events) - k + 3):
        ts += float(rng.uniform(0.5, 5000.0))
        type_ = ["purchase", "help", "add_to_cart", "search"][i % 4]
        item = f"sku-{int(rng.integers(600)):05d}" if type_ != "search" else None
        future.append(
            StoredEvent(
                visitor_id=events[0].visitor_id,
                session_id=events[0].session_id,
                type=type_,  # type: ignore[arg-type]
                item_id=item,
                category="garden",
                channel="store",
                ts=ts,
            )
        )
    return events[:k] + future


def test_no_prefix_feature_reads_an_event_after_it() -> None:
    sessions = [s.events for s in simulate(60, seed=5) if len(s.events) >= 4]
    vocab = Vocabulary.build(e for events in sessions for e in events)
    labels_changed = 0
    for n, events in enumerate(sessions):
        encoded = encode_events(events, vocab)
        for k in range(1, len(events)):
            rewritten = rewrite_future(events, k, seed=n * 100 + k)
            encoded_rewritten = encode_events(rewritten, vocab)
            assert encoded_rewritten.shape[0] > encoded.shape[0]
            assert encoded[:k].tobytes() == encoded_rewritten[:k].tobytes()
            assert encoded[:k].tobytes() == encode_events(events[:k], vocab).tobytes()
            assert not np.array_equal(encoded[k:], encoded_rewritten[k : len(events)])
            both = encode_sessions([events, rewritten], vocab)
            pairs = np.array([[0, k], [1, k]])
            batch = prefix_batch(both.encoded, pairs, max_len=50)
            assert batch[0].tobytes() == batch[1].tobytes()
            assert batch.tobytes() == pad_left([encoded[:k], encoded[:k]], 50).tobytes()
            labels_changed += int(
                session_labels(events, vocab)[0][k - 1]
                != session_labels(rewritten, vocab)[0][k - 1]
            )
    # The rewrites changed what happens next, so the targets must have moved.
    assert labels_changed > 20


def test_unknown_items_encode_as_unknown_not_padding() -> None:
    vocab = Vocabulary(["a"], ["tv"])
    encoded = encode_events([event("product_view", "never-seen"), event("home_view")], vocab)
    assert encoded[:, 0].tolist() == [UNKNOWN, UNKNOWN]
    assert (encoded != 0).all()
