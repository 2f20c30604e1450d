"""Events to model inputs: the one encoder that training and serving both call.

A sequence of events becomes an int64 array of shape ``[n, len(FEATURES)]``; a batch
of sequences is left-padded to ``[batch, length, len(FEATURES)]`` so that the last
position of every row is its most recent event. Id 0 is padding in every feature;
id 1 is "unknown" for items and categories.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import get_args

import numpy as np
import numpy.typing as npt

from service.schema import Channel, EventType, StoredEvent

ENCODING_VERSION = 1
PAD = 0
UNKNOWN = 1
FIRST_ID = 2

FEATURES: tuple[str, ...] = (
    "item",
    "type",
    "category",
    "channel",
    "gap",
    "hour",
    "weekday",
)
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
CHANNELS: tuple[str, ...] = get_args(Channel)
INTENTS: tuple[str, ...] = ("buy", "hesitate", "browse", "leave")

# Gap buckets: 1 = first event of a sequence, then log2 seconds since the previous event.
MAX_GAP_LOG2 = 20
GAP_BUCKETS = FIRST_ID + MAX_GAP_LOG2 + 1
HOUR_BUCKETS = 1 + 24
WEEKDAY_BUCKETS = 1 + 7

_TYPE_IDS = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}
_CHANNEL_IDS = {name: i + 1 for i, name in enumerate(CHANNELS)}

Encoded = npt.NDArray[np.int64]


class Vocabulary:
    """Item and category ids, fixed by the training data and shipped in the manifest."""

    __slots__ = ("categories", "category_ids", "item_ids", "items")

    def __init__(self, items: Sequence[str], categories: Sequence[str]) -> None:
        self.items = list(items)
        self.categories = list(categories)
        self.item_ids = {item: i + FIRST_ID for i, item in enumerate(self.items)}
        self.category_ids = {cat: i + FIRST_ID for i, cat in enumerate(self.categories)}

    @classmethod
    def build(cls, events: Iterable[StoredEvent], min_count: int = 1) -> Vocabulary:
        """Items and categories seen at least ``min_count`` times, most frequent first."""
        item_counts: dict[str, int] = {}
        category_counts: dict[str, int] = {}
        for event in events:
            if event.item_id is not None:
                item_counts[event.item_id] = item_counts.get(event.item_id, 0) + 1
            if event.category is not None:
                category_counts[event.category] = category_counts.get(event.category, 0) + 1
        return cls(_by_frequency(item_counts, min_count), _by_frequency(category_counts, min_count))

    @property
    def item_vocab_size(self) -> int:
        return len(self.items) + FIRST_ID

    @property
    def category_vocab_size(self) -> int:
        return len(self.categories) + FIRST_ID

    def item_at(self, index: int) -> str:
        return self.items[index - FIRST_ID]


def _by_frequency(counts: dict[str, int], min_count: int) -> list[str]:
    kept = [(n, key) for key, n in counts.items() if n >= min_count]
    kept.sort(key=lambda pair: (-pair[0], pair[1]))
    return [key for _, key in kept]


def gap_buckets(stamps: npt.NDArray[np.float64]) -> Encoded:
    """Bucket of each event's gap to the one before: 1 for the first, then log2 seconds."""
    buckets = np.full(len(stamps), UNKNOWN, dtype=np.int64)
    if len(stamps) > 1:
        gaps = np.maximum(0.0, np.diff(stamps))
        logs = np.floor(np.log2(1.0 + gaps)).astype(np.int64)
        buckets[1:] = FIRST_ID + np.minimum(MAX_GAP_LOG2, logs)
    return buckets


def encode_events(events: Sequence[StoredEvent], vocab: Vocabulary) -> Encoded:
    """One row per event, in the given order; every event must carry ``ts``.

    Column by column, so that a page view's 50 events cost a few list passes, not 50
    datetime objects. Hour and weekday are UTC.
    """
    stamps = [event.ts for event in events]
    if None in stamps:
        raise ValueError(f"event {stamps.index(None)} has no ts")
    ts = np.asarray(stamps, dtype=np.float64)
    seconds = np.floor(ts).astype(np.int64)
    items, categories = vocab.item_ids, vocab.category_ids
    rows = np.empty((len(events), len(FEATURES)), dtype=np.int64)
    rows[:, 0] = [items.get(e.item_id, UNKNOWN) for e in events]  # type: ignore[arg-type]
    rows[:, 1] = [_TYPE_IDS[e.type] for e in events]
    rows[:, 2] = [categories.get(e.category, UNKNOWN) for e in events]  # type: ignore[arg-type]
    rows[:, 3] = [_CHANNEL_IDS[e.channel] for e in events]
    rows[:, 4] = gap_buckets(ts)
    rows[:, 5] = 1 + (seconds // 3600) % 24
    # 1970-01-01 was a Thursday: weekday 3 when Monday is 0.
    rows[:, 6] = 1 + (seconds // 86_400 + 3) % 7
    return rows


def pad_left(sequences: Sequence[Encoded], max_len: int) -> Encoded:
    """Stack sequences into ``[batch, length, features]``, keeping each one's last events.

    The first kept event of a truncated sequence keeps its gap, so truncation changes
    nothing but the window.
    """
    if not sequences or any(len(seq) == 0 for seq in sequences):
        raise ValueError("every sequence needs at least one event")
    length = min(max_len, max(len(seq) for seq in sequences))
    batch = np.zeros((len(sequences), length, len(FEATURES)), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-length:]
        batch[row, length - len(tail) :] = tail
    return batch
