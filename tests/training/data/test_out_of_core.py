"""Training from a file without holding it in memory (training/data/disk_dataset.py).

The disk-backed sessions must give exactly the batches and targets the in-memory ones
give, and training through them must use far less memory than listing the sessions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

from service.model.encoding import Vocabulary
from training.data.adapters import read_sessions
from training.data.dataset import (
    EncodedSessions,
    encode_sessions,
    fingerprint,
    length_bucketed_batches,
    prefix_batch,
    prefix_pairs,
    prefix_targets,
)
from training.data.disk_dataset import DiskSessions, encode_file
from training.data.simulator import simulate
from training.model.train import split_by_time

REES46 = Path("/work/shared/data/rees46/2019-Oct-head.csv")
HOLDOUT = 0.2
MAX_LEN = 50
WEEK_S = 7 * 24 * 3600


def write_simulated(path: Path, sessions: int, copies: int, seed: int = 3) -> Path:
    """Simulated events as Witryna JSONL; each copy a week later under new visitor ids, so
    that a large file costs one small simulation."""
    events = [event for s in simulate(sessions, seed) for event in s.events]
    with path.open("wb") as handle:
        for copy in range(copies):
            for event in events:
                moved = msgspec.structs.replace(
                    event, visitor_id=f"{event.visitor_id}-{copy}", ts=event.ts + copy * WEEK_S
                )
                handle.write(msgspec.json.encode(moved) + b"\n")
    return path


def in_memory(path: Path, fmt: str) -> tuple[Vocabulary, EncodedSessions, EncodedSessions]:
    """What ``train`` builds from the listed sessions."""
    sessions = list(read_sessions(path, fmt, progress=False))
    train_sessions, heldout_sessions = split_by_time(sessions, HOLDOUT)
    vocab = Vocabulary.build(event for events in train_sessions for event in events)
    return vocab, encode_sessions(train_sessions, vocab), encode_sessions(heldout_sessions, vocab)


def assert_same_batches(memory: EncodedSessions, disk: DiskSessions) -> None:
    pairs = prefix_pairs(memory.encoded)
    np.testing.assert_array_equal(prefix_pairs(disk.encoded), pairs)
    assert len(pairs) > 0
    for batch in length_bucketed_batches(pairs, 256, np.random.default_rng(0)):
        np.testing.assert_array_equal(
            prefix_batch(disk.encoded, batch, MAX_LEN), prefix_batch(memory.encoded, batch, MAX_LEN)
        )
        for got, want in zip(
            prefix_targets(disk, batch), prefix_targets(memory, batch), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    assert fingerprint(disk.encoded) == fingerprint(memory.encoded)


@pytest.mark.parametrize("source", ["rees46", "witryna"])
def test_disk_sessions_give_the_in_memory_batches(source: str, tmp_path: Path) -> None:
    if source == "rees46":
        if not REES46.is_file():
            pytest.skip(f"{REES46} is not here")
        path = REES46
    else:
        path = write_simulated(tmp_path / "events.jsonl", sessions=300, copies=2)
    vocab, train, heldout = in_memory(path, source)
    encoded = encode_file(path, source, HOLDOUT, cache_root=tmp_path / "cache", progress=False)
    # The vocabulary comes from the training sessions alone, in Vocabulary.build's order.
    assert encoded.vocab.items == vocab.items
    assert encoded.vocab.categories == vocab.categories
    assert (len(encoded.train), len(encoded.heldout)) == (len(train), len(heldout))
    assert_same_batches(train, encoded.train)
    assert_same_batches(heldout, encoded.heldout)


def test_an_unchanged_file_is_encoded_once_and_a_changed_one_again(tmp_path: Path) -> None:
    path = write_simulated(tmp_path / "events.jsonl", sessions=50, copies=1)
    first = encode_file(path, "witryna", HOLDOUT, cache_root=tmp_path / "cache", progress=False)
    written = (first.folder / "meta.json").stat().st_mtime_ns
    again = encode_file(path, "witryna", HOLDOUT, cache_root=tmp_path / "cache", progress=False)
    assert again.folder == first.folder
    assert (again.folder / "meta.json").stat().st_mtime_ns == written
    write_simulated(path, sessions=60, copies=1)
    changed = encode_file(path, "witryna", HOLDOUT, cache_root=tmp_path / "cache", progress=False)
    assert changed.folder != first.folder
    assert len(changed.train) + len(changed.heldout) == 60


# Trains one small epoch and reports its own peak RSS (ru_maxrss: KiB on Linux).
_CHILD = """
import json, sys, threading, time
from pathlib import Path
from training.data.adapters import read_sessions
from training.model.train import TrainConfig, train, train_from_file

path, mode, cache = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
config = TrainConfig(
    epochs=1, batch_size=1024, d_model=16, n_layers=1, progress=False
)
# Sessioniser buffers far smaller than the file (the defaults hold 220k sessions): what
# bounds the streaming path's memory; the file groups events by session, so either way
# the sessions are the same.
read = {"max_open": 2000, "reorder": 500}
# Peak anonymous memory, sampled: peak RSS would also count the pages of the memory-mapped
# arrays, which are the file's own cache and which the kernel drops when it needs them.
peak = 0
def watch():
    global peak
    while True:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
if mode == "disk":
    result = train_from_file(path, "witryna", config, cache_root=cache, **read)
else:
    sessions = read_sessions(path, "witryna", progress=False, **read)
    result = train(list(sessions), config)
time.sleep(0.05)
print(json.dumps({"rss": peak, "seconds": result.seconds,
                  "fingerprint": result.checkpoint["data_fingerprint"],
                  "metrics": result.checkpoint["metrics"]}))
"""


def _train_child(path: Path, mode: str, cache: Path) -> dict[str, object]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode, str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_training_from_a_file_needs_far_less_memory_than_listing_it(tmp_path: Path) -> None:
    path = write_simulated(tmp_path / "big.jsonl", sessions=2000, copies=4)
    size = path.stat().st_size
    assert size > 10e6
    disk = _train_child(path, "disk", tmp_path / "cache")
    memory = _train_child(path, "memory", tmp_path / "cache")
    print(
        f"file {size / 1e6:.0f} MB; peak anonymous RSS disk {disk['rss'] / 1e6:.0f} MB "
        f"({disk['seconds']:.0f}s), in memory {memory['rss'] / 1e6:.0f} MB "
        f"({memory['seconds']:.0f}s)"
    )
    # Same sessions, split, vocabulary and encoding either way.
    assert disk["fingerprint"] == memory["fingerprint"]
    assert disk["metrics"]["heldout_prefixes"] == memory["metrics"]["heldout_prefixes"]
    # The listed sessions cost several times the file; the disk path must not grow by it.
    assert memory["rss"] - disk["rss"] > size
