"""Throughput and latency at fixed request rates and at saturation, from another process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

PAGE_VIEWS = "/v1/page-views"
FLOOR = "/v1/floor"
LOAD_CPU = 1


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies) or [float("nan")]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def drive(url: str, path: str, bodies: Path, rate: float, seconds: float) -> dict[str, Any]:
    """One load run by `service.loadgen` in a child process pinned to its own core."""
    command = [
        sys.executable, "-m", "service.loadgen", url, path, str(bodies),
        "--rate", str(rate), "--seconds", str(seconds), "--cpu", str(LOAD_CPU),
        "--connections", "64" if rate else "16",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    raw = json.loads(done.stdout)
    return {
        "path": path,
        "rate": rate or "saturation",
        "throughput": raw["throughput"],
        "errors": raw["errors"],
        "degraded": raw["degraded"],
        "sent": raw["sent"],
        **percentiles(raw["latencies_ms"]),
    }


def load_runs(url: str, bodies: Path, rates: list[float], seconds: float) -> list[dict[str, Any]]:
    plan = [(path, rate) for rate in [*rates, 0.0] for path in (PAGE_VIEWS, FLOOR)]
    runs = []
    for path, rate in tqdm(plan, desc="load runs", unit="run"):
        runs.append(drive(url, path, bodies, rate, seconds))
    return runs


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
    saturated = {r["path"]: r["throughput"] for r in runs if r["rate"] == "saturation"}
    return float(saturated[PAGE_VIEWS] / saturated[FLOOR])
