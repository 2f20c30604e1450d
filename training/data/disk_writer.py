"""The write side of the disk cache (disk_dataset.py describes its files): sessions streamed
into flat arrays by provisional ids, then rewritten in place to the training vocabulary's ids.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from service.cli.progress import bar as progress_bar
from service.model.encoding import FEATURES, FIRST_ID, UNKNOWN, Vocabulary, encode_events
from service.schema import StoredEvent
from training.data.labels import IGNORE, session_labels

_ITEM, _CATEGORY = FEATURES.index("item"), FEATURES.index("category")
# Rows per write and per remap step: large enough for fast numpy, small next to memory.
_CHUNK_ROWS = 1 << 16


class _Writer:
    """Provisional-id encoding of sessions, appended to the files a chunk at a time."""

    def __init__(self, folder: Path) -> None:
        # Grows with every unseen item or category: ids in order of first sight.
        self.vocab = Vocabulary([], [])
        self.files: dict[str, BinaryIO] = {
            name: (folder / f"{name}.bin").open("wb")
            for name in ("events", "intents", "next_items")
        }
        self.pending: dict[str, list[np.ndarray]] = {name: [] for name in self.files}
        self.rows = 0
        # Compact per-session columns: 8 bytes each rather than a Python object.
        self.lengths = array("q")
        self.start_ts = array("d")

    def add(self, events: Sequence[StoredEvent]) -> None:
        for event in events:
            self._see(event)
        intents, next_items = session_labels(events, self.vocab)
        for name, column in (
            ("events", encode_events(events, self.vocab)),
            ("intents", intents),
            ("next_items", next_items),
        ):
            self.pending[name].append(column)
        self.lengths.append(len(events))
        self.start_ts.append(events[0].ts or 0.0)
        self.rows += len(events)
        if self.rows >= _CHUNK_ROWS:
            self.flush()

    def _see(self, event: StoredEvent) -> None:
        v = self.vocab
        if event.item_id is not None and event.item_id not in v.item_ids:
            v.item_ids[event.item_id] = FIRST_ID + len(v.items)
            v.items.append(event.item_id)
        if event.category is not None and event.category not in v.category_ids:
            v.category_ids[event.category] = FIRST_ID + len(v.categories)
            v.categories.append(event.category)

    def flush(self) -> None:
        for name, arrays in self.pending.items():
            if arrays:
                np.concatenate(arrays).astype(np.int64, copy=False).tofile(self.files[name])
            arrays.clear()
        self.rows = 0

    def close(self) -> None:
        self.flush()
        for handle in self.files.values():
            handle.close()


def write_sessions(
    sessions: Iterable[Sequence[StoredEvent]], folder: Path, holdout: float, progress: bool
) -> None:
    writer = _Writer(folder)
    try:
        for events in sessions:
            if events:
                writer.add(events)
    finally:
        writer.close()
    offsets = np.zeros(len(writer.lengths) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(writer.lengths, dtype=np.int64), out=offsets[1:])
    start_ts = np.frombuffer(writer.start_ts, dtype=np.float64).copy()
    del writer.lengths, writer.start_ts
    # train.split_by_time's order: a stable sort by start time, the newest share held out.
    order = np.argsort(start_ts, kind="stable")
    n_train = len(order) - round(len(order) * holdout)
    train = np.zeros(len(order), dtype=np.bool_)
    train[order[:n_train]] = True
    vocab = _finalise(folder, offsets, train, writer.vocab, progress)
    np.save(folder / "offsets.npy", offsets)
    np.save(folder / "start_ts.npy", start_ts)
    np.save(folder / "order.npy", order)
    lengths = np.diff(offsets)
    _write_pairs(folder / "train_pairs.bin", lengths[order[:n_train]])
    _write_pairs(folder / "heldout_pairs.bin", lengths[order[n_train:]])
    meta = {
        "n_events": int(offsets[-1]),
        "n_sessions": len(order),
        "n_train": n_train,
        "holdout": holdout,
        "items": vocab.items,
        "categories": vocab.categories,
    }
    (folder / "meta.json").write_text(json.dumps(meta))


def _write_pairs(path: Path, lengths: npt.NDArray[np.int64]) -> None:
    """``prefix_pairs`` of sessions of these lengths, a chunk of sessions at a time."""
    with path.open("wb") as handle:
        for first in range(0, len(lengths), _CHUNK_ROWS):
            part = lengths[first : first + _CHUNK_ROWS]
            sessions = np.repeat(np.arange(first, first + len(part), dtype=np.int64), part)
            starts = np.repeat(np.cumsum(part) - part, part)
            k = np.arange(len(sessions), dtype=np.int64) - starts + 1
            np.stack([sessions, k], axis=1).astype(np.int64, copy=False).tofile(handle)


def _finalise(
    folder: Path,
    offsets: npt.NDArray[np.int64],
    train: npt.NDArray[np.bool_],
    seen: Vocabulary,
    progress: bool,
) -> Vocabulary:
    """Count items and categories in the training sessions, then rewrite the provisional
    ids in place: to their rank by frequency, or unknown (``IGNORE`` as a target) if the
    training sessions never name them."""
    n_events = int(offsets[-1])
    if not n_events:
        return Vocabulary([], [])
    mapped = np.memmap(folder / "events.bin", dtype=np.int64, mode="r+")
    events = mapped.reshape(n_events, len(FEATURES))
    next_items = np.memmap(folder / "next_items.bin", dtype=np.int64, mode="r+")
    item_counts = np.zeros(FIRST_ID + len(seen.items), dtype=np.int64)
    category_counts = np.zeros(FIRST_ID + len(seen.categories), dtype=np.int64)
    with progress_bar(
        total=2 * n_events, desc="vocabulary", unit="row", enabled=progress, unit_scale=True
    ) as bar:
        for rows in _chunks(offsets, train):
            block = events[rows.start : rows.stop]
            mask = rows.train
            item_counts += np.bincount(block[mask, _ITEM], minlength=len(item_counts))
            category_counts += np.bincount(block[mask, _CATEGORY], minlength=len(category_counts))
            bar.update(len(block))
        vocab = Vocabulary(
            _ranked(item_counts, seen.items), _ranked(category_counts, seen.categories)
        )
        items_to = _lookup(seen.items, vocab.item_ids, UNKNOWN)
        categories_to = _lookup(seen.categories, vocab.category_ids, UNKNOWN)
        targets_to = _lookup(seen.items, vocab.item_ids, IGNORE)
        for rows in _chunks(offsets, train):
            block = events[rows.start : rows.stop]
            block[:, _ITEM] = items_to[block[:, _ITEM]]
            block[:, _CATEGORY] = categories_to[block[:, _CATEGORY]]
            targets = next_items[rows.start : rows.stop]
            named = targets != IGNORE
            targets[named] = targets_to[targets[named]]
            bar.update(len(block))
    mapped.flush()
    next_items.flush()
    return vocab


@dataclass(frozen=True)
class _Rows:
    start: int
    stop: int
    train: npt.NDArray[np.bool_]  # per row: whether its session is a training session


def _chunks(offsets: npt.NDArray[np.int64], train: npt.NDArray[np.bool_]) -> Iterator[_Rows]:
    """Runs of whole sessions of about ``_CHUNK_ROWS`` rows."""
    first = 0
    while first < len(train):
        last = int(np.searchsorted(offsets, offsets[first] + _CHUNK_ROWS, side="right")) - 1
        last = min(max(last, first + 1), len(train))
        lengths = np.diff(offsets[first : last + 1])
        yield _Rows(int(offsets[first]), int(offsets[last]), np.repeat(train[first:last], lengths))
        first = last


def _ranked(counts: npt.NDArray[np.int64], names: list[str]) -> list[str]:
    """Names seen in training, most frequent first, ties by name: ``Vocabulary.build``'s order."""
    kept = [(int(counts[FIRST_ID + i]), name) for i, name in enumerate(names)]
    kept = [(n, name) for n, name in kept if n > 0]
    kept.sort(key=lambda pair: (-pair[0], pair[1]))
    return [name for _, name in kept]


def _lookup(names: list[str], final: dict[str, int], missing: int) -> npt.NDArray[np.int64]:
    """Provisional id -> final id; padding and unknown map to themselves."""
    table = np.full(FIRST_ID + len(names), missing, dtype=np.int64)
    table[:FIRST_ID] = np.arange(FIRST_ID)
    for i, name in enumerate(names):
        table[FIRST_ID + i] = final.get(name, missing)
    return table
