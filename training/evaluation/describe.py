"""The data table at the top of each `witryna evaluate` report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from service.model.encoding import Vocabulary
from service.schema import StoredEvent
from training.data.dataset import EncodedSessions
from training.data.labels import BUY, IGNORE
from training.evaluation.comparison import Truth


def describe(
    source: str,
    train_sessions: Sequence[Sequence[StoredEvent]],
    test_sessions: Sequence[Sequence[StoredEvent]],
    train_data: EncodedSessions,
    truth: Truth,
    vocab: Vocabulary,
) -> dict[str, Any]:
    split_ts = min(events[0].ts or 0.0 for events in test_sessions)
    train_buy = np.concatenate(train_data.intents) == BUY
    return {
        "dataset": source,
        "sessions (train / test)": f"{len(train_sessions)} / {len(test_sessions)}",
        "events (train / test)": f"{sum(map(len, train_sessions))} / "
        f"{sum(map(len, test_sessions))}",
        "split: first test session starts": datetime.fromtimestamp(split_ts, UTC).isoformat(),
        "test prefixes": len(truth.buy),
        "test prefixes that buy later (label buy)": int(truth.buy.sum()),
        "test prefixes ending in add_to_cart (of which buy)": f"{int(truth.after_cart.sum())} "
        f"({int((truth.after_cart & truth.buy).sum())})",
        "test prefixes with a next item in the vocabulary": int((truth.next_item != IGNORE).sum()),
        "P(buy) base rate (train prefixes / test prefixes)": f"{train_buy.mean():.4f} / "
        f"{truth.buy.mean():.4f}",
        "vocabulary items": len(vocab.items),
    }
