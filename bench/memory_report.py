"""``witryna bench-memory``: start each model's service, warm every worker with page views,
read their memory (bench/memory.py), and write the report, its JSON and a plot."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import cores as bench_cores
from bench import memory as bench_memory
from bench.load import PAGE_VIEWS, drive
from bench.machine import machine
from bench.stack import local_stack
from service.cli.progress import progress
from service.model.manifest import current_artefact, read_manifest

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MIB = bench_memory.MIB
BAR_ID = "memory {part} {model}"
TITLE = "memory of one worker (MiB)"


def one_model(model: Path, workers: int, warm_s: float, visitors: int, seed: int) -> dict[str, Any]:
    from bench.suite import bodies_file

    settings, env = bench_memory.settings_for(model)
    artefact = current_artefact(model.parent, model.name)
    items = read_manifest(artefact).items[:500]
    bodies = bodies_file(items, argparse.Namespace(visitors=visitors, seed=seed))
    # Every core: the memory does not depend on where the workers run.
    cores = frozenset(bench_cores.available())
    try:
        with local_stack(
            settings, cores=cores, env={**env, "WITRYNA_WORKERS": str(workers)}
        ) as stack:
            # Enough page views in flight for every worker to load and run its model.
            served = drive(stack.keys.on(stack.url), PAGE_VIEWS, bodies, 0.0, warm_s)
            processes = bench_memory.measure(stack.url, artefact)
    finally:
        os.unlink(bodies)
    return {**bench_memory.summary(model, workers, processes), "warm_page_views": served["sent"]}


def _mib(value: int) -> str:
    return f"{value / MIB:,.1f}"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | items | on disk MiB | process | RSS | USS | PSS | shared (RSS - USS) "
        "| file-backed | of it artefact files |",
        "|---" * 10 + "|",
    ]
    for result in results:
        named = [("parent", result["parent"])]
        named += [(f"worker {i + 1}", w) for i, w in enumerate(result["workers"])]
        for label, p in named:
            lines.append(
                f"| {result['model']} | {result['items']:,} | {_mib(result['artefact_bytes'])} "
                f"| {label} | {_mib(p['rss'])} | {_mib(p['uss'])} | {_mib(p['pss'])} "
                f"| {_mib(p['shared'])} | {_mib(p['file_backed'])} | {_mib(p['artefact_rss'])} |"
            )
    return lines


def totals(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for result in results:
        workers = result["workers"]
        uss = sum(w["uss"] for w in workers) / max(len(workers), 1)
        lines.append(
            f"- {result['model']} ({result['items']:,} items), {len(workers)} workers: "
            f"**{_mib(result['total_pss'])} MiB** in all (PSS of every process; RSS would "
            f"count {_mib(result['total_rss'])}); one more worker costs about its USS, "
            f"{_mib(int(uss))} MiB."
        )
    return lines


def report(found: dict[str, Any]) -> str:
    results = found["results"]
    lines = [
        "# Witryna memory per worker",
        "",
        f"Machine: {found['machine']['cpu']}, {found['machine']['cores']} cores; "
        f"`witryna serve` with WITRYNA_WORKERS={found['workers']}, each worker warmed with "
        f"page views for {found['warm_s']:g} s; {found['when']}. MiB.",
        "",
        *table(results),
        "",
        *totals(results),
        "",
        "USS: pages the process alone holds. PSS: each shared page divided among its sharers,",
        "so PSS adds up across processes. File-backed: RSS less anonymous memory "
        "(`/proc/PID/smaps_rollup`); artefact files: pages of files in the artefact folder "
        "mapped by the process (a memory-mapped index shows here).",
    ]
    return "\n".join([*lines, ""])


def _panel(axes: Axes, results: list[dict[str, Any]]) -> None:
    base = [0.0] * len(results)
    for part, colour in (("uss", "#d9480f"), ("shared", "#1c7ed6")):
        heights = [_mean(r["workers"], part) / MIB for r in results]
        bars = axes.bar(range(len(results)), heights, bottom=base, width=0.6, color=colour,
                        label={"uss": "USS (its own)", "shared": "shared"}[part])  # fmt: skip
        for rectangle, result in zip(bars, results, strict=True):
            rectangle.set_gid(BAR_ID.format(part=part, model=result["model"]))
        base = [b + h for b, h in zip(base, heights, strict=True)]
    axes.set_xticks(range(len(results)))
    axes.set_xticklabels([f"{r['items']:,} items" for r in results])
    axes.set_ylabel("MiB")
    axes.set_title(TITLE)
    axes.legend(fontsize=8)


def _mean(workers: list[dict[str, Any]], part: str) -> float:
    return float(sum(w[part] for w in workers)) / max(len(workers), 1)


def run(args: argparse.Namespace) -> int:
    models = bench_memory.model_folders(args.dirs)
    measured = [
        one_model(model, args.workers, args.warm_seconds, args.visitors, args.seed)
        for model in progress(models, desc="models", total=len(models), unit="model")
    ]
    results = sorted(measured, key=lambda result: int(result["items"]))
    when = datetime.now(UTC)
    found = {"when": when.isoformat(timespec="seconds"), "machine": machine(),
             "workers": args.workers, "warm_s": args.warm_seconds, "results": results}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"memory-{when.strftime('%Y%m%dT%H%M%SZ')}"
    stem.with_suffix(".json").write_text(json.dumps(found, indent=2) + "\n")
    text = report(found)
    print(text)
    from bench.plot import _save

    title = f"witryna bench-memory, {found['machine']['cpu']}, {found['when']}"
    svg, _ = _save(stem, 1, [1], title, lambda axes: _panel(axes[0], results))
    stem.with_suffix(".md").write_text(text + f"\n![Memory of one worker]({svg.name})\n")
    return 0
