"""``witryna bench --workers N``: page views at saturation with N workers against one, on
the same host in one run.

Every worker count gets a stack of its own (bench/stack.py), all started before the first
slice and measured in turns, round after round, so that the host's drift falls on each
alike. The load generator runs as one process per core of its own (bench/cores.py), the
same cores for every count; CPU of the server, Redis and the generator, and the GPU's
utilisation, are read over each slice, to say which of them was the limit.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

from bench import cores as bench_cores
from bench import gpu as bench_gpu
from bench.load import PAGE_VIEWS, percentiles
from bench.stack import LocalStack, local_stack
from service.cli.progress import progress
from service.settings import Settings

# A part busy this share of its cores or more is named as what limits the throughput.
BUSY = 0.9


def _command(url: str, bodies: Path, seconds: float, core: int, connections: int) -> list[str]:
    return [
        sys.executable, "-m", "bench.loadgen", url, PAGE_VIEWS, str(bodies), "--rate", "0",
        "--seconds", str(seconds), "--cpu", str(core), "--connections", str(connections),
    ]  # fmt: skip


def _generators(stack: LocalStack, bodies: Path, seconds: float,
                layout: bench_cores.Layout) -> list[subprocess.Popen[str]]:  # fmt: skip
    """One closed-loop `bench.loadgen` a load core, all started together."""
    url = stack.keys.on(stack.url)
    pairs = zip(layout.load, layout.connections(), strict=True)
    return [
        subprocess.Popen(_command(url, bodies, seconds, core, connections),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for core, connections in pairs
    ]  # fmt: skip


def _collect(generators: list[subprocess.Popen[str]], seconds: float) -> list[dict[str, Any]]:
    raws = []
    for generator in generators:
        out, err = generator.communicate(timeout=seconds + 120)
        if generator.returncode != 0:
            raise RuntimeError(f"load generator failed: {err[-2000:]}")
        raws.append(json.loads(out))
    return raws


def _cpu_s(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def _server(stack: LocalStack) -> list[psutil.Process]:
    """The `witryna serve` process and its workers, found by the stack's port."""
    parent = psutil.Process(_server_pid(stack.url))
    return [parent, *parent.children()]


def _server_pid(url: str) -> int:
    from bench.profile import server_pid

    found = server_pid(int(url.rsplit(":", 1)[1]))
    if found is None:
        raise RuntimeError(f"no `witryna serve` for {url} on this host")
    return found


def measure_slice(stack: LocalStack, layout: bench_cores.Layout, bodies: Path,
                  seconds: float) -> dict[str, Any]:  # fmt: skip
    """One saturation slice: the generators' figures, and what each part spent on it."""
    server, redis = _server(stack), [psutil.Process(stack.redis_pid)]
    before = _cpu_s(server), _cpu_s(redis)
    with bench_gpu.Sampler() as gpu:
        raws = _collect(_generators(stack, bodies, seconds, layout), seconds)
    # The generators' own span, without their start-up, when the server idles.
    wall = max(raw["seconds"] for raw in raws)
    server_s, redis_s = _cpu_s(server) - before[0], _cpu_s(redis) - before[1]
    return {
        "throughput": sum(len(raw["latencies_ms"]) / raw["seconds"] for raw in raws),
        "latencies_ms": [ms for raw in raws for ms in raw["latencies_ms"]],
        "errors": sum(raw["errors"] for raw in raws),
        "busy": {
            "server": server_s / (wall * len(layout.server)),
            "Redis": redis_s / wall,
            "load generator": sum(raw["process_cpu_s"] for raw in raws) / (wall * len(layout.load)),
        },
        "gpu": gpu.reading,
    }


def summarise(layout: bench_cores.Layout, slices: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [ms for s in slices for ms in s["latencies_ms"]]
    busy = {part: statistics.fmean(s["busy"][part] for s in slices) for part in slices[0]["busy"]}
    readings = [s["gpu"] for s in slices if s["gpu"] is not None]
    gpu = None
    if readings:
        gpu = {key: statistics.fmean(r[key] for r in readings) for key in readings[0]}
        gpu["max_pct"] = max(r["max_pct"] for r in readings)
    return {
        "workers": layout.workers,
        "layout": bench_cores.describe(layout),
        "server_cores": list(layout.server),
        "load_cores": list(layout.load),
        "own_cores": layout.own_cores,
        "slices": [s["throughput"] for s in slices],
        "throughput": statistics.fmean(s["throughput"] for s in slices),
        "errors": sum(s["errors"] for s in slices),
        **percentiles(latencies),
        "busy": busy,
        "gpu": gpu,
        "limit": limit(busy, gpu),
    }


def limit(busy: dict[str, float], gpu: dict[str, float] | None) -> str:
    """The busiest part, when it was busy enough to be what held the throughput."""
    shares = {**busy, **({"GPU": gpu["mean_pct"] / 100} if gpu else {})}
    part, share = max(shares.items(), key=lambda kv: kv[1])
    return part if share >= BUSY else "none at 90%"


def compare(settings: Settings, bodies: Path, counts: list[int], seconds: float,
            rounds: int) -> dict[str, Any]:  # fmt: skip
    """Saturation throughput of each worker count and its ratio to one worker's."""
    layouts = bench_cores.plan(bench_cores.available(), sorted({1, *counts}))
    slices: dict[int, list[dict[str, Any]]] = {layout.workers: [] for layout in layouts}
    with ExitStack() as started:
        stacks = [
            started.enter_context(
                local_stack(
                    settings,
                    cores=frozenset(layout.server),
                    env={"WITRYNA_WORKERS": str(layout.workers)},
                )
            )
            for layout in layouts
        ]
        pairs = list(zip(layouts, stacks, strict=True))
        # ABBA: the order turns each round, so no count always goes first after a rest.
        order = [pairs if i % 2 == 0 else pairs[::-1] for i in range(rounds)]
        for turn in progress(order, desc="worker rounds", total=rounds, unit="round"):
            for layout, stack in turn:
                slices[layout.workers].append(measure_slice(stack, layout, bodies, seconds))
    runs = [summarise(layout, slices[layout.workers]) for layout in layouts]
    one = runs[0]
    for run in runs:
        run["ratio"] = run["throughput"] / one["throughput"]
        run["round_ratios"] = [a / b for a, b in zip(run["slices"], one["slices"], strict=True)]
    return {
        "host_cores": len(bench_cores.available()),
        "seconds": seconds,
        "rounds": rounds,
        "device": settings.device,
        "runs": runs,
    }
