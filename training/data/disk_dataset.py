"""Encoded sessions on disk, for training on files larger than memory.

One streaming pass over the file encodes every session through the same encoder as
``encode_sessions`` into flat arrays appended to files in a cache folder:

- ``events.bin``: int64 ``[total_events, len(FEATURES)]``
- ``intents.bin``, ``next_items.bin``: int64 ``[total_events]``, the prefix targets
- ``offsets.npy``: int64 ``[n_sessions + 1]``; session ``s`` is rows ``offsets[s]:offsets[s+1]``
- ``start_ts.npy``: float64 ``[n_sessions]``, for the split by time
- ``train_pairs.bin``, ``heldout_pairs.bin``: int64 ``[prefixes, 2]``, ``prefix_pairs`` of
  each side, so that training holds no per-prefix array (16 bytes a prefix) in memory

The vocabulary must come from the training sessions only, and which sessions those are is
known only once every start time has been seen. So items and categories are first encoded
by provisional ids (order of first sight); afterwards a second pass, over the encoded arrays
rather than the file, counts them in the training sessions and rewrites them in place to
the final ids, which are exactly those ``Vocabulary.build`` gives on the same sessions.
Memory holds a float and an int per session, the item and category strings, and a chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from service.encoding import (
    ENCODING_VERSION,
    FEATURES,
    FIRST_ID,
    UNKNOWN,
    Vocabulary,
    encode_events,
)
from service.schema import StoredEvent
from training.data.adapters import read_sessions
from training.data.adapters.sessions import MAX_OPEN, REORDER
from training.data.dataset import EncodedSessions
from training.data.labels import IGNORE, session_labels

CACHE_FORMAT = 2  # 2: prefix pairs on disk
DEFAULT_CACHE_ROOT = Path("build/cache")
_ITEM, _CATEGORY = FEATURES.index("item"), FEATURES.index("category")
# Rows per write and per remap step: large enough for fast numpy, small next to memory.
_CHUNK_ROWS = 1 << 16


class Ragged:
    """Rows of a flat array, session by session, in the order ``order`` names them; indexes
    like the list of per-session arrays that ``EncodedSessions`` holds."""

    def __init__(
        self,
        flat: np.ndarray,
        offsets: npt.NDArray[np.int64],
        order: np.ndarray,
        pairs: np.ndarray | None = None,
    ):
        # A plain ndarray view of the memmap: slicing a memmap subclass costs more per call.
        self.flat = np.asarray(flat)
        self.offsets = offsets
        self.order = np.asarray(order, dtype=np.int64)
        # ``prefix_pairs`` of these sessions, memory-mapped; it returns them as they are.
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> np.ndarray:
        s = self.order[index]
        return self.flat[self.offsets[s] : self.offsets[s + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Length of each session, without touching the data (``prefix_pairs`` reads it)."""
        return np.diff(self.offsets)[self.order]


@dataclass
class DiskSessions:
    """``EncodedSessions``' interface (``encoded``, ``intents``, ``next_items``,
    ``treatments``) over memory-mapped arrays: batches are read from disk as they are built.
    Files carry no logged treatment, so ``treatments`` is empty (no uplift loss)."""

    encoded: Ragged
    intents: Ragged
    next_items: Ragged
    treatments: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.encoded)


# In memory (simulated sessions) or memory-mapped (files): the same interface.
TrainingData = EncodedSessions | DiskSessions


@dataclass
class DiskEncoding:
    """The training and held-out sessions of one file, and the training vocabulary."""

    vocab: Vocabulary
    train: DiskSessions
    heldout: DiskSessions
    folder: Path


def cache_folder(paths: Sequence[Path], key: Sequence[object], root: Path) -> Path:
    """``root/<hash>``: of the files' paths, sizes and mtimes and of what else decides the
    encoding (``key``), so that an edited file or a new holdout is encoded afresh."""
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    blob = json.dumps([CACHE_FORMAT, ENCODING_VERSION, stats, list(key)], default=str)
    return root / hashlib.sha256(blob.encode()).hexdigest()[:20]


def encode_file(
    paths: Path | Sequence[Path],
    fmt: str,
    holdout: float,
    mapping: Sequence[str] | None = None,
    cache_root: Path = DEFAULT_CACHE_ROOT,
    progress: bool = True,
    max_open: int = MAX_OPEN,
    reorder: int = REORDER,
) -> DiskEncoding:
    """The sessions of ``paths`` (read as ``read_sessions`` reads them) encoded on disk, the
    newest ``holdout`` share held out; raises ``AdapterError`` on a bad request.

    Memory is bounded by the sessioniser's buffers, ``max_open + reorder`` sessions of
    events (see adapters/sessions.py), not by the file."""
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    # Checks the files and the format now; reads nothing until iterated (not on a cache hit).
    sessions = read_sessions(
        paths, fmt, mapping, progress=progress, max_open=max_open, reorder=reorder
    )
    key = [fmt, list(mapping or []), holdout, max_open, reorder]
    folder = cache_folder(paths, key, cache_root)
    return encode_to_disk(sessions, folder, holdout, progress)


def encode_to_disk(
    sessions: Iterable[Sequence[StoredEvent]],
    folder: Path,
    holdout: float,
    progress: bool = True,
) -> DiskEncoding:
    """Encode ``sessions`` (streamed once) into ``folder``, or reuse it if complete."""
    if not (folder / "meta.json").is_file():
        # Written beside and renamed into place: an interrupted run leaves no half cache,
        # and concurrent ranks under torchrun keep whichever finished first.
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write(sessions, tmp, holdout, progress)
        try:
            tmp.rename(folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return load(folder)


def load(folder: Path) -> DiskEncoding:
    meta = json.loads((folder / "meta.json").read_text())
    n_events, width = meta["n_events"], len(FEATURES)
    offsets = np.load(folder / "offsets.npy")
    events = _memmap(folder / "events.bin", (n_events, width))
    intents = _memmap(folder / "intents.bin", (n_events,))
    next_items = _memmap(folder / "next_items.bin", (n_events,))
    order = np.load(folder / "order.npy")
    cut = meta["n_train"]

    def view(sessions: np.ndarray, side: str) -> DiskSessions:
        n_pairs = int(np.diff(offsets)[sessions].sum())
        pairs = _memmap(folder / f"{side}_pairs.bin", (n_pairs, 2))
        return DiskSessions(
            Ragged(events, offsets, sessions, pairs),
            Ragged(intents, offsets, sessions),
            Ragged(next_items, offsets, sessions),
        )

    vocab = Vocabulary(meta["items"], meta["categories"])
    return DiskEncoding(vocab, view(order[:cut], "train"), view(order[cut:], "heldout"), folder)


def _memmap(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if not shape[0]:  # numpy cannot map an empty file
        return np.zeros(shape, dtype=np.int64)
    return np.memmap(path, dtype=np.int64, mode="r", shape=shape)


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


def _write(
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
    events = np.memmap(folder / "events.bin", dtype=np.int64, mode="r+")
    events = events.reshape(n_events, len(FEATURES))
    next_items = np.memmap(folder / "next_items.bin", dtype=np.int64, mode="r+")
    item_counts = np.zeros(FIRST_ID + len(seen.items), dtype=np.int64)
    category_counts = np.zeros(FIRST_ID + len(seen.categories), dtype=np.int64)
    with _bar(2 * n_events, "vocabulary", progress) as bar:
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
    events.flush()
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


def _bar(total: int, desc: str, progress: bool) -> tqdm[Any]:
    return tqdm(
        total=total,
        desc=desc,
        unit="row",
        unit_scale=True,
        disable=not progress,
        mininterval=0.1 if sys.stderr.isatty() else 5.0,
    )
