"""Throughput and latency at fixed request rates and at saturation, from another process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import cpu as bench_cpu
from service.cli.progress import progress

PAGE_VIEWS = "/v1/page-views"
FLOOR = "/v1/floor"
LOAD_CPU = 1
# Requests kept in flight at saturation. Both endpoints still gained up to 128 on the 2-core
# VM (page views 650 -> 850/s, floor 850 -> 1,140/s at 16): with fewer, the model's
# batches run part empty while other requests wait on Redis, and the server idles.
SATURATING_CONNECTIONS = 128


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies) or [float("nan")]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def _generate(
    url: str, path: str, bodies: Path, rate: float, seconds: float, connections: int = 0
) -> dict[str, Any]:
    """One load run by `bench.loadgen` in a child process pinned to its own core."""
    connections = connections or (64 if rate else SATURATING_CONNECTIONS)
    command = [
        sys.executable, "-m", "bench.loadgen", url, path, str(bodies),
        "--rate", str(rate), "--seconds", str(seconds), "--cpu", str(LOAD_CPU),
        "--connections", str(connections),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    raw: dict[str, Any] = json.loads(done.stdout)
    return raw


def summarise(path: str, rate: float, raws: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint's run from the load generator's slices of it; ``rate`` 0 is saturation."""
    latencies = [ms for raw in raws for ms in raw["latencies_ms"]]
    slices = [len(raw["latencies_ms"]) / raw["seconds"] for raw in raws]
    # A degraded answer (default content past a deadline) ran no model: not a page view's
    # work, so throughput comparisons count the personalised answers.
    personal = [(len(raw["latencies_ms"]) - raw["degraded"]) / raw["seconds"] for raw in raws]
    spends = [raw["cpu_s"] for raw in raws if "cpu_s" in raw]
    cpu = {"cpu_us": bench_cpu.per_request(spends, len(latencies))} if spends else {}
    return {
        **cpu,
        "slices": slices,
        "path": path,
        "rate": rate or "saturation",
        "throughput": len(latencies) / sum(raw["seconds"] for raw in raws),
        "personalised": (len(latencies) - sum(raw["degraded"] for raw in raws))
        / sum(raw["seconds"] for raw in raws),
        "personalised_slices": personal,
        "errors": sum(raw["errors"] for raw in raws),
        "degraded": sum(raw["degraded"] for raw in raws),
        "sent": sum(raw["sent"] for raw in raws),
        **percentiles(latencies),
    }


def metered(
    url: str,
    path: str,
    bodies: Path,
    rate: float,
    seconds: float,
    meter: bench_cpu.CpuMeter | None,
    connections: int = 0,
) -> dict[str, Any]:
    """One load run, with the CPU the server and Redis spent on it when there is a ``meter``;
    ``connections`` in flight (0: the default for ``rate``)."""
    before = meter.read() if meter else None
    raw = _generate(url, path, bodies, rate, seconds, connections)
    if meter and before:
        raw["cpu_s"] = bench_cpu.spent(before, meter.read())
    return raw


def drive(url: str, path: str, bodies: Path, rate: float, seconds: float) -> dict[str, Any]:
    return summarise(path, rate, [_generate(url, path, bodies, rate, seconds)])


def saturate(
    url: str, bodies: Path, seconds: float, rounds: int, meter: bench_cpu.CpuMeter | None = None
) -> list[dict[str, Any]]:
    """Page views and the floor at saturation, in alternating slices of ``seconds / rounds``.

    A shared machine's speed drifts from one minute to the next; taking the two endpoints
    in turns (ABBA...) lets the drift fall on both alike instead of on their ratio. With a
    ``meter``, each slice also records the CPU the server and Redis spent on it.
    """
    raws: dict[str, list[dict[str, Any]]] = {PAGE_VIEWS: [], FLOOR: []}
    order = [(PAGE_VIEWS, FLOOR) if i % 2 == 0 else (FLOOR, PAGE_VIEWS) for i in range(rounds)]
    for pair in progress(order, desc="saturation rounds", total=rounds, unit="round"):
        for path in pair:
            raws[path].append(metered(url, path, bodies, 0.0, seconds / rounds, meter))
    return [summarise(path, 0.0, runs) for path, runs in raws.items()]


def load_runs(
    url: str,
    bodies: Path,
    rates: list[float],
    seconds: float,
    rounds: int = 6,
    meter: bench_cpu.CpuMeter | None = None,
) -> list[dict[str, Any]]:
    plan = [(path, rate) for rate in rates for path in (PAGE_VIEWS, FLOOR)]
    runs = []
    for path, rate in progress(plan, desc="load runs", total=len(plan), unit="run"):
        runs.append(drive(url, path, bodies, rate, seconds))
    return [*runs, *saturate(url, bodies, seconds * 2, rounds, meter)]


def saturation_cpu(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """CPU per request of each endpoint at saturation, for those where it was measured."""
    return {r["path"]: r["cpu_us"] for r in runs if r["rate"] == "saturation" and "cpu_us" in r}


def cpu_table(runs: list[dict[str, Any]]) -> list[str]:
    """CPU per request at saturation, when it was measured."""
    by_path = saturation_cpu(runs)
    return bench_cpu.table(by_path, PAGE_VIEWS, FLOOR) if len(by_path) == 2 else []


def table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| endpoint | offered req/s | achieved req/s | p50 ms | p95 ms | p99 ms | errors "
        "| degraded |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['path']} | {run['rate']} | {run['throughput']:.0f} | {run['p50_ms']:.2f} "
            f"| {run['p95_ms']:.2f} | {run['p99_ms']:.2f} | {run['errors']} | {run['degraded']} |"
        )
    return lines


def saturation_ratio(runs: list[dict[str, Any]]) -> float:
    saturated = {r["path"]: r["personalised"] for r in runs if r["rate"] == "saturation"}
    return float(saturated[PAGE_VIEWS] / saturated[FLOOR])


def slice_ratios(runs: list[dict[str, Any]]) -> list[float]:
    """Page views / floor for each round of adjacent slices: the spread says how far the
    machine's drift moves the ratio."""
    slices = {r["path"]: r["personalised_slices"] for r in runs if r["rate"] == "saturation"}
    return [pv / floor for pv, floor in zip(slices[PAGE_VIEWS], slices[FLOOR], strict=True)]
