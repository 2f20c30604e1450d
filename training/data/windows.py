"""Training windows: every position of every session a target, as SASRec trains.

A window is a run of at most ``max_len`` consecutive events of one session, given to the
model whole; the state at each of its positions is what serving computes for the prefix
that ends there (the attention is causal and reads distances, not absolute positions).
A session longer than ``max_len`` is covered by windows half a window apart, and each
prefix is a target in one window only: the first where it has at least half a window of
history, or the first window for the session's opening prefixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from service.model.encoding import FIRST_ID, UNKNOWN, pad_left
from training.data.dataset import TrainingData, length_bucketed_batches
from training.data.labels import IGNORE

# [n, 3]: session index, end (prefix length of the window's last event), first target prefix
Windows = npt.NDArray[np.int64]
Ints = npt.NDArray[np.int64]


def session_windows(lengths: Ints, max_len: int) -> Windows:
    """The windows of sessions of these ``lengths``, session by session."""
    stride = max(1, max_len // 2)
    rows: list[tuple[int, int, int]] = []
    for session, n in enumerate(int(n) for n in lengths):
        end = min(n, max_len)
        rows.append((session, end, 1))
        while end < n:
            step = min(n, end + stride)
            rows.append((session, step, end + 1))
            end = step
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def lengths_of(data: TrainingData) -> Ints:
    """Events per session; memory-mapped sessions keep theirs (data/disk_dataset.py)."""
    stored = getattr(data.encoded, "lengths", None)
    if stored is not None:
        return np.asarray(stored, dtype=np.int64)
    return np.array([len(seq) for seq in data.encoded], dtype=np.int64)


def window_batches(
    windows: Windows, batch_size: int, rng: np.random.Generator
) -> Iterator[Windows]:
    """Shuffled batches of windows of similar length, so that little compute is padding: a
    window's end orders them by length, as every window that ends past ``max_len`` is full."""
    return length_bucketed_batches(windows, batch_size, rng)


def next_categories(encoded: Ints) -> Ints:
    """Per prefix k at index k-1: the next category the visitor turns to, the category of
    the next event that names one the vocabulary knows (an item the vocabulary lacks still
    names its category, so it teaches the category head); ``IGNORE`` where none follows.
    The encoding cannot tell an event without an item from one with an unknown item, so
    any event with a category counts: a search in a category is interest in it too."""
    named = np.flatnonzero(encoded[:, 2] >= FIRST_ID)
    upcoming = np.searchsorted(named, np.arange(1, len(encoded) + 1))
    found = upcoming < len(named)
    targets = np.full(len(encoded), IGNORE, dtype=np.int64)
    targets[found] = encoded[named[upcoming[found]], 2]
    return targets


@dataclass
class WindowBatch:
    """Inputs and per-position targets; ``IGNORE`` where a position is not a target."""

    events: Ints  # [B, L, F]
    intents: Ints  # [B, L]
    next_items: Ints  # [B, L]
    sessions: Ints  # [B]
    arm: Ints  # [B, L] logged treatment arm at the offer prefix
    bought: npt.NDArray[np.float32]  # [B, L]
    offered: npt.NDArray[np.bool_]  # [B, L] the offer prefix of a logged treatment
    items: Ints  # [B, L] the input's items before item dropout: what the copy source sees
    next_categories: Ints  # [B, L]


def window_batch(
    data: TrainingData,
    windows: Windows,
    max_len: int,
    item_dropout: float = 0.0,
    rng: np.random.Generator | None = None,
) -> WindowBatch:
    """``item_dropout``: the share of input items hidden as "unknown" from the encoder
    (targets stay, and the copy and co-visitation sources still see every item: serving
    hides none, and a source that cannot reach its item would learn to be trusted less)."""
    starts = np.maximum(0, windows[:, 1] - max_len)
    rows = [data.encoded[s][a:e] for (s, e, _), a in zip(windows, starts, strict=True)]
    events = pad_left(rows, max_len)
    length = events.shape[1]
    shape = (len(windows), length)
    intents, next_items = np.full(shape, IGNORE), np.full(shape, IGNORE)
    categories = np.full(shape, IGNORE)
    arm, bought = np.zeros(shape, np.int64), np.zeros(shape, np.float32)
    offered = np.zeros(shape, np.bool_)
    treatments = data.treatments
    for row, (s, end, first) in enumerate(windows):
        # Position of prefix k in this row: length - (end - k) - 1.
        ks = np.arange(first, end + 1)
        cols = length - (end - ks) - 1
        intents[row, cols] = data.intents[s][ks - 1]
        next_items[row, cols] = data.next_items[s][ks - 1]
        categories[row, cols] = next_categories(np.asarray(data.encoded[s]))[ks - 1]
        logged = treatments[s] if s < len(treatments) else None
        if logged is not None and first <= logged.offer_at <= end:
            col = length - (end - logged.offer_at) - 1
            arm[row, col], bought[row, col] = int(logged.treated), float(logged.purchased)
            offered[row, col] = True
    items = events[..., 0].copy()
    if item_dropout > 0 and rng is not None:
        hide = (rng.random(shape) < item_dropout) & (events[..., 0] > UNKNOWN)
        events[..., 0][hide] = UNKNOWN
    sessions = windows[:, 0].copy()
    return WindowBatch(
        events, intents, next_items, sessions, arm, bought, offered, items, categories
    )
