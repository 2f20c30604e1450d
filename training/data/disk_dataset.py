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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service.model.encoding import (
    ENCODING_VERSION,
    FEATURES,
    Encoded,
    Vocabulary,
)
from service.schema import StoredEvent
from training.data.adapters import read_sessions
from training.data.adapters.sessions import MAX_OPEN, REORDER
from training.data.disk_writer import write_sessions

CACHE_FORMAT = 2  # 2: prefix pairs on disk
DEFAULT_CACHE_ROOT = Path("build/cache")


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

    def __getitem__(self, index: int) -> Encoded:
        s = self.order[index]
        return self.flat[self.offsets[s] : self.offsets[s + 1]]

    def __iter__(self) -> Iterator[Encoded]:
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
        write_sessions(sessions, tmp, holdout, progress)
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
