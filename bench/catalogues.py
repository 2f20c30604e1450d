"""``witryna bench --catalogues DIR``: page views at saturation for models of several
catalogue sizes (`witryna bench-models`), in one run.

Each model gets a stack of its own (bench/stack.py), its catalogue stocked, served as the
service would serve it (an artefact with an item index above ``WITRYNA_RETRIEVAL_MIN_ITEMS``
scores candidates; any other, every item). The stacks take turns, round after round, so that
the machine's drift falls on each alike; the ratio is each size's throughput to the smallest's.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import msgspec

from bench import load as bench_load
from bench.journeys import page_views
from bench.stack import local_stack
from service.cli.progress import progress
from service.model.manifest import Manifest, current_artefact, read_manifest
from service.settings import Settings

# The bar of the catalogue-scale goal: a page view at the largest size costs at most this
# many times one at the smallest.
BAR = 1.5
# A degraded answer runs no model, so the comparison must not measure the fallback. With
# 128 requests in flight they queue past the storefront's 50 ms Redis deadline (2026-12-02:
# 48,216 of 51,280 answers degraded at 20k items), and past what the worker's Redis pipe
# takes even with 10 s deadlines (1,541 of 7,760); 32 in flight keep one worker busy
# without a degraded answer, and the deadlines are patient besides.
CONNECTIONS = 32
PATIENT = {"WITRYNA_REDIS_DEADLINE_MS": "10000", "WITRYNA_REDIS_TIMEOUT_MS": "10000"}


def _bodies(manifest: Manifest, visitors: int, seed: int) -> Path:
    """Page views over this model's own items, one JSON body a line; the caller removes it."""
    rng = random.Random(seed)
    items = rng.sample(manifest.items, min(len(manifest.items), 5000))
    views = page_views(items, visitors, seed)
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as out:
        out.writelines(msgspec.json.encode(next(views)) + b"\n" for _ in range(5000))
    return Path(out.name)


def _scoring(manifest: Manifest, settings: Settings) -> str:
    spec = manifest.retrieval
    if spec is None or len(manifest.items) < settings.retrieval_min_items:
        return "every item (full graph)"
    return f"item index ({spec.breadth} lists a search), recall@20 {spec.recall_at_20:.3f}"


def compare(settings: Settings, models_dir: Path, seconds: float, rounds: int,
            visitors: int, seed: int) -> dict[str, Any]:  # fmt: skip
    """Saturation throughput of page views per catalogue size, and its ratio to the smallest."""
    models = []
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        manifest = read_manifest(current_artefact(models_dir, root.name))
        models.append((root.name, manifest))
    models.sort(key=lambda pair: len(pair[1].items))
    slices: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in models}
    bodies = {name: _bodies(manifest, visitors, seed) for name, manifest in models}
    try:
        with ExitStack() as started:
            stacks = {}
            for name, _ in progress(
                models, desc="catalogue stacks", total=len(models), unit="stack"
            ):
                own = msgspec.structs.replace(settings, models_dir=str(models_dir), model_name=name)
                env = {
                    "WITRYNA_MODELS_DIR": str(models_dir),
                    "WITRYNA_MODEL_NAME": name,
                    **PATIENT,
                }
                stacks[name] = started.enter_context(local_stack(own, env=env))
            names = [name for name, _ in models]
            order = [names if i % 2 == 0 else names[::-1] for i in range(rounds)]
            for turn in progress(order, desc="catalogue rounds", total=rounds, unit="round"):
                for name in turn:
                    url = stacks[name].keys.on(stacks[name].url)
                    raw = bench_load.metered(
                        url, bench_load.PAGE_VIEWS, bodies[name], 0.0, seconds, None, CONNECTIONS
                    )
                    slices[name].append(raw)
    finally:
        for path in bodies.values():
            os.unlink(path)
    return _summary(models, slices, settings, seconds, rounds)


def _summary(models: list[tuple[str, Manifest]], slices: dict[str, list[dict[str, Any]]],
             settings: Settings, seconds: float, rounds: int) -> dict[str, Any]:  # fmt: skip
    runs = []
    for name, manifest in models:
        summary = bench_load.summarise(bench_load.PAGE_VIEWS, 0.0, slices[name])
        runs.append({
            "model": name,
            "items": len(manifest.items),
            "scoring": _scoring(manifest, settings),
            "throughput": summary["personalised"],
            "answered": summary["throughput"],
            "degraded": summary["degraded"],
            "p99_ms": summary["p99_ms"],
            "errors": summary["errors"],
            "slices": summary["personalised_slices"],
        })  # fmt: skip
    smallest = runs[0]
    for run in runs:
        run["ratio"] = run["throughput"] / smallest["throughput"]
        pairs = zip(run["slices"], smallest["slices"], strict=True)
        run["round_ratios"] = [a / b for a, b in pairs]
    return {"seconds": seconds, "rounds": rounds, "runs": runs}


def section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## Catalogue scale: page views at saturation by catalogue size",
        "",
        f"Each stack served one model; {result['rounds']} rounds of {result['seconds']:.1f} s "
        "each, the stacks in turns. Ratio: to the smallest catalogue's throughput, in the "
        f"same run; the goal is at least 1/{BAR} ({1 / BAR:.2f}). Page views/s counts the "
        "personalised answers only: a degraded one (default content past a deadline) ran no "
        f"model, so {CONNECTIONS} requests are in flight, not 128, and the stacks' Redis "
        "deadlines are 10 s.",
        "",
        "| model | items | items scored by | page views/s | answered/s | degraded | p99 ms "
        "| errors | ratio | per round |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        spread = run["round_ratios"]
        lines.append(
            f"| {run['model']} | {run['items']:,} | {run['scoring']} | {run['throughput']:.0f} "
            f"| {run['answered']:.0f} | {run['degraded']} | {run['p99_ms']:.1f} "
            f"| {run['errors']} | {run['ratio']:.2f} "
            f"| {min(spread):.2f} to {max(spread):.2f}, median {statistics.median(spread):.2f} |"
        )
    return lines
