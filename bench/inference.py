"""Micro-batched against unbatched inference, in process, at several catalogue sizes."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine
from service.model import encoding
from service.model.batcher import MicroBatcher
from service.model.manifest import latest_artefact
from service.model.runtime import CPU, ModelRuntime

CONCURRENCY = 64
NEVER = 2**62  # retrieval_min_items that keeps the full graph


def _sequences(runtime: ModelRuntime, count: int, seed: int) -> list[encoding.Encoded]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        length = int(rng.integers(5, runtime.max_len + 1))
        seq = np.ones((length, len(encoding.FEATURES)), dtype=np.int64)
        seq[:, 0] = rng.integers(encoding.FIRST_ID, runtime.vocab.item_vocab_size, length)
        seq[:, 1] = rng.integers(1, len(encoding.EVENT_TYPES) + 1, length)
        rows.append(seq)
    return rows


async def _throughput(
    batcher: MicroBatcher, sequences: list[encoding.Encoded], seconds: float
) -> float:
    done = 0
    end = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < end:
            await batcher.predict(sequences[i % len(sequences)])
            done += 1
            i += CONCURRENCY

    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(CONCURRENCY)))
    return done / (time.perf_counter() - start)


def scorings(artefact: Path, threads: int, device: str) -> list[tuple[str, ModelRuntime]]:
    """The artefact as the service runs it: its full graph and, when it ships an item
    index, candidates from the index too."""
    full = ModelRuntime(artefact, threads, device, retrieval_min_items=NEVER)
    if full.manifest.retrieval is None:
        return [("full graph", full)]
    split = ModelRuntime(artefact, threads, device, retrieval_min_items=0)
    return [("full graph", full), ("item index", split)]


def compare(
    models_dir: Path, seconds: float, threads: int, device: str = "cpu"
) -> list[dict[str, Any]]:
    """Rows per second with batches of up to 32 against batches of one, per artefact and
    way of scoring its items, on ``device`` as the service would use it (``WITRYNA_DEVICE``)."""
    results = []
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        for scoring, runtime in scorings(latest_artefact(models_dir, root.name), threads, device):
            sequences = _sequences(runtime, 512, seed=1)
            rates = {}
            for label, max_batch in (("unbatched", 1), ("batched", 32)):
                batcher = MicroBatcher(runtime, max_batch=max_batch, max_wait_us=0)
                rates[label] = asyncio.run(_throughput(batcher, sequences, seconds))
                batcher.close()
            spec = runtime.manifest.retrieval if runtime.retrieval else None
            results.append({
                "model": root.name,
                "items": len(runtime.vocab.items),
                "history": runtime.max_len,
                "provider": runtime.provider,
                "scoring": scoring,
                "recall_at_20": None if spec is None else spec.recall_at_20,
                "unbatched_per_s": rates["unbatched"],
                "batched_per_s": rates["batched"],
                "ratio": rates["batched"] / rates["unbatched"],
            })  # fmt: skip
    return results


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | catalogue items | history | provider | items scored by | unbatched rows/s "
        "| micro-batched rows/s (≤32) | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        recall = r.get("recall_at_20")
        scoring = r.get("scoring", "full graph") + (
            "" if recall is None else f" (recall {recall:.3f})"
        )
        lines.append(
            f"| {r.get('model', '')} | {r['items']:,} | {r.get('history', 50)} "
            f"| {r.get('provider', CPU)} | {scoring} "
            f"| {r['unbatched_per_s']:.0f} "
            f"| {r['batched_per_s']:.0f} | {r['ratio']:.2f}x |"
        )
    return lines


def run(models_dir: Path, seconds: float, threads: int, device: str, out: Path) -> str:
    """Compare on this machine and write ``inference-<time>.json`` and ``.md`` to ``out``."""
    results = compare(models_dir, seconds, threads, device)
    found = machine()
    gpus = ", ".join(found["gpus"]) or "none"
    text = "\n".join([
        "# Witryna inference benchmark", "",
        f"Machine: {found['cpu']}, {found['cores']} cores; GPUs: {gpus}; {found['system']}; "
        f"WITRYNA_DEVICE={device}; {datetime.now(UTC).isoformat(timespec='seconds')}", "",
        *table(results), "",
    ])  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {"machine": found, "device": device, "inference": results}
    (out / f"inference-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"inference-{stamp}.md").write_text(text)
    return text
