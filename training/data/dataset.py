"""Sessions to training arrays, through the same encoder that serving calls.

Each session is encoded once; a training example is a pair ``(session, k)`` whose input is
``pad_left([encoded[:k]])``, exactly what the service builds from the first ``k`` events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from service.model.encoding import Encoded, Vocabulary, encode_events, pad_left
from service.schema import StoredEvent
from training.data.events_jsonl import group_sessions, read_events_jsonl, read_sessions_jsonl
from training.data.labels import session_labels
from training.data.treatment import LoggedTreatment, treatments_for

__all__ = [
    "EncodedSessions",
    "Pairs",
    "PrefixDataset",
    "Sessions",
    "TrainingData",
    "block_shuffled_batches",
    "encode_sessions",
    "epoch_batches",
    "fingerprint",
    "group_sessions",
    "length_bucketed_batches",
    "prefix_batch",
    "prefix_pairs",
    "prefix_targets",
    "read_events_jsonl",
    "read_sessions_jsonl",
]

Pairs = npt.NDArray[np.int64]  # [n, 2]: session index, prefix length k (1-based)


class Sessions(Protocol):
    """Per-session arrays by index: a list in memory, or ``Ragged`` rows of a memory-mapped
    file (data/disk_dataset.py)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Encoded: ...

    def __iter__(self) -> Iterator[Encoded]: ...


class TrainingData(Protocol):
    """What training reads: ``EncodedSessions`` in memory (simulated sessions) or
    ``DiskSessions`` memory-mapped (files)."""

    @property
    def encoded(self) -> Sessions: ...

    @property
    def intents(self) -> Sessions: ...

    @property
    def next_items(self) -> Sessions: ...

    @property
    def treatments(self) -> Sequence[LoggedTreatment | None]: ...


@dataclass
class EncodedSessions:
    """Per session: encoded events and, per prefix end, intent and next-item targets; and
    the logged incentive treatment where there is one (``[]`` or ``None``: no uplift loss)."""

    encoded: list[Encoded]
    intents: list[npt.NDArray[np.int64]]
    next_items: list[npt.NDArray[np.int64]]
    treatments: list[LoggedTreatment | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.encoded)


def encode_sessions(
    sessions: Sequence[Sequence[StoredEvent]],
    vocab: Vocabulary,
    treatments: Mapping[str, LoggedTreatment] | None = None,
) -> EncodedSessions:
    data = EncodedSessions([], [], [], treatments_for(sessions, treatments))
    for events in sessions:
        intents, next_items = session_labels(events, vocab)
        data.encoded.append(encode_events(events, vocab))
        data.intents.append(intents)
        data.next_items.append(next_items)
    return data


def prefix_pairs(sessions_encoded: Sessions) -> Pairs:
    """Every ``(session, k)`` with ``1 <= k <= len(session)``, session by session."""
    # Vectorised (a list of tuples costs ~100 bytes a prefix); disk-backed sessions
    # (training/data/disk_dataset.py) keep theirs in a memory-mapped file, 16 bytes a prefix
    # that would otherwise all sit in memory.
    stored: Pairs | None = getattr(sessions_encoded, "pairs", None)
    if stored is not None:
        return stored
    lengths = getattr(sessions_encoded, "lengths", None)
    if lengths is None:
        lengths = np.array([len(seq) for seq in sessions_encoded], dtype=np.int64)
    sessions = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    k = np.arange(len(sessions), dtype=np.int64) - starts + 1
    return np.stack([sessions, k], axis=1).astype(np.int64, copy=False)


def prefix_batch(sessions_encoded: Sessions, index_pairs: Pairs, max_len: int) -> Encoded:
    """``[batch, length, features]`` of the prefixes named by ``index_pairs``, left-padded."""
    return pad_left([sessions_encoded[s][:k] for s, k in index_pairs], max_len)


def prefix_targets(data: TrainingData, index_pairs: Pairs) -> tuple[Encoded, Encoded]:
    """``(intent, next_item)`` targets of the prefixes, as int64 vectors."""
    intents = np.array([data.intents[s][k - 1] for s, k in index_pairs], dtype=np.int64)
    items = np.array([data.next_items[s][k - 1] for s, k in index_pairs], dtype=np.int64)
    return intents, items


def fingerprint(sessions_encoded: Sessions) -> str:
    """sha256 over the encoded events, shape by shape, so that a re-run can be told apart."""
    digest = hashlib.sha256()
    for seq in sessions_encoded:
        digest.update(np.asarray(seq.shape, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(seq, dtype=np.int64).tobytes())
    return digest.hexdigest()


def length_bucketed_batches(
    pairs: Pairs, batch_size: int, rng: np.random.Generator, pool: int = 32
) -> Iterator[Pairs]:
    """Shuffled batches of prefixes of similar length, so that little compute goes to padding."""
    order = rng.permutation(len(pairs))
    batches: list[Pairs] = []
    for start in range(0, len(order), batch_size * pool):
        chunk = pairs[order[start : start + batch_size * pool]]
        chunk = chunk[np.argsort(chunk[:, 1], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    for index in rng.permutation(len(batches)):
        yield batches[index]


def block_shuffled_batches(
    pairs: Pairs, batch_size: int, rng: np.random.Generator, pool: int = 32, mix: int = 8
) -> Iterator[Pairs]:
    """``length_bucketed_batches`` for pairs too many for memory (a memory-mapped file):
    blocks of ``batch_size * pool`` pairs are visited in random order, ``mix`` at a time
    read, shuffled together, bucketed by length and yielded in random order. Memory is
    ``mix`` blocks, not the epoch. Pairs lie session by session in start-time order, so
    ``mix`` blocks from across the file make a batch less all-one-period than one block.
    The batch count is ``ceil(len(pairs) / batch_size)``, like the in-memory one's, and
    depends only on ``len(pairs)`` and ``rng``: every torchrun rank gets the same count."""
    block = batch_size * pool
    blocks = rng.permutation(-(-len(pairs) // block))
    for first in range(0, len(blocks), mix):
        chunk = np.concatenate(
            [np.asarray(pairs[b * block : (b + 1) * block]) for b in blocks[first : first + mix]]
        )
        chunk = chunk[rng.permutation(len(chunk))]
        chunk = chunk[np.argsort(chunk[:, 1], kind="stable")]
        batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        for index in rng.permutation(len(batches)):
            yield batches[index]


def epoch_batches(pairs: Pairs, batch_size: int, rng: np.random.Generator) -> Iterator[Pairs]:
    """One epoch's batches: in blocks when the pairs are on disk (``DiskSessions``), else
    the global shuffle, which the in-memory path keeps so that its results do not move."""
    if isinstance(pairs, np.memmap):
        return block_shuffled_batches(pairs, batch_size, rng)
    return length_bucketed_batches(pairs, batch_size, rng)


class PrefixDataset(Dataset[tuple[int, int]]):
    """Items are ``(session, k)`` pairs; ``collate`` turns a list of them into tensors.

    Use as ``DataLoader(ds, batch_size=..., shuffle=True, collate_fn=ds.collate)``.
    """

    def __init__(self, data: EncodedSessions, max_len: int, pairs: Pairs | None = None) -> None:
        self.data = data
        self.max_len = max_len
        self.pairs = prefix_pairs(data.encoded) if pairs is None else pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[int, int]:
        s, k = self.pairs[index]
        return int(s), int(k)

    def collate(
        self, batch: Sequence[tuple[int, int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(events [B, L, F], intent [B], next_item [B])``."""
        pairs = np.asarray(batch, dtype=np.int64).reshape(-1, 2)
        events = prefix_batch(self.data.encoded, pairs, self.max_len)
        intents, items = prefix_targets(self.data, pairs)
        return torch.from_numpy(events), torch.from_numpy(intents), torch.from_numpy(items)
