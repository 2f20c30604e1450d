"""`witryna bench-retrieval`: what reading more of the item index buys and costs.

For an artefact that ships an index, each breadth (lists read) gets its micro-batched rows per
second and the share of the exact top 20 it finds, on the same random histories, beside the
full graph scoring every item; the breadth the manifest names (tuned at export) is marked.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import inference as bench_inference
from bench.machine import machine
from bench.plot import _save
from service.model import encoding, item_index
from service.model.batcher import MicroBatcher
from service.model.manifest import latest_artefact
from service.model.runtime import ModelRuntime

PROBES = 512


def _rate(runtime: ModelRuntime, sequences: list[encoding.Encoded], seconds: float) -> float:
    batcher = MicroBatcher(runtime, max_batch=32, max_wait_us=0)
    try:
        return asyncio.run(bench_inference._throughput(batcher, sequences, seconds))
    finally:
        batcher.close()


def _recall(runtime: ModelRuntime, batch: encoding.Encoded, exact: np.ndarray) -> float:
    """Share of the ``exact`` top items (every item scored) the index's candidates give."""
    found = runtime.retrieve(batch).top_items
    return float(
        np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact, strict=True)])
    )


def sweep(
    artefact: Path, breadths: list[int] | None, seconds: float, threads: int
) -> dict[str, Any]:
    split = ModelRuntime(artefact, threads, "cpu", retrieval_min_items=0)
    spec = split.manifest.retrieval
    if spec is None or split.scorer is None:
        raise SystemExit(f"{artefact} ships no item index: export it with --retrieval")
    sequences = bench_inference._sequences(split, PROBES, seed=1)
    full = ModelRuntime(artefact, threads, "cpu", retrieval_min_items=bench_inference.NEVER)
    batch = encoding.pad_left(sequences, split.max_len)
    # Scoring every item does not depend on the breadth: once.
    exact = split.retrieve(batch, exact=True).top_items
    runs = []
    for breadth in breadths or item_index.breadths(split.scorer.index.lists):
        split.scorer.index.breadth = breadth
        runs.append({
            "breadth": breadth,
            "recall_at_20": _recall(split, batch, exact),
            "batched_per_s": _rate(split, sequences, seconds),
        })  # fmt: skip
    return {
        "model": split.version,
        "items": len(split.manifest.items),
        "lists": split.scorer.index.lists,
        "tuned_breadth": spec.breadth,
        "tuned_recall_at_20": spec.recall_at_20,
        "full_graph_per_s": _rate(full, sequences, seconds),
        "runs": runs,
    }


def table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| lists read | recall@20 against every item | micro-batched rows/s "
        "| against the full graph |",
        "|---|---|---|---|",
    ]
    for run in result["runs"]:
        mark = " (tuned at export)" if run["breadth"] == result["tuned_breadth"] else ""
        lines.append(
            f"| {run['breadth']}{mark} | {run['recall_at_20']:.3f} | {run['batched_per_s']:.0f} "
            f"| {run['batched_per_s'] / result['full_graph_per_s']:.2f}x |"
        )
    lines.append(f"| full graph, every item | 1.000 | {result['full_graph_per_s']:.0f} | 1.00x |")
    return lines


def plot(result: dict[str, Any], stem: Path) -> list[Path]:
    runs = result["runs"]

    def fill(axes: list[Any]) -> None:
        ax = axes[0]
        ax.plot([r["batched_per_s"] for r in runs], [r["recall_at_20"] for r in runs], "o-")
        for r in runs:
            ax.annotate(str(r["breadth"]), (r["batched_per_s"], r["recall_at_20"]), fontsize=8)
        ax.axhline(0.95, color="grey", linestyle="--", label="publishing bar (0.95)")
        ax.axvline(result["full_graph_per_s"], color="red", linestyle=":", label="full graph")
        ax.set_xlabel("micro-batched rows/s")
        ax.set_ylabel("recall@20 against scoring every item")
        ax.legend(loc="lower left", fontsize=8)

    title = f"{result['model']}: {result['items']:,} items, by lists read of {result['lists']:,}"
    return _save(stem, 1, [1], title, fill)


def run(models: Path, breadths: list[int] | None, seconds: float, threads: int, out: Path) -> str:
    artefact = (
        models
        if (models / "manifest.json").is_file()
        else latest_artefact(models.parent, models.name)
    )
    result = sweep(artefact, breadths, seconds, threads)
    found = machine()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = "\n".join([
        "# Witryna retrieval benchmark", "",
        f"Machine: {found['cpu']}, {found['cores']} cores; {found['system']}; "
        f"{result['model']}, {result['items']:,} items; {stamp}", "",
        f"{PROBES} random histories; the export tuned breadth {result['tuned_breadth']} of "
        f"{result['lists']:,} lists "
        f"(recall {result['tuned_recall_at_20']:.3f} on its probes).", "",
        *table(result), "",
    ])  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / f"retrieval-{stamp}.json").write_text(json.dumps({"machine": found, **result}, indent=2))
    (out / f"retrieval-{stamp}.md").write_text(text)
    plot(result, out / f"retrieval-{stamp}")
    return text
